"""`imagefill`: the command line. Messages for people are in Portuguese."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import asyncpg
import typer
from rich.console import Console
from rich.table import Table

from worker.migrate import DEFAULT_MIGRATIONS_DIR, apply_migrations
from worker.schema import ID_TYPES, CatalogueTable, SchemaError, inspect_catalogue_tables, render_migrations
from worker.settings import SettingsError, load_settings

app = typer.Typer(help="Imagefill: preenche imagens de produtos que faltam.", no_args_is_help=True)
schema_app = typer.Typer(help="Gera e inspeciona o schema do Imagefill.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")
console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print(f"[red]erro:[/red] {message}")
    return typer.Exit(code)


def database_url(explicit: str | None) -> str:
    if explicit:
        return explicit
    try:
        return load_settings(storage_backend="local").database_url
    except SettingsError as exc:
        raise fail(str(exc)) from None


@schema_app.command("render")
def schema_render(
    table: Annotated[str, typer.Option(help="Tabela do catálogo")] = "products",
    schema: Annotated[str, typer.Option(help="Schema da tabela")] = "public",
    id_column: Annotated[str, typer.Option(help="Coluna da chave primária")] = "id",
    id_type: Annotated[str, typer.Option(help=f"Tipo da chave: {', '.join(ID_TYPES)}")] = "uuid",
    name_column: Annotated[str, typer.Option(help="Coluna com o nome do produto")] = "name",
    brand_column: Annotated[str, typer.Option(help="Coluna com a marca (criada se faltar)")] = "brand",
    ean_column: Annotated[str, typer.Option(help="Coluna com o EAN/código de barras")] = "ean",
    out: Annotated[
        Path | None, typer.Option(help="Pasta onde gravar as migrations (sem ela, imprime o SQL)")
    ] = None,
) -> None:
    """Gera as migrations para a sua tabela de produtos."""
    catalogue = CatalogueTable(
        schema=schema,
        table=table,
        id_column=id_column,
        id_type=id_type,
        name_column=name_column,
        brand_column=brand_column,
        ean_column=ean_column,
    )
    try:
        migrations = render_migrations(catalogue)
    except SchemaError as exc:
        raise fail(str(exc)) from None
    if out is None:
        for migration in migrations:
            sys.stdout.write(f"-- ===== {migration.filename} =====\n{migration.sql}\n")
        return
    out.mkdir(parents=True, exist_ok=True)
    for migration in migrations:
        (out / migration.filename).write_text(migration.sql)
        console.print(f"gravado {out / migration.filename}")


@schema_app.command("inspect")
def schema_inspect(
    database: Annotated[str | None, typer.Option("--database-url", help="Padrão: DATABASE_URL")] = None,
) -> None:
    """Lista tabelas e colunas candidatas a catálogo num banco em uso."""

    async def run() -> None:
        conn = await asyncpg.connect(database_url(database))
        try:
            candidates = await inspect_catalogue_tables(conn)
        finally:
            await conn.close()
        view = Table("tabela", "linhas (aprox.)", "chave", "nome?", "ean?", "colunas de texto")
        for c in candidates:
            view.add_row(
                f"{c.schema}.{c.table}",
                str(c.rows),
                f"{c.key_column} ({c.key_type})" if c.key_column else "—",
                c.likely_name or "—",
                c.likely_ean or "—",
                ", ".join(c.text_columns),
            )
        console.print(view)
        for c in candidates:
            if c.key_column and c.likely_name and c.likely_ean:
                console.print(
                    f"sugestão: imagefill schema render --schema {c.schema} --table {c.table} "
                    f"--id-column {c.key_column} --id-type {c.key_type} --name-column {c.likely_name} "
                    f"--ean-column {c.likely_ean} --out supabase/migrations"
                )

    asyncio.run(run())


@app.command()
def migrate(
    database: Annotated[str | None, typer.Option("--database-url", help="Padrão: DATABASE_URL")] = None,
    directory: Annotated[Path, typer.Option(help="Pasta das migrations")] = DEFAULT_MIGRATIONS_DIR,
) -> None:
    """Aplica supabase/migrations ao banco (para quem não usa a Supabase CLI)."""
    applied = asyncio.run(apply_migrations(database_url(database), directory))
    if not applied:
        console.print("Nada a aplicar: o banco já está em dia.")
    for migration in applied:
        console.print(f"aplicada {migration.version}_{migration.name}")


@app.command()
def demo() -> None:
    """Roda o Imagefill inteiro offline: Postgres local, armazenamento local, serviços simulados."""
    from worker.demo import run_demo

    raise typer.Exit(asyncio.run(run_demo(console)))


if __name__ == "__main__":  # pragma: no cover
    app()
