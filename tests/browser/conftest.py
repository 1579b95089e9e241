"""The review panel in a real browser: `next build` + `next start` of web/, Debian's Chromium driven by
Playwright, the real Postgres with the migrations, the PostgREST/GoTrue stand-in (a test double,
worker/offline/postgrest.py) and a real `imagefill run` process.

Run them alone: `.venv/bin/pytest tests/browser -q`. Screenshots go to `.local/artifacts/`.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.harness import MigratedDatabase, Templates
from worker.offline.panel import NextServer, build_web, serve
from worker.offline.postgrest import PostgrestStandIn, StandInUser
from worker.offline.services import OfflineServices
from worker.offline.shop_site import ShopSite
from worker.offline.system_deps import system_file

# Every `expect` retries until it holds: 15 s instead of Playwright's 5 s lets a busy machine
# finish a fetch through Next.js and the PostgREST stand-in; a passing check returns at once.
expect.set_options(timeout=15_000)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / ".local" / "artifacts"
IMAGEFILL = str(Path(sys.executable).parent / "imagefill")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OPERATOR = StandInUser("00000000-0000-4000-8000-00000000a001", "operadora@mercado.com.br", "senha-operadora")
NOT_OPERATOR = StandInUser("00000000-0000-4000-8000-00000000b002", "caixa@mercado.com.br", "senha-caixa")
# Values that must never reach the browser: the build runs with them in its environment.
BUILD_SECRETS = {
    "SUPABASE_SERVICE_ROLE_KEY": "sentinel-service-role-7f3a9c",
    "OPENAI_API_KEY": "sk-sentinel-openai-4b1d2e",
    "IMAGE_SEARCH_API_KEY": "sentinel-search-key-9e8d7c",
    "DATABASE_URL": "postgresql://sentinel-db-user:sentinel-db-pass@db.example/postgres",
    "SOME_PRIVATE_SETTING": "sentinel-private-setting-1a2b3c",
}


TEST_DIST = ".next-test"  # the demo and the benchmark build into web/.next


@pytest.fixture(scope="session")
def web_build() -> float:
    """Built once per session (and reused while web/ is unchanged); returns the build's seconds."""
    return build_web(BUILD_SECRETS, dist=TEST_DIST)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(system_file("chromium")), args=CHROMIUM_FLAGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


def session_cookie(stand_in: PostgrestStandIn, user: StandInUser, url: str) -> dict[str, Any]:
    """How @supabase/ssr keeps the session: cookie `sb-<first label of the Supabase host>-auth-token`,
    value `base64-` + base64url(JSON of the GoTrue session)."""
    session = stand_in.session_for(user.id, user.email)
    value = "base64-" + base64.urlsafe_b64encode(json.dumps(session).encode()).decode().rstrip("=")
    return {"name": "sb-127-auth-token", "value": value, "url": url}


@dataclass
class PanelStack:
    db: MigratedDatabase
    services: OfflineServices
    stand_in: PostgrestStandIn
    supabase_url: str
    next_server: NextServer
    workdir: Path
    shop: ShopSite
    shop_url: str
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.next_server.url

    def cookie(self, user: StandInUser) -> dict[str, Any]:
        return session_cookie(self.stand_in, user, self.url)

    async def context(self, browser: Browser, user: StandInUser | None = OPERATOR) -> BrowserContext:
        context = await browser.new_context(viewport={"width": 1366, "height": 900}, locale="pt-BR")
        if user is not None:
            await context.add_cookies([self.cookie(user)])  # type: ignore[list-item]
        return context

    def start_worker(self, **overrides: str) -> None:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("OFF_", "WORKER_", "STORAGE_", "IMAGE_"))
        }
        env |= self.services.worker_env(self.db.dsn)
        env |= {
            "RATE_LIMIT_DIR": str(self.workdir / "ratelimit"),
            "WORKER_POLL_SECONDS": "0.5",
            "WORKER_CONCURRENCY": "4",
            "WORKER_RETRY_BACKOFF_SECONDS": "0",
            "LOG_JSON": "true",
            # Takes the panel's "Buscar no navegador" jobs too, searching the local shop site.
            "WORKER_BROWSER": "true",
            "BROWSER_SEARCH_URLS": f"{self.shop_url}/busca?q={{query}}",
            **overrides,
        }
        with (self.workdir / f"worker-{len(self.workers)}.log").open("wb") as log:
            self.workers.append(
                subprocess.Popen(
                    [IMAGEFILL, "run"], env=env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT
                )
            )

    def stop_workers(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.workers:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self.workers.clear()


# The function alone (Playwright calls a string that is a function expression), without its header.
CONTRAST_JS = "\n".join(
    line
    for line in (Path(__file__).parent / "contrast.js").read_text().splitlines()
    if not line.startswith("//")
)


async def lowest_contrast(page: Page, measure: dict[str, Any]) -> dict[str, Any]:
    """contrast.js on the page: `{"groups": {name: selector}}` or `{"root": selector}` (see there)."""
    result: dict[str, Any] = await page.evaluate(CONTRAST_JS, measure)
    return result


NON_OPERATOR_SQL = f"""
create or replace function public.is_image_operator()
returns boolean language sql stable set search_path = ''
as $$ select auth.uid() is not null and auth.uid() <> '{NOT_OPERATOR.id}'::uuid $$;
"""


def operator_database(templates: Templates) -> MigratedDatabase:
    """A fresh database whose is_image_operator() admits OPERATOR and refuses NOT_OPERATOR (the
    README's way to restrict the panel: the user's own is_image_operator())."""
    db = templates.fresh_database()
    db.cluster.psql(NON_OPERATOR_SQL, dbname=db.name, user="postgres")
    return db


@asynccontextmanager
async def open_panel_stack(
    db: MigratedDatabase, workdir: Path, attach: Callable[[web.Application], web.Application] | None = None
) -> AsyncIterator[PanelStack]:
    """Stand-ins, PostgREST, the shop site and the built panel over `db`; `attach` mounts more on
    PostgREST's base URL (Realtime, as on Supabase)."""
    async with OfflineServices() as services:
        stand_in = PostgrestStandIn(
            db.cluster.dsn(db.name, user="authenticator"), users=[OPERATOR, NOT_OPERATOR]
        )
        runner, supabase_url = await serve(attach(stand_in.app) if attach else stand_in.app)
        shop = ShopSite()
        shop_runner, shop_url = await serve(shop.app)
        next_server = NextServer.start(supabase_url, stand_in.anon_key, workdir / "next.log", dist=TEST_DIST)
        panel = PanelStack(db, services, stand_in, supabase_url, next_server, workdir, shop, shop_url)
        try:
            yield panel
        finally:
            panel.stop_workers()
            next_server.stop()
            await shop_runner.cleanup()
            await runner.cleanup()


@pytest.fixture(scope="module")
async def stack(
    templates: Templates, web_build: float, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[PanelStack]:
    """One database, stand-ins, the built panel and (on demand) workers, for one test module."""
    async with open_panel_stack(operator_database(templates), tmp_path_factory.mktemp("panel")) as panel:
        yield panel


@pytest.fixture
async def db_conn(stack: PanelStack) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(stack.db.dsn)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def artifacts() -> Iterator[Path]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield ARTIFACTS
