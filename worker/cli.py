"""`imagefill`: the command line. Messages for people are in Portuguese.

Every command fails the same way: one line on stderr, no traceback, and an exit code an operator
can script against: 2 bad input or setting, 3 database unreachable, 4 database without the
migrations, 1 anything the database refused, 130 interrupted.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Coroutine
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from uuid import UUID

import asyncpg
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from worker.database import DatabaseUnavailable, NotMigrated, connect, connect_migrated, unavailable_message
from worker.migrate import (
    CataloguePending,
    apply_migrations,
    catalogue_pending,
    installed_elsewhere,
    resolve_mapping,
    waiting_migrations,
)
from worker.schema import (
    ID_TYPES,
    CatalogueTable,
    RenderedMigration,
    SchemaError,
    inspect_catalogue_tables,
    installed_checksums,
    render_migrations,
    render_one_file,
    stored_mapping,
    write_one_file,
)
from worker.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from worker.audit import AuditSummary
    from worker.evaluate import EvalReport

T = TypeVar("T")

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_UNREACHABLE = 3
EXIT_NOT_MIGRATED = 4
EXIT_INTERRUPTED = 130

app = typer.Typer(
    help="Imagefill: preenche imagens de produtos que faltam.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
schema_app = typer.Typer(help="Gera e inspeciona o schema do Imagefill.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")
web_app = typer.Typer(help="Instala o painel de imagens no seu app Next.js.", no_args_is_help=True)
app.add_typer(web_app, name="web")
console = Console()
err_console = Console(stderr=True, soft_wrap=True, highlight=False)


def fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    """One line on stderr (never wrapped), then the exit code."""
    err_console.print(f"[red]erro:[/red] {escape(' '.join(message.split()))}")
    return typer.Exit(code)


def run_async(coro: Coroutine[Any, Any, T], dsn: str | None = None) -> T:
    """Runs a command's coroutine; the failures an operator meets become one line and an exit code."""
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        raise fail("interrompido.", EXIT_INTERRUPTED) from None
    except DatabaseUnavailable as exc:
        raise fail(str(exc), EXIT_UNREACHABLE) from None
    except NotMigrated as exc:
        raise fail(str(exc), EXIT_NOT_MIGRATED) from None
    except SchemaError as exc:
        raise fail(str(exc), EXIT_BAD_INPUT) from None
    except asyncpg.PostgresError as exc:
        raise fail(postgres_message(exc), EXIT_FAILED) from None
    except (OSError, TimeoutError, asyncpg.InterfaceError) as exc:
        # The connection dropped half-way (the first connect maps its own errors already).
        raise fail(unavailable_message(dsn, exc) if dsn else str(exc), EXIT_UNREACHABLE) from None


def run_worker_command(coro: Coroutine[Any, Any, T], dsn: str) -> T:
    """run_async for the commands that open a worker: its start-up storage check refusing (a
    wrong key, a missing bucket) is one line naming the setting, and exit code 2."""
    from worker.storage import StorageRefused

    try:
        return run_async(coro, dsn)
    except StorageRefused as exc:
        raise fail(f"o worker não iniciou — armazenamento recusado: {exc}", EXIT_BAD_INPUT) from None


def postgres_message(exc: asyncpg.PostgresError) -> str:
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    hint = getattr(exc, "hint", None)
    return f"{message} ({hint})" if hint else message


def database_url(explicit: str | None) -> str:
    if explicit:
        return explicit
    try:
        return load_settings(storage_backend="local").database_url
    except SettingsError as exc:
        raise fail(str(exc)) from None


def settings_or_exit(database: str | None = None, **overrides: object) -> Settings:
    if database:
        overrides["database_url"] = database
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        raise fail(str(exc)) from None


async def _check_migrated(dsn: str) -> None:
    conn = await connect_migrated(dsn)
    await conn.close()


DatabaseOption = Annotated[
    str | None, typer.Option("--database-url", help="Padrão: DATABASE_URL (do ambiente ou do .env)")
]
TableOption = Annotated[str, typer.Option(help="Tabela do catálogo")]
SchemaOption = Annotated[str, typer.Option(help="Schema da tabela")]
IdColumnOption = Annotated[str, typer.Option(help="Coluna da chave primária")]
IdTypeOption = Annotated[str, typer.Option(help=f"Tipo da chave: {', '.join(ID_TYPES)}")]
NameColumnOption = Annotated[str, typer.Option(help="Coluna com o nome do produto")]
BrandColumnOption = Annotated[str, typer.Option(help="Coluna com a marca (criada se faltar)")]
EanColumnOption = Annotated[str, typer.Option(help="Coluna com o EAN/código de barras")]
ImageUrlColumnOption = Annotated[
    str,
    typer.Option(
        help="Coluna com a URL da foto do produto (a do seu app, ex.: foto_url; criada se faltar)."
        " Produtos que já têm foto nela ficam ok/manual e nunca entram na fila; o Imagefill grava"
        " nela a URL da imagem que salvar"
    ),
]


