"""Operator-grade CLI: every command fails with one line of Portuguese and a distinct exit code
(no traceback) for an unreachable database, a database without the migrations and a bad id;
`status` describes the oldest waiting job in words."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from tests.acceptance.test_cli_commands import imagefill
from tests.harness import PRODUTOS_CATALOGUE, MigratedDatabase, Templates, ean13
from worker.cli import age_in_words
from worker.offline.postgres import free_port

# Each command with the arguments it needs besides the database.
COMMANDS = {
    "status": ["status"],
    "enqueue": ["enqueue", "00000000-0000-0000-0000-000000000000"],
    "backfill": ["backfill", "--limit", "1"],
    "run": ["run", "--once"],
    "migrate": ["migrate"],
    "schema inspect": ["schema", "inspect"],
    "provenance": ["provenance"],
    "off-index": ["off-index", "export.jsonl", "--out", "off.index"],
}


def bare_env(tmp_path: Path) -> dict[str, str]:
    """No DATABASE_URL in the environment: the flag must be what is used, on every command."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    (tmp_path / "export.jsonl").write_text("")  # for `off-index`, which reads it after the database
    return {**env, "STORAGE_BACKEND": "local", "RATE_LIMIT_DIR": str(tmp_path / "rl")}


def assert_one_line(result_stderr: str) -> str:
    assert "Traceback" not in result_stderr, result_stderr
    lines = result_stderr.strip().splitlines()
    assert len(lines) == 1, result_stderr
    assert lines[0].startswith("erro: "), lines[0]
    return lines[0]


@pytest.mark.parametrize("command", COMMANDS, ids=list(COMMANDS))
async def test_unreachable_database_is_one_line_exit_3(tmp_path: Path, command: str) -> None:
    url = f"postgresql://postgres:segredo@127.0.0.1:{free_port()}/postgres"
    result = await imagefill(bare_env(tmp_path), tmp_path, *COMMANDS[command], "--database-url", url)
    assert result.returncode == 3, result.stdout + result.stderr
    line = assert_one_line(result.stderr)
    assert "não foi possível conectar ao banco 127.0.0.1" in line and "conexão recusada" in line, line
    assert "segredo" not in result.stderr  # the password never shows


@pytest.mark.parametrize("command", [c for c in COMMANDS if c not in ("migrate", "schema inspect")])
async def test_database_without_migrations_is_one_line_exit_4(
    templates: Templates, tmp_path: Path, command: str
) -> None:
    db = templates.empty_database()
    result = await imagefill(bare_env(tmp_path), tmp_path, *COMMANDS[command], "--database-url", db.dsn)
    assert result.returncode == 4, result.stdout + result.stderr
    line = assert_one_line(result.stderr)
    assert "não tem as migrations do Imagefill" in line and "imagefill migrate" in line, line


async def test_bad_ids_are_one_line_exit_2(
    templates: Templates, fresh_db: MigratedDatabase, tmp_path: Path
) -> None:
    env = bare_env(tmp_path)
    result = await imagefill(env, tmp_path, "enqueue", "abc", "--database-url", fresh_db.dsn)
    assert result.returncode == 2
    assert "ID inválido: 'abc' não é um uuid" in assert_one_line(result.stderr)

    produtos = templates.fresh_database(PRODUTOS_CATALOGUE)
    result = await imagefill(env, tmp_path, "enqueue", "12x", "--database-url", produtos.dsn)
    assert result.returncode == 2
    assert "ID inválido: '12x' não é um bigint" in assert_one_line(result.stderr)

    # A well-formed id of no product: the database's own message, still one line.
    result = await imagefill(env, tmp_path, "enqueue", "424242", "--database-url", produtos.dsn)
    assert result.returncode == 2
    assert "Produto 424242 não encontrado" in assert_one_line(result.stderr)


