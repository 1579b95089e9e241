"""`imagefill schema render|inspect` and `imagefill migrate`, through the installed console script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.harness import PRODUTOS_CATALOGUE, PRODUTOS_DDL, Templates
from worker.schema import render_migrations

IMAGEFILL = str(Path(sys.executable).parent / "imagefill")


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [IMAGEFILL, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "COLUMNS": "200", **env},
    )


def test_render_for_the_users_own_table(tmp_path: Path) -> None:
    result = run(
        "schema",
        "render",
        "--table",
        "produtos",
        "--id-column",
        "id",
        "--id-type",
        "bigint",
        "--name-column",
        "descricao",
        "--brand-column",
        "marca",
        "--ean-column",
        "codigo_barras",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    written = {p.name: p.read_text() for p in tmp_path.glob("*.sql")}
    assert written == {m.filename: m.sql for m in render_migrations(PRODUTOS_CATALOGUE.table)}
    assert "public.produtos" in written[sorted(written)[1]]


def test_render_rejects_an_unknown_key_type() -> None:
    result = run("schema", "render", "--id-type", "json")
    assert result.returncode == 2
    assert "tipo de chave não suportado" in result.stderr


def test_inspect_suggests_the_render_command(templates: Templates) -> None:
    db = templates.empty_database()
    db.cluster.psql(PRODUTOS_DDL, dbname=db.name, user="postgres")
    result = run("schema", "inspect", "--database-url", db.dsn)
    assert result.returncode == 0, result.stderr
    assert "public.produtos" in result.stdout
    assert "--table produtos --id-column id --id-type bigint --name-column descricao" in result.stdout
    assert "--brand-column marca --ean-column codigo_barras" in result.stdout


def test_migrate_applies_then_reports_nothing_to_do(templates: Templates) -> None:
    db = templates.empty_database()
    first = run("migrate", "--database-url", db.dsn)
    assert first.returncode == 0, first.stderr
    assert "aplicada 20261128000100_imagefill_types_and_gtin" in first.stdout
    second = run("migrate", "--database-url", db.dsn)
    assert "Nada a aplicar" in second.stdout


def test_migrate_without_database_url_names_the_setting() -> None:
    result = run("migrate", DATABASE_URL="mysql://nope")
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr


def test_inspect_suggests_the_apps_picture_column(templates: Templates) -> None:
    db = templates.empty_database()
    db.cluster.psql(
        "create table public.produtos (id bigint primary key, nome text, marca text,"
        " codigo_barras varchar(14), foto_legenda text, foto_url varchar(500), estoque integer)",
        dbname=db.name,
        user="postgres",
    )
    result = run("schema", "inspect", "--database-url", db.dsn)
    assert result.returncode == 0, result.stderr
    assert "--ean-column codigo_barras --image-url-column foto_url --one-file" in result.stdout
    assert "a foto do produto parece estar em foto_url" in result.stdout


def test_inspect_needs_no_picture_option_for_image_url(templates: Templates) -> None:
    db = templates.empty_database()
    db.cluster.psql(
        "create table public.items (id uuid primary key, name text, ean text, image_url text)",
        dbname=db.name,
        user="postgres",
    )
    result = run("schema", "inspect", "--database-url", db.dsn)
    assert result.returncode == 0, result.stderr
    assert "--ean-column ean --one-file" in result.stdout
    assert "--image-url-column" not in result.stdout
