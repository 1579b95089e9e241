"""`imagefill demo --panel` (what `make demo` runs after the worker demo in an interactive terminal):
the review panel of web/ against a demo catalogue, with a signed-in demo operator, until Ctrl+C.

Everything is local and offline: Postgres, the Open Food Facts and image stand-ins, the
PostgREST/GoTrue test double (worker/offline/postgrest.py: the panel's Supabase), `next start`,
a worker that stores what the operator approves (and runs "Buscar no navegador" when Chromium
is there), and a small HTTP server for the stored pictures.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import tempfile
from pathlib import Path

import asyncpg
from aiohttp import web
from rich.console import Console

from worker.backfill import run_backfill
from worker.demo import DEMO_STORAGE, _fresh_storage_dir, seed_demo_catalogue
from worker.logs import configure_logging
from worker.migrate import apply_migrations
from worker.offline.panel import NextServer, WebAppError, build_web, serve
from worker.offline.postgres import LocalPostgres
from worker.offline.postgrest import PostgrestStandIn, StandInUser
from worker.offline.realtime_server import RealtimeStandIn
from worker.offline.services import OfflineServices
from worker.offline.shop_site import ShopSite
from worker.offline.system_deps import MissingSystemDependency, system_file
from worker.runner import run_worker
from worker.settings import load_settings

DEMO_OPERATOR = StandInUser("00000000-0000-4000-8000-0000000de770", "operador@demo.local", "demo")
PANEL_PORT = 3000


def _browser_available() -> bool:
    try:
        system_file("chromium")
        import playwright  # noqa: F401
    except (MissingSystemDependency, ImportError):
        return False
    return True


async def run_panel_demo(console: Console, port: int = PANEL_PORT) -> int:
    configure_logging(json_output=False, level="WARNING")
    console.print("[bold]Imagefill — painel /monitoramento (demonstração)[/bold]")
    try:
        seconds = await asyncio.to_thread(build_web)
    except WebAppError as exc:
        console.print(f"[red]erro:[/red] {exc}")
        return 2
    if seconds:
        console.print(f"Painel construído (next build) em {seconds:.0f}s.")
    storage_dir = await asyncio.to_thread(_fresh_storage_dir)
    workdir = Path(tempfile.mkdtemp(prefix="imagefill-panel-"))
    with LocalPostgres() as pg:
        pg.install_platform_standin()
        dsn = pg.dsn(user="postgres")
        await apply_migrations(dsn)
        conn = await asyncpg.connect(dsn)
        try:
            await seed_demo_catalogue(conn)
        finally:
            await conn.close()
        async with OfflineServices() as services, contextlib.AsyncExitStack() as stack:
            files_runner, files_url = await serve(_storage_files(storage_dir))
            stack.push_async_callback(files_runner.cleanup)
            shop = ShopSite()
            shop_runner, shop_url = await serve(shop.app)
            stack.push_async_callback(shop_runner.cleanup)
            browser = _browser_available()
            settings = load_settings(
                **{key.lower(): value for key, value in services.worker_env(dsn, storage="local").items()},
                local_storage_dir=storage_dir,
                local_storage_public_url=f"{files_url}/product-images",
                worker_poll_seconds=0.5,
                worker_browser=browser,
                browser_search_urls=f"{shop_url}/busca?q={{query}}",
            )
            report = await run_backfill(settings, 100, console)
            console.print(
                f"Lote automático: {report.total} processados — ok {report.ok},"
                f" para revisar {report.needs_review}, erro {report.error}."
            )
            stand_in = PostgrestStandIn(pg.dsn(user="authenticator"), users=[DEMO_OPERATOR])
            # Realtime on the same URL, as on Supabase: the panel shows "ao vivo".
            api_runner, api_url = await serve(RealtimeStandIn(dsn).attach(stand_in.app))
            stack.push_async_callback(api_runner.cleanup)
            next_server = await asyncio.to_thread(
                NextServer.start, api_url, stand_in.anon_key, workdir / "next.log", port
            )
            stack.callback(next_server.stop)
            worker = asyncio.create_task(run_worker(settings))
            console.print(
                f"\n[bold green]Abra {next_server.url}/login?email={DEMO_OPERATOR.email}[/bold green]"
                f" — senha [bold]{DEMO_OPERATOR.password}[/bold] (operador de demonstração).\n"
                "Revise com o teclado: A aprova, R rejeita, T rejeita e tenta de novo, J/K navegam,"
                " U cola uma URL, B busca no navegador"
                + ("" if browser else " (indisponível: falta o Chromium ou o Playwright)")
                + f".\nImagens gravadas: {files_url}/product-images/products/  (pasta {DEMO_STORAGE}).\n"
                "Ctrl+C encerra tudo."
            )
            await _until_interrupted(worker)
    return 0


def _storage_files(root: Path) -> web.Application:
    app = web.Application()
    app.router.add_static("/", root, show_index=True)
    return app


async def _until_interrupted(worker: asyncio.Task[object]) -> None:
    """Waits for Ctrl+C or SIGTERM (the worker stops on those signals by itself)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await asyncio.wait([worker, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not worker.done():
            worker.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await worker