async def test_status_describes_the_oldest_waiting_job(
    fresh_db: MigratedDatabase, db_conn: asyncpg.Connection, tmp_path: Path
) -> None:
    await db_conn.execute(
        "insert into public.products (name, ean) values ('Guaraná 2L', $1), ('Novo', $2)",
        ean13(41),
        ean13(42),
    )
    await db_conn.execute(
        "update public.image_jobs j set created_at = now() - interval '2 hours 5 minutes 10 seconds'"
        "  from public.products p where p.id = j.product_id and p.name = 'Guaraná 2L'"
    )
    # Already in the catalogue before the install (no job): what a backfill would take.
    await db_conn.execute("alter table public.products disable trigger imagefill_enqueue_on_insert")
    await db_conn.execute("insert into public.products (name, ean) values ('Antigo', $1)", ean13(43))
    await db_conn.execute("alter table public.products enable trigger imagefill_enqueue_on_insert")
    product = await db_conn.fetchval("select id::text from public.products where name = 'Guaraná 2L'")

    result = await imagefill(bare_env(tmp_path), tmp_path, "status", "--database-url", fresh_db.dsn)
    assert result.returncode == 0, result.stderr
    assert (
        "job mais antigo na fila: há 2 horas e 5 minutos — «Guaraná 2L»"
        f" (produto {product}, EAN {ean13(41)}): busca automática, tentativa 1 de 5"
    ) in result.stdout, result.stdout
    assert (
        "1 produtos sem imagem, com EAN válido, estão fora da fila: imagefill backfill --limit 1"
        in result.stdout
    )


@pytest.mark.parametrize(
    ("age", "words"),
    [
        (timedelta(seconds=1), "há 1 segundo"),
        (timedelta(seconds=59), "há 59 segundos"),
        (timedelta(minutes=1, seconds=30), "há 1 minuto"),
        (timedelta(hours=1), "há 1 hora"),
        (timedelta(hours=47, minutes=1), "há 47 horas e 1 minuto"),
        (timedelta(days=3, hours=4, minutes=59), "há 3 dias e 4 horas"),
        (timedelta(seconds=-5), "há 0 segundos"),
    ],
)
def test_ages_read_as_words(age: timedelta, words: str) -> None:
    assert age_in_words(age) == words


async def test_status_groups_the_last_weeks_failures_by_error(
    fresh_db: MigratedDatabase, db_conn: asyncpg.Connection, tmp_path: Path
) -> None:
    await db_conn.execute(
        "insert into public.products (name, ean)"
        " select 'P' || i, e from unnest($1::text[]) with ordinality as t(e, i)",
        [ean13(50 + i) for i in range(4)],
    )
    # Set-up only: three failed jobs this week (two errors), one failed long ago.
    await db_conn.execute(
        """
        update public.image_jobs j
           set status = 'failed', attempts = 5, finished_at = now() - x.age,
               last_error = x.error
          from (values ('P1', 'OFF fora do ar', interval '1 hour'),
                       ('P2', 'OFF fora do ar', interval '2 days'),
                       ('P3', 'imagem corrompida', interval '6 days'),
                       ('P4', 'erro de um mês atrás', interval '30 days')) as x(name, error, age),
               public.products p
         where p.name = x.name and j.product_id = p.id
        """
    )
    result = await imagefill(bare_env(tmp_path), tmp_path, "status", "--database-url", fresh_db.dsn)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Falhas nos últimos 7 dias" in out, out
    lines = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in out.splitlines()
        if line.count("│") == 3
    }
    assert lines.get("OFF fora do ar") == "2", out
    assert lines.get("imagem corrompida") == "1", out
    assert "erro de um mês atrás" not in out, out


async def test_a_responses_only_openai_model_stops_the_worker_before_the_first_product(
    tmp_path: Path,
) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    env = {**bare_env(tmp_path), "OPENAI_MODEL": "gpt-5-pro", "OPENAI_API_KEY": "sk-x"}
    result = await imagefill(env, tmp_path, "run", "--once", "--database-url", url)
    assert result.returncode == 2, result.stdout + result.stderr
    line = assert_one_line(result.stderr)
    assert "OPENAI_MODEL: gpt-5-pro só funciona na Responses API" in line, line
