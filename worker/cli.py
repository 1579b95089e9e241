"""`imagefill`: the command line. Messages for people are in Portuguese."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated

import asyncpg
import typer
from rich.console import Console
from rich.table import Table

from worker.migrate import DEFAULT_MIGRATIONS_DIR, apply_migrations
from worker.schema import ID_TYPES, CatalogueTable, SchemaError, inspect_catalogue_tables, render_migrations
from worker.settings import Settings, SettingsError, load_settings

app = typer.Typer(
    help="Imagefill: preenche imagens de produtos que faltam.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
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


def settings_or_exit(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        raise fail(str(exc)) from None


@app.command()
def run(
    once: Annotated[
        bool, typer.Option("--once", help="Processa o que está na fila e sai (ex.: cron)")
    ] = False,
) -> None:
    """Roda o worker: escuta a fila (LISTEN/NOTIFY) e processa os jobs até receber SIGTERM."""
    from worker.logs import configure_logging
    from worker.runner import run_worker

    settings = settings_or_exit()
    configure_logging(settings.log_json)
    asyncio.run(run_worker(settings, once=once))


@app.command()
def backfill(
    limit: Annotated[int, typer.Option(min=1, max=10000, help="Quantos produtos enfileirar")] = 50,
    in_process: Annotated[
        bool | None,
        typer.Option("--in-process/--watch", help="Processar aqui / só acompanhar (padrão: automático)"),
    ] = None,
) -> None:
    """Enfileira um lote de produtos sem imagem e processa (ou acompanha) até o fim."""
    from worker.backfill import run_backfill
    from worker.logs import configure_logging

    settings = settings_or_exit()
    configure_logging(settings.log_json, level="WARNING")
    report = asyncio.run(run_backfill(settings, limit, console, in_process=in_process))
    console.print(
        f"processados: {report.processed} | ok: {report.ok} | needs_review: {report.needs_review}"
        f" | erro: {report.error}"
        + (f" | aguardando nova tentativa: {report.waiting_retry}" if report.waiting_retry else "")
    )


@app.command()
def status(
    database: Annotated[str | None, typer.Option("--database-url", help="Padrão: DATABASE_URL")] = None,
) -> None:
    """Contagens por status, o job mais antigo na fila e as falhas por último erro."""
    from worker.backfill import catalogue_status

    state = asyncio.run(catalogue_status(database_url(database)))
    overall = state["overall"]
    view = Table("status", "produtos", title="Catálogo")
    for key in ("total", "ok", "needs_review", "queued", "running", "missing", "error", "invalid_ean"):
        view.add_row(key, str(overall.get(key, 0)))
    console.print(view)
    oldest = state["oldest_queued"]
    console.print(
        f"job mais antigo na fila: {oldest['product_id']} há {oldest['age']}" if oldest else "fila vazia"
    )
    console.print(f"workers conectados: {state['workers']}")
    if state["failures"]:
        failures = Table("último erro", "jobs", title="Falhas")
        for row in state["failures"]:
            failures.add_row(row["last_error"], str(row["jobs"]))
        console.print(failures)


@app.command()
def enqueue(
    product_id: Annotated[str, typer.Argument(help="ID do produto")],
    force: Annotated[bool, typer.Option("--force", help="Buscar de novo mesmo se já tiver imagem")] = False,
    database: Annotated[str | None, typer.Option("--database-url", help="Padrão: DATABASE_URL")] = None,
) -> None:
    """Recoloca um produto na fila (o mesmo que `select public.enqueue_product_image(...)`)."""

    async def call() -> dict[str, object]:
        conn = await asyncpg.connect(database_url(database))
        try:
            # The key's type depends on the rendering (uuid, bigint, ...): ask the catalogue.
            key_type = await conn.fetchval(
                "select format_type(p.proargtypes[0], null) from pg_proc p"
                " where p.oid = 'public.enqueue_product_image'::regproc"
            )
            result: dict[str, object] = json.loads(
                await conn.fetchval(
                    f"select public.enqueue_product_image($1::text::{key_type}, $2)", product_id, force
                )
            )
            return result
        except asyncpg.PostgresError as exc:
            raise fail(str(exc)) from None
        finally:
            await conn.close()

    result = asyncio.run(call())
    if result.get("enqueued"):
        console.print(f"enfileirado: job {result['job_id']}")
    else:
        console.print(f"não enfileirado: {result.get('reason')}")


@app.command()
def demo() -> None:
    """Roda o Imagefill inteiro offline: Postgres local, armazenamento local, serviços simulados."""
    from worker.demo import run_demo

    raise typer.Exit(asyncio.run(run_demo(console)))


if __name__ == "__main__":  # pragma: no cover
    app()