@schema_app.command("render")
def schema_render(
    table: TableOption = "products",
    schema: SchemaOption = "public",
    id_column: IdColumnOption = "id",
    id_type: IdTypeOption = "uuid",
    name_column: NameColumnOption = "name",
    brand_column: BrandColumnOption = "brand",
    ean_column: EanColumnOption = "ean",
    image_url_column: ImageUrlColumnOption = "image_url",
    out: Annotated[
        Path | None, typer.Option(help="Pasta onde gravar as migrations (sem ela, imprime o SQL)")
    ] = None,
    one_file: Annotated[
        bool,
        typer.Option(
            "--one-file/--per-template",
            help="Um arquivo só, versão = agora (para o supabase/migrations do seu app: aplica tudo ou"
            " nada) / um arquivo por modelo (a pasta deste repositório)",
        ),
    ] = False,
    version: Annotated[
        str | None, typer.Option(help="Versão do arquivo único (AAAAMMDDHHMMSS; padrão: agora, UTC)")
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
        image_url_column=image_url_column,
    )
    try:
        if one_file and out is not None:
            path, written = write_one_file(out, catalogue, version)
            console.print(f"gravado {path}" if written else f"já está em dia: {path} (nada gravado)")
            return
        migrations = [render_one_file(catalogue, version)] if one_file else render_migrations(catalogue)
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
def schema_inspect(database: DatabaseOption = None) -> None:
    """Lista tabelas e colunas candidatas a catálogo num banco em uso."""
    dsn = database_url(database)

    async def run() -> None:
        conn = await connect(dsn)
        try:
            candidates = await inspect_catalogue_tables(conn)
        finally:
            await conn.close()
        view = Table("tabela", "linhas (aprox.)", "chave", "nome?", "ean?", "foto?", "colunas de texto")
        for c in candidates:
            view.add_row(
                f"{c.schema}.{c.table}",
                str(c.rows),
                f"{c.key_column} ({c.key_type})" if c.key_column else "—",
                c.likely_name or "—",
                c.likely_ean or "—",
                c.likely_image_url or "—",
                ", ".join(c.text_columns),
            )
        console.print(view)
        for c in candidates:
            if c.key_column and c.likely_name and c.likely_ean:
                # Without a brand column of its own the render adds `brand`: say so rather than guess.
                brand = f"--brand-column {c.likely_brand} " if c.likely_brand else ""
                # The app's picture column: its pictures count as a person's and are never searched for.
                picture = (
                    f"--image-url-column {c.likely_image_url} "
                    if c.likely_image_url and c.likely_image_url != "image_url"
                    else ""
                )
                console.print(
                    f"sugestão: imagefill schema render --schema {c.schema} --table {c.table} "
                    f"--id-column {c.key_column} --id-type {c.key_type} --name-column {c.likely_name} "
                    f"{brand}--ean-column {c.likely_ean} {picture}--one-file --out supabase/migrations",
                    soft_wrap=True,  # a command to copy: never cut across lines
                )
                if c.likely_image_url and c.likely_image_url != "image_url":
                    console.print(
                        f"  (a foto do produto parece estar em {c.likely_image_url}: produtos que já têm"
                        " foto ali ficam ok/manual e nunca são buscados; confira --image-url-column)"
                    )
                if not c.likely_brand:
                    console.print(
                        f"  (nenhuma coluna de marca reconhecida em {c.table}: a migration cria `brand`;"
                        " se a marca está noutra coluna, passe --brand-column)"
                    )

    run_async(run(), dsn)


def _mapping_option(help_text: str) -> Any:
    """A `migrate` mapping option: no default, so that an option not given can be told apart from
    one given with the default's value (the stored mapping fills what is not given)."""
    return typer.Option(help=f"{help_text} (padrão: o mapeamento gravado na primeira instalação)")


@app.command()
def migrate(
    database: DatabaseOption = None,
    table: Annotated[str | None, _mapping_option("Tabela do catálogo; sem instalação: products")] = None,
    schema: Annotated[str | None, _mapping_option("Schema da tabela; sem instalação: public")] = None,
    id_column: Annotated[str | None, _mapping_option("Coluna da chave primária; sem instalação: id")] = None,
    id_type: Annotated[
        str | None, _mapping_option(f"Tipo da chave: {', '.join(ID_TYPES)}; sem instalação: uuid")
    ] = None,
    name_column: Annotated[str | None, _mapping_option("Coluna com o nome; sem instalação: name")] = None,
    brand_column: Annotated[
        str | None, _mapping_option("Coluna com a marca (criada se faltar); sem instalação: brand")
    ] = None,
    ean_column: Annotated[str | None, _mapping_option("Coluna com o EAN; sem instalação: ean")] = None,
    image_url_column: Annotated[
        str | None,
        _mapping_option("Coluna com a URL da foto (a do seu app, ex.: foto_url); sem instalação: image_url"),
    ] = None,
) -> None:
    """Instala (ou atualiza) o Imagefill no banco: tudo numa transação, tudo ou nada. O mapeamento
    do catálogo da primeira instalação fica gravado: depois, `imagefill migrate` basta."""
    dsn = database_url(database)
    options = {
        "table": table,
        "schema": schema,
        "id_column": id_column,
        "id_type": id_type,
        "name_column": name_column,
        "brand_column": brand_column,
        "ean_column": ean_column,
        "image_url_column": image_url_column,
    }
    given = {name: value for name, value in options.items() if value is not None}

    async def run() -> None:
        conn = await connect(dsn)
        try:
            stored = await stored_mapping(conn)
            recorded = await installed_checksums(conn)
            catalogue = resolve_mapping(stored, given)
            # Before anything is applied again for another table (its templates would all differ).
            elsewhere = None if stored is not None else await installed_elsewhere(conn, catalogue)
        finally:
            await conn.close()
        if elsewhere is not None:
            raise fail(
                f"nada foi aplicado: o Imagefill já está instalado neste banco na tabela {elsewhere}, não em"
                f" {catalogue.schema}.{catalogue.table}. Rode de novo com as opções do mapeamento dessa"
                " tabela (--table, --name-column, --ean-column...).",
                EXIT_FAILED,
            )
        try:
            applied = await apply_migrations(dsn, catalogue)
        except asyncpg.PostgresError as exc:
            raise fail(
                f"a instalação falhou e nada foi aplicado (transação desfeita): {postgres_message(exc)}",
                EXIT_FAILED,
            ) from None
        if stored is not None:
            console.print(
                f"Catálogo: {catalogue.schema}.{catalogue.table} (mapeamento gravado na primeira instalação)."
            )
        conn = await connect(dsn)
        try:
            waiting = await waiting_migrations(conn, catalogue)
            pending = await catalogue_pending(conn, catalogue)
        finally:
            await conn.close()
        if not applied:
            installed = len(render_migrations(catalogue)) - len(waiting)
            console.print(f"Nada a aplicar: o banco já tem as {installed} migrations do Imagefill.")
        else:
            console.print(f"{len(applied)} migrations aplicadas numa transação:")
        for migration in applied:
            # Recorded before: this release changed the template, and it was applied again.
            verb = "atualizada" if migration.version in recorded else "aplicada"
            console.print(f"  {verb} {migration.version}_{migration.name}")
        print_waiting(waiting)
        print_next_steps(pending)

    run_async(run(), dsn)


def print_waiting(waiting: list[RenderedMigration]) -> None:
    """Migrations this database cannot take yet: pending, not recorded, and why."""
    for migration in waiting:
        console.print(
            f"  [yellow]pendente[/yellow] {migration.version}_{migration.name}:"
            f" {escape(migration.requires_why or migration.requires or '')}"
        )


def print_next_steps(pending: CataloguePending) -> None:
    """The triggers only queue products inserted or changed from now on: say what to do about the
    catalogue that was already there."""
    if pending.without_image == 0:
        console.print("Todos os produtos já têm imagem.")
        return
    review = f", {pending.in_review} aguardando revisão no painel" if pending.in_review else ""
    console.print(
        f"{pending.without_image} produtos sem imagem; {pending.with_valid_gtin} com EAN válido"
        f" ({pending.queued} já na fila, {pending.outside_queue} fora da fila{review})."
    )
    if pending.outside_queue:
        console.print(
            f"Para enfileirá-los: imagefill backfill --limit {min(pending.outside_queue, 500)}"
            " (repita até zerar; `imagefill status` mostra quantos faltam)."
        )
    if pending.invalid_gtin:
        console.print(
            f"{pending.invalid_gtin} sem EAN válido não entram na fila: corrija o código de barras deles."
        )


@app.command()
def run(
    once: Annotated[
        bool, typer.Option("--once", help="Processa o que está na fila e sai (ex.: cron)")
    ] = False,
    database: DatabaseOption = None,
) -> None:
    """Roda o worker: escuta a fila (LISTEN/NOTIFY) e processa os jobs até receber SIGTERM."""
    from worker.logs import configure_logging
    from worker.runner import run_worker

    settings = settings_or_exit(database)
    run_async(_check_migrated(settings.database_url), settings.database_url)
    configure_logging(settings.log_json)
    run_worker_command(run_worker(settings, once=once), settings.database_url)


@app.command()
def backfill(
    limit: Annotated[int, typer.Option(min=1, max=10000, help="Quantos produtos enfileirar")] = 50,
    in_process: Annotated[
        bool | None,
        typer.Option("--in-process/--watch", help="Processar aqui / só acompanhar (padrão: automático)"),
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """Enfileira um lote de produtos sem imagem e processa (ou acompanha) só esse lote até o fim."""
    from worker.backfill import run_backfill
    from worker.logs import configure_logging

    settings = settings_or_exit(database)
    run_async(_check_migrated(settings.database_url), settings.database_url)
    configure_logging(settings.log_json, level="WARNING")
    report = run_worker_command(
        run_backfill(settings, limit, console, in_process=in_process), settings.database_url
    )
    console.print(
        f"processados: {report.processed} | ok: {report.ok} | needs_review: {report.needs_review}"
        f" | erro: {report.error}"
        + (
            f" | {'na fila' if report.interrupted else 'aguardando nova tentativa'}: {report.waiting_retry}"
            if report.waiting_retry
            else ""
        )
    )
    if report.interrupted:
        raise fail(
            f"interrompido: {report.handed_back} jobs devolvidos à fila;"
            " rode o backfill de novo para continuar.",
            EXIT_INTERRUPTED,
        )


KIND_LABELS = {
    "enrich": "busca automática",
    "approve": "gravar imagem aprovada",
    "browser": "busca com navegador",
}


def age_in_words(age: timedelta) -> str:
    """`há 3 minutos`, `há 2 horas e 5 minutos`, `há 3 dias e 4 horas`."""
    seconds = max(int(age.total_seconds()), 0)

    def unit(n: int, one: str, many: str) -> str:
        return f"{n} {one if n == 1 else many}"

    if seconds < 60:
        return f"há {unit(seconds, 'segundo', 'segundos')}"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if minutes < 60:
        return f"há {unit(minutes, 'minuto', 'minutos')}"
    if hours < 48:
        rest = minutes % 60
        return f"há {unit(hours, 'hora', 'horas')}" + (
            f" e {unit(rest, 'minuto', 'minutos')}" if rest else ""
        )
    rest = hours % 24
    return f"há {unit(days, 'dia', 'dias')}" + (f" e {unit(rest, 'hora', 'horas')}" if rest else "")


def describe_oldest(job: dict[str, Any]) -> str:
    name = job["product_name"] or "(sem nome)"
    ean = f", EAN {job['product_ean']}" if job["product_ean"] else ""
    kind = KIND_LABELS.get(job["kind"], job["kind"])
    line = (
        f"{age_in_words(job['age'])} — «{name}» (produto {job['product_id']}{ean}):"
        f" {kind}, tentativa {job['attempts'] + 1} de {job['max_attempts']}"
    )
    if job["retry_in"] is not None and job["retry_in"] > timedelta(0):
        line += f", nova tentativa {age_in_words(job['retry_in']).replace('há', 'em', 1)}"
    if job["last_error"]:
        line += f"; último erro: {job['last_error']}"
    return line


@app.command()
def status(database: DatabaseOption = None) -> None:
    """Contagens por status, etapas ativas, tokens e custo, o job mais antigo e as falhas."""
    from worker.backfill import FAILURES_DAYS, catalogue_status

    dsn = database_url(database)
    state = run_async(catalogue_status(dsn), dsn)
    settings = _settings_for_status(database)
    overall = state["overall"]
    view = Table("status", "produtos", title="Catálogo")
    for key in ("total", "ok", "needs_review", "queued", "running", "missing", "error", "invalid_ean"):
        view.add_row(key, str(overall.get(key, 0)))
    console.print(view)
    oldest = state["oldest_queued"]
    console.print(f"job mais antigo na fila: {describe_oldest(oldest)}" if oldest else "fila vazia")
    outside = int(state["outside_queue"])
    if outside:
        console.print(
            f"{outside} produtos sem imagem, com EAN válido, estão fora da fila:"
            f" imagefill backfill --limit {min(outside, 500)}"
        )
    console.print(f"workers conectados: {state['workers']}")
    print_waiting(run_async(_waiting(dsn), dsn))
    _print_storage_check(database)
    if settings is not None:
        _print_wakeup(settings)
        _print_stage_plan(settings)
        _print_usage(state["usage"], settings)
        _print_budget(state["spend"], state["spend_windows"], settings)
        _print_cost_per_outcome(run_async(_spend_per_outcome(dsn, settings), dsn))
    _print_audit(state["audit"], settings.image_confidence_threshold if settings else None)
    if state["failures"]:
        failures = Table("último erro", "jobs", title=f"Falhas nos últimos {FAILURES_DAYS} dias")
        for row in state["failures"]:
            failures.add_row(row["last_error"], str(row["jobs"]))
        console.print(failures)


def parse_key(product_id: str, key_type: str) -> object:
    """The product id as the catalogue's key type, or a one-line error naming what was expected."""
    try:
        if key_type == "uuid":
            return str(UUID(product_id))
        if key_type in ("bigint", "integer"):
            return str(int(product_id))
    except ValueError:
        raise fail(
            f"ID inválido: {product_id!r} não é um {key_type} (o tipo da chave do seu catálogo)."
        ) from None
    return product_id


async def call_product_rpc(
    conn: asyncpg.Connection, function: str, product_id: str, *args: object
) -> dict[str, object]:
    """Calls a review RPC whose first argument is a product id, as the panel does, and returns its
    jsonb answer. The key's type depends on the rendering (uuid, bigint, ...): the function's own
    signature says which, so a malformed id is one clear line, not a cast error."""
    key_type = await conn.fetchval(
        "select format_type(p.proargtypes[0], null) from pg_proc p where p.oid = $1::regproc", function
    )
    key = parse_key(product_id, str(key_type))
    params = "".join(f", ${i + 2}" for i in range(len(args)))
    try:
        answer = await conn.fetchval(f"select {function}($1::text::{key_type}{params})", key, *args)
    except asyncpg.PostgresError as exc:
        raise fail(postgres_message(exc)) from None
    result: dict[str, object] = json.loads(answer)
    return result


async def _waiting(dsn: str) -> list[RenderedMigration]:
    conn = await connect(dsn)
    try:
        return await waiting_migrations(conn, await stored_mapping(conn))
    finally:
        await conn.close()


def _print_storage_check(database: str | None) -> None:
    """The worker's own start-up check, run here: a wrong key or bucket shows before any job."""
    from worker.runner import build_store
    from worker.storage import StorageFailed, StorageRefused

    try:
        settings = load_settings(**({"database_url": database} if database else {}))
    except SettingsError as exc:
        console.print(f"armazenamento: não verificado — {escape(str(exc))}")
        return

    async def check() -> str:
        store = build_store(settings)
        try:
            return await store.check()
        finally:
            await store.close()

    label = f"armazenamento ({settings.storage_backend.value})"
    try:
        found = asyncio.run(check())
    except StorageRefused as exc:
        console.print(f"{label}: [red]RECUSADO[/red] — {escape(str(exc))}")
    except StorageFailed as exc:
        console.print(f"{label}: [yellow]indisponível agora[/yellow] — {escape(str(exc))}")
    else:
        console.print(f"{label}: ok — {escape(found)}")


def _settings_for_status(database: str | None) -> Settings | None:
    try:
        return load_settings(storage_backend="local", **({"database_url": database} if database else {}))
    except SettingsError as exc:
        err_console.print(f"[yellow]aviso:[/yellow] etapas e custos não exibidos — {exc}")
        return None


def _print_wakeup(settings: Settings) -> None:
    """WORKER_WAKEUP as this environment sets it; what is live right now is on each worker's /health."""
    how = {
        "listen": "LISTEN/NOTIFY (conexão direta ou session pooler)",
        "realtime": "Supabase Realtime, canal privado imagefill:jobs (qualquer pooler)",
        "poll": "só polling",
    }[settings.worker_wakeup.value]
    if settings.worker_wakeup.value == "listen" and settings.uses_transaction_pooler:
        how = "só polling: o transaction pooler (porta 6543) não faz LISTEN; use WORKER_WAKEUP=realtime"
    console.print(
        f"worker acorda por: {settings.worker_wakeup.value} — {how}; polling a cada"
        f" {settings.worker_poll_seconds:g} s em todos os modos"
        " (o que está ativo agora: /health, wakeup_live)"
    )


def _print_stage_plan(settings: Settings) -> None:
    from worker.stages.plan import stage_plan

    view = Table("etapa", "situação", title="Etapas (com a configuração deste ambiente)")
    for state in stage_plan(settings):
        view.add_row(state.stage, state.detail)
    console.print(view)


def _print_audit(summary: AuditSummary, configured: float | None) -> None:
    from worker.audit import percent

    if summary.lines:
        view = Table(
            "fonte",
            "faixa de confiança",
            "auditadas",
            "certas",
            "precisão",
            "IC 95 % (Wilson)",
            title="Auditoria das aprovações automáticas — precisão medida",
        )
        for line in summary.lines:
            view.add_row(
                line.source_label,
                line.band_label,
                str(line.audited),
                str(line.correct),
                percent(line.precision),
                f"{percent(line.wilson_low)} – {percent(line.wilson_high)}",
            )
        console.print(view)
    console.print(summary.suggestion(configured))


def _print_usage(rows: list[dict[str, object]], settings: Settings) -> None:
    from worker.costs import cost_usd

    if not rows:
        console.print("uso de APIs pagas: nenhum ainda")
        return
    view = Table(
        "modelo/provedor", "uso", "produtos", "chamadas", "tokens entrada", "tokens saída", "custo estimado"
    )
    total = 0.0
    for row in rows:
        model, inputs, outputs = (
            str(row["model"]),
            int(str(row["input_tokens"])),
            int(str(row["output_tokens"])),
        )
        cost = cost_usd(settings.prices, model, inputs, outputs) if row["purpose"] != "image_search" else None
        total += cost or 0.0
        view.add_row(
            model,
            str(row["purpose"]),
            str(row["products"]),
            str(row["requests"]),
            f"{inputs:,}".replace(",", "."),
            f"{outputs:,}".replace(",", "."),
            f"US$ {cost:.4f}" if cost is not None else "—",
        )
    view.title = f"Uso de APIs pagas — OpenAI: US$ {total:.4f} (preços de OPENAI_PRICES)"
    console.print(view)


def _print_budget(rows: list[dict[str, Any]], windows: dict[str, Any], settings: Settings) -> None:
    """This month's spend per provider against the caps (BUDGET_*), and when each window resets."""
    from worker.budget import BudgetLimits

    limits = BudgetLimits.from_settings(settings)
    month_resets = f"{windows['month_resets_at']:%d/%m/%Y %H:%M} UTC" if windows else "—"
    day_resets = f"{windows['day_resets_at']:%d/%m/%Y %H:%M} UTC" if windows else "—"
    month = sum(float(r["month_usd"]) for r in rows)
    day = sum(float(r["day_usd"]) for r in rows)
    in_flight = sum(float(r["reserved_usd"]) for r in rows)
    view = Table("provedor", "gasto no mês", "requisições no mês", "gasto hoje", "em andamento")
    for row in rows:
        quota = limits.monthly_requests.get(str(row["provider"]))
        view.add_row(
            str(row["provider"]),
            f"US$ {float(row['month_usd']):.4f}",
            f"{row['month_requests']}" + (f" de {quota}" if quota is not None else ""),
            f"US$ {float(row['day_usd']):.4f}",
            f"US$ {float(row['reserved_usd']):.4f}",
        )

    def cap(value: float | None) -> str:
        return f"US$ {value:.2f}" if value is not None else "sem teto"

    view.title = (
        f"Orçamento — mês: US$ {month:.4f} de {cap(limits.monthly_usd)} (renova em {month_resets});"
        f" hoje: US$ {day:.4f} de {cap(limits.daily_usd)} (renova em {day_resets})"
    )
    console.print(view)
    smallest_call = settings.image_search_price_per_1000 / 1000
    for scope, spent, limit, resets, setting in (
        ("mês", month, limits.monthly_usd, month_resets, "BUDGET_MONTHLY_USD"),
        ("dia", day, limits.daily_usd, day_resets, "BUDGET_DAILY_USD"),
    ):
        if limit is not None and limit - (spent + in_flight) < max(smallest_call, 1e-9):
            console.print(
                f"[red]teto do {scope} atingido[/red]: as etapas pagas esperam até {resets}"
                " (os produtos continuam na fila); para seguir antes, aumente"
                f" {setting} e reinicie os workers."
            )
    for row in rows:
        quota = limits.monthly_requests.get(str(row["provider"]))
        if quota is not None and int(row["month_requests"]) >= quota:
            console.print(
                f"[red]cota mensal de {row['provider']} atingida[/red] ({quota} requisições): espera até"
                f" {month_resets}; para seguir antes, aumente BUDGET_MONTHLY_REQUESTS."
            )


async def _spend_per_outcome(dsn: str, settings: Settings) -> list[dict[str, Any]]:
    conn = await connect_migrated(dsn)
    try:
        rows = await conn.fetch(
            "select * from imagefill.spend_per_outcome($1::jsonb, $2)",
            json.dumps({model: list(price) for model, price in settings.prices.items()}),
            settings.image_search_price_per_1000 / 1000,
        )
        return [dict(r) for r in rows]
    finally:
        await conn.close()


OUTCOMES = {
    "openfoodfacts": "aprovados pelo Open Food Facts",
    "search": "aprovados pela busca",
    "manual": "aprovados na revisão",
    "needs_review": "deixados para revisão",
    "other": "outros (na fila, com erro, apagados)",
}


def _print_cost_per_outcome(rows: list[dict[str, Any]]) -> None:
    """This month's US$ per product by where it ended up, OpenAI and search separately."""
    if not rows:
        return
    view = Table("produtos", "quantos", "OpenAI por produto", "busca por produto", "total por produto")
    for row in sorted(rows, key=lambda r: list(OUTCOMES).index(str(r["outcome"]))):
        count = int(row["products"])
        openai_usd, search_usd = float(row["openai_usd"] or 0), float(row["search_usd"] or 0)
        view.add_row(
            OUTCOMES[str(row["outcome"])],
            str(count),
            f"US$ {openai_usd / count:.4f}",
            f"US$ {search_usd / count:.4f}",
            f"US$ {(openai_usd + search_usd) / count:.4f}",
        )
    view.title = "Custo por produto neste mês (produtos com chamadas pagas no mês, pelo destino de cada um)"
    console.print(view)


@app.command()
def enqueue(
    product_id: Annotated[str, typer.Argument(help="ID do produto")],
    force: Annotated[bool, typer.Option("--force", help="Buscar de novo mesmo se já tiver imagem")] = False,
    database: DatabaseOption = None,
) -> None:
    """Recoloca um produto na fila (o mesmo que `select public.enqueue_product_image(...)`)."""
    dsn = database_url(database)

    async def call() -> dict[str, object]:
        conn = await connect_migrated(dsn)
        try:
            return await call_product_rpc(conn, "public.enqueue_product_image", product_id, force)
        finally:
            await conn.close()

    result = run_async(call(), dsn)
    if result.get("enqueued"):
        console.print(f"enfileirado: job {result['job_id']}")
    else:
        console.print(f"não enfileirado: {result.get('reason')}")


PROVENANCE_COLUMNS = (
    "product_id",
    "name",
    "ean",
    "image_source",
    "image_confidence",
    "image_updated_at",
    "image_url",
    "original_url",
    "page_url",
    "page_host",
    "license",
    "attribution",
    "reviewed_by",
)


@app.command()
def provenance(
    database: DatabaseOption = None,
    out: Annotated[Path | None, typer.Option(help="Arquivo CSV a gravar (sem ela, imprime o CSV)")] = None,
) -> None:
    """Procedência de cada imagem gravada (CSV): origem, página e site, licença e atribuição."""
    import csv

    dsn = database_url(database)

    async def fetch() -> list[asyncpg.Record]:
        conn = await connect_migrated(dsn)
        try:
            return list(await conn.fetch("select * from imagefill.image_provenance()"))
        finally:
            await conn.close()

    rows = run_async(fetch(), dsn)
    target = out.open("w", newline="", encoding="utf-8") if out else sys.stdout
    try:
        writer = csv.writer(target)
        writer.writerow(PROVENANCE_COLUMNS)
        for row in rows:
            writer.writerow(["" if row[c] is None else str(row[c]) for c in PROVENANCE_COLUMNS])
    finally:
        if out:
            target.close()
    err_console.print(f"{len(rows)} imagens com procedência" + (f" gravadas em {out}" if out else ""))


@app.command("eval")
def eval_command(
    labels: Annotated[
        Path | None,
        typer.Argument(help="CSV com ean,name,brand,image,correct (image: off:EAN, URL ou arquivo)"),
    ] = None,
    threshold: Annotated[
        list[float] | None,
        typer.Option("--threshold", min=0, max=1, help="Limiar a avaliar (repita a opção)"),
    ] = None,
    from_audits: Annotated[
        Path | None,
        typer.Option(
            "--from-audits",
            help="Grava neste CSV as aprovações automáticas auditadas (avalie depois com imagefill eval)",
        ),
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """Mede precisão e cobertura da aprovação automática num conjunto rotulado, com tokens e custo."""
    from worker.evaluate import DEFAULT_THRESHOLDS, LabelsError, evaluate

    if from_audits is not None:
        if labels is not None:
            raise fail("use LABELS.csv ou --from-audits ARQUIVO, não os dois")
        _export_audits(from_audits, database)
        return
    if labels is None:
        raise fail("informe o CSV rotulado (imagefill eval LABELS.csv) ou --from-audits ARQUIVO")

    # The evaluation never touches the database: any DATABASE_URL (or none) will do.
    settings = settings_or_exit(storage_backend="local", database_url="postgresql://eval-sem-banco/")
    try:
        report = run_async(evaluate(settings, labels, list(threshold or DEFAULT_THRESHOLDS)))
    except LabelsError as exc:
        raise fail(str(exc)) from None
    print_eval_report(report, settings.image_confidence_threshold)


def _export_audits(path: Path, database: str | None) -> None:
    from worker.audit import audited_approvals, write_audit_labels

    dsn = database_url(database)

    async def fetch() -> list[asyncpg.Record]:
        conn = await connect_migrated(dsn)
        try:
            return await audited_approvals(conn)
        finally:
            await conn.close()

    rows = run_async(fetch(), dsn)
    try:
        result = write_audit_labels(path, rows)
    except OSError as exc:
        raise fail(f"não foi possível gravar {path}: {exc.strerror or exc}") from None
    skipped = (
        f"; {result.without_picture} sem a URL original da foto ficaram de fora"
        if result.without_picture
        else ""
    )
    err_console.print(
        f"{result.written} itens auditados gravados em {path} ({result.correct} certos,"
        f" {result.written - result.correct} errados){skipped}. Avalie com: imagefill eval {path}"
    )


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%".replace(".", ",")


def print_eval_report(report: EvalReport, configured: float) -> None:
    console.print(
        f"modelo: {report.model} | linhas: {report.rows} | pares corretos: {report.lines[0].correct_rows}"
        f" | sem veredito: {report.no_verdict}"
    )
    view = Table(
        "limiar",
        "aprovadas",
        "certas",
        "precisão",
        "cobertura",
        "corretas aprovadas",
        title="Aprovação automática (match e confiança ≥ limiar)",
    )
    for line in report.lines:
        mark = " *" if abs(line.threshold - configured) < 1e-9 else ""
        view.add_row(
            f"{line.threshold:.2f}{mark}",
            str(line.approved),
            str(line.right),
            _percent(line.precision),
            _percent(line.coverage),
            _percent(line.recall),
        )
    console.print(view)
    console.print(
        "* = IMAGE_CONFIDENCE_THRESHOLD. precisão = certas/aprovadas; cobertura = aprovadas/linhas."
    )
    rows = max(report.rows, 1)
    cost = (
        f"US$ {report.cost / rows:.6f} por produto, US$ {report.cost / rows * 1000:.2f} por 1.000 produtos"
        if report.cost is not None
        else f"custo: {report.model} não está em OPENAI_PRICES"
    )
    console.print(
        f"tokens por produto: {report.input_tokens / rows:.0f} de entrada + {report.output_tokens / rows:.0f}"
        f" de saída; {cost}"
    )
    wrong = [r for r in report.results if r.approved(configured) and not r.row.correct]
    for result in wrong:
        console.print(
            f"[yellow]aprovada errada[/yellow] (linha {result.row.line}):"
            f" {result.row.name} ← {result.row.image}"
        )
    for result in report.results:
        if result.verdict is None:
            console.print(f"[yellow]sem veredito[/yellow] (linha {result.row.line}): {result.problem}")


@app.command("off-index")
def off_index(
    export: Annotated[Path, typer.Argument(help="Exportação JSONL do Open Food Facts (.jsonl ou .jsonl.gz)")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Arquivo do índice (padrão: OFF_INDEX_PATH)")
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """Indexa a exportação do Open Food Facts só para os EANs do seu catálogo (a etapa 1 lê o
    índice antes da API, que permite ~15 leituras por minuto)."""
    from worker.offindex import build_index

    settings = settings_or_exit(database)
    target = out or settings.off_index_path
    if target is None:
        raise fail("informe --out ou defina OFF_INDEX_PATH.")
    if not export.is_file():
        raise fail(f"exportação não encontrada: {export}")

    async def catalogue_gtins() -> list[str]:
        conn = await connect_migrated(settings.database_url)
        try:
            gtins = await conn.fetch("select distinct gtin from imagefill.catalogue_gtins()")
            return [r["gtin"] for r in gtins]
        finally:
            await conn.close()

    gtins = run_async(catalogue_gtins(), settings.database_url)
    report = build_index(export, gtins, target, settings.off_images_base_url)
    console.print(
        f"índice gravado em {target}: {report.lines:,} linhas lidas em {report.seconds:.1f} s"
        f" ({report.lines_per_second:,.0f}/s); {report.matched:,} dos {len(gtins):,} EANs do catálogo"
        f" encontrados, {report.with_front_image:,} com foto de frente."
    )
    if target != settings.off_index_path:
        console.print(f"Para o worker usar o índice: OFF_INDEX_PATH={target}")


@app.command()
def browse(
    product_id: Annotated[str, typer.Argument(help="ID do produto")],
    database: DatabaseOption = None,
) -> None:
    """Busca imagens do produto num navegador headless (etapa 4, manual): grava as encontradas como
    candidatas `browser` para uma pessoa revisar. Nunca aprova nada sozinho."""
    from worker.logs import configure_logging
    from worker.runner import open_worker

    settings = settings_or_exit(database)
    configure_logging(settings.log_json, level="WARNING")

    async def call() -> tuple[dict[str, object], list[dict[str, object]]]:
        conn = await connect_migrated(settings.database_url)
        try:
            request = await call_product_rpc(conn, "public.request_browser_search", product_id)
            job_id = request["job_id"]

            async def finished() -> bool:
                status = await conn.fetchval(
                    "select status from public.image_jobs where id = $1::uuid", job_id
                )
                return status in ("done", "failed")

            async with open_worker(settings, kinds=["browser"]) as runner:
                await runner.run(until_idle=finished)
            job = await conn.fetchrow(
                "select status::text as status, last_error, result"
                " from public.image_jobs where id = $1::uuid",
                job_id,
            )
            if job["status"] == "failed":
                raise fail(f"a busca no navegador falhou: {job['last_error']}", EXIT_FAILED)
            found: list[dict[str, object]] = json.loads(job["result"] or "{}").get("candidates", [])
            return request, found
        finally:
            await conn.close()

    _, found = run_worker_command(call(), settings.database_url)
    for candidate in found:
        console.print(f"  {candidate['url']}  (busca: {candidate.get('query')})")
    console.print(f"{len(found)} candidatas do navegador gravadas para revisão no painel /monitoramento.")


@app.command()
def demo(
    panel: Annotated[
        bool,
        typer.Option(
            "--panel",
            help="Abre o painel /monitoramento (Next.js) com um operador de demonstração, até Ctrl+C",
        ),
    ] = False,
) -> None:
    """Roda o Imagefill inteiro offline: Postgres local, armazenamento local, serviços simulados."""
    if panel:
        from worker.demo_panel import run_panel_demo

        raise typer.Exit(run_async(run_panel_demo(console)))
    from worker.demo import run_demo

    raise typer.Exit(run_async(run_demo(console)))


if __name__ == "__main__":  # pragma: no cover
    app()


@web_app.command("add")
def web_add(
    app_dir: Annotated[
        Path, typer.Option("--app", help="Pasta do seu app Next.js (com o package.json)")
    ] = Path("."),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Só mostra o plano; não escreve nada")] = False,
    install: Annotated[
        bool,
        typer.Option("--install", help="Roda `npm install` (ou pnpm/yarn/bun) se adicionar dependências"),
    ] = False,
) -> None:
    """Escreve o painel /monitoramento e as rotas /api/imagefill/* no seu app (App Router ou Pages Router)."""
    from worker.webadd.detect import AppError
    from worker.webadd.install import web_add as run_web_add

    try:
        lines, complete = run_web_add(app_dir, dry_run=dry_run, install=install)
    except (AppError, OSError) as exc:
        raise fail(str(exc)) from None
    for line in lines:
        console.print(escape(line), highlight=False, soft_wrap=True)
    if not complete:
        raise fail(
            "há arquivos do app no lugar de arquivos do painel (veja acima); nada neles foi alterado.", 1
        )
