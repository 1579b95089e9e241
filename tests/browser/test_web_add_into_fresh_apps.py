"""`imagefill web add` into fresh create-next-app apps (App Router TS with today's defaults, Pages Router,
src/ layout, JavaScript-only), each with Supabase's own @supabase/ssr files: the command through its real
entry point, `next build` of the result, then in Chromium the app's own sign-in, one approval and one
rejection on /monitoramento, and the panel's text contrast in light and dark mode.

The apps are made in every run (tests/webadd/fixture_apps.py); their node_modules is one shared install
and `next build` is skipped when the app's sources are the same as at its last build.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import IMAGEFILL, OPERATOR, lowest_contrast
from tests.harness import MigratedDatabase, Templates, ean13
from tests.webadd.fixture_apps import ALL_APPS, FixtureApp, create_app, deps_dir, node_env
from worker.offline.panel import NextServer, serve
from worker.offline.postgrest import PostgrestStandIn

BUILD_STAMP = ".next/imagefill-test-stamp"
OURS = (".imagefill/", "imagefill/", "src/imagefill/")
ROUTES = ("app/api/imagefill/", "src/app/api/imagefill/", "pages/api/imagefill/")
PAGES = ("app/monitoramento/", "src/app/monitoramento/", "pages/monitoramento.")


def app_files(root: Path) -> dict[str, str]:
    """Every file of the app (not its build output) → sha256."""
    files: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not rel.startswith((".next/", "node_modules/")):
            files[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def is_ours(rel: str) -> bool:
    return rel.startswith(OURS + ROUTES + PAGES)


def web_add(root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [IMAGEFILL, "web", "add", "--app", str(root), *extra],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def build(root: Path) -> float:
    """`next build` unless these exact sources were built last time; returns the seconds spent."""
    stamp = hashlib.sha256(json.dumps(app_files(root), sort_keys=True).encode()).hexdigest()
    stamp_file = root / BUILD_STAMP
    if stamp_file.is_file() and stamp_file.read_text() == stamp and (root / ".next" / "BUILD_ID").is_file():
        return 0.0
    started = time.monotonic()
    result = subprocess.run(
        [str(deps_dir() / "node_modules" / ".bin" / "next"), "build"],
        cwd=root,
        env=node_env() | {"NODE_ENV": "production"},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, (
        f"next build falhou em {root.name}:\n{result.stdout[-5000:]}\n{result.stderr[-3000:]}"
    )
    stamp_file.write_text(stamp)
    return time.monotonic() - started


@dataclass
class InstalledApp:
    fixture: FixtureApp
    root: Path
    before: dict[str, str]
    after_add: dict[str, str]
    first_run: str
    second_run: subprocess.CompletedProcess[str]
    db: MigratedDatabase
    server: NextServer
    build_seconds: float


@pytest.fixture(scope="module", params=ALL_APPS, ids=lambda app: app.name)
async def installed(
    request: pytest.FixtureRequest, templates: Templates, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[InstalledApp]:
    fixture: FixtureApp = request.param
    root = create_app(fixture)
    before = app_files(root)
    first = web_add(root)
    assert first.returncode == 0, first.stderr
    after_add = app_files(root)
    second = web_add(root)
    seconds = build(root)
    db = templates.fresh_database()
    stand_in = PostgrestStandIn(db.cluster.dsn(db.name, user="authenticator"), users=[OPERATOR])
    runner, supabase_url = await serve(stand_in.app)
    log = tmp_path_factory.mktemp(fixture.name) / "next.log"
    server = NextServer.start(
        supabase_url,
        stand_in.anon_key,
        log,
        app_dir=root,
        next_bin=deps_dir() / "node_modules" / ".bin" / "next",
        key_name="NEXT_PUBLIC_SUPABASE_PUBLISHABLE_KEY",
    )
    try:
        yield InstalledApp(fixture, root, before, after_add, first.stdout, second, db, server, seconds)
    finally:
        server.stop()
        await runner.cleanup()


async def seed_review(db: MigratedDatabase, names: list[str], first_code: int) -> dict[str, str]:
    """Products in needs_review with one candidate each, put there by the worker's own SQL calls."""
    conn = await asyncpg.connect(db.dsn)
    try:
        ids: dict[str, str] = {}
        for index, name in enumerate(names):
            ids[name] = str(
                await conn.fetchval(
                    "insert into public.products (name, brand, ean) values ($1, 'Marca', $2)"
                    " returning id::text",
                    name,
                    ean13(first_code + index),
                )
            )
        claimed = await conn.fetch(
            "select * from imagefill.claim_image_jobs('teste', 10, 60,"
            " array['enrich']::public.image_job_kind[])"
        )
        assert len(claimed) == len(names)
        for index, job in enumerate(claimed):
            candidates = [
                {"url": f"https://img.example/{index}.jpg", "source": "search_api", "confidence": 0.6}
            ]
            await conn.execute(
                "select imagefill.complete_image_job($1, 'teste', 'needs_review', p_candidates => $2::jsonb)",
                job["job_id"],
                json.dumps(candidates),
            )
        return ids
    finally:
        await conn.close()


async def sign_in(page: Page, url: str) -> None:
    """The app's own sign-in page, as Supabase's guide writes it; it lands on /monitoramento."""
    await page.goto(f"{url}/login")
    await page.get_by_label("Email:").fill(OPERATOR.email)
    await page.get_by_label("Password:").fill(OPERATOR.password)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(f"{url}/monitoramento")
    await expect(page.locator(".painel[data-ready=true]")).to_have_count(1)


async def test_web_add_writes_only_its_own_files_and_a_second_run_changes_nothing(
    installed: InstalledApp,
) -> None:
    changed = {rel for rel in installed.before if installed.after_add.get(rel) != installed.before[rel]}
    assert changed == set(), f"web add changed the app's own files: {changed}"
    added = set(installed.after_add) - set(installed.before)
    assert added and all(is_ours(rel) for rel in added), sorted(added)
    manifest = json.loads((installed.root / ".imagefill" / "manifest.json").read_text())
    assert set(manifest["files"]) == added - {".imagefill/manifest.json"}
    assert "/monitoramento" in installed.first_run or "monitoramento" in installed.first_run
    assert installed.second_run.returncode == 0
    assert "Nada a mudar" in installed.second_run.stdout
    assert app_files(installed.root).keys() >= installed.after_add.keys()


async def test_the_operator_signs_in_approves_one_and_rejects_one(
    installed: InstalledApp, browser: Browser
) -> None:
    app = installed.fixture.name
    ids = await seed_review(installed.db, [f"Café {app}", f"Biscoito {app}"], 900)
    context = await browser.new_context(viewport={"width": 1366, "height": 900}, locale="pt-BR")
    try:
        page = await context.new_page()
        await sign_in(page, installed.server.url)
        items = page.locator("li.item")
        await expect(items).to_have_count(2)

        approved = page.locator(f'li.item[data-product-id="{ids[f"Café {app}"]}"]')
        await approved.get_by_role("button", name="Aprovar").click()
        await expect(page.get_by_role("status")).to_contain_text(f"Aprovada: Café {app}")
        await expect(approved).to_have_count(0)

        rejected = page.locator(f'li.item[data-product-id="{ids[f"Biscoito {app}"]}"]')
        await rejected.get_by_role("button", name="Rejeitar", exact=True).click()
        await expect(page.get_by_role("status")).to_contain_text(f"Rejeitada: Biscoito {app}")
    finally:
        await context.close()

    conn = await asyncpg.connect(installed.db.dsn)
    try:
        job = await conn.fetchrow(
            "select kind::text, status::text from public.image_jobs"
            " where product_id = $1::uuid and kind = 'approve'",
            ids[f"Café {app}"],
        )
        assert job is not None and tuple(job) == ("approve", "queued")
        reviewer = await conn.fetchval(
            "select image_reviewed_by::text from public.products where id = $1::uuid", ids[f"Café {app}"]
        )
        assert reviewer == OPERATOR.id
        rejections = await conn.fetchval(
            "select count(*) from public.image_rejected_candidates where product_id = $1::uuid",
            ids[f"Biscoito {app}"],
        )
        assert rejections == 1
    finally:
        await conn.close()
    # Building and using the app changed none of its own files (Next.js's own next-env.d.ts aside).
    now = app_files(installed.root)
    changed = {rel for rel, digest in installed.before.items() if now.get(rel) != digest}
    assert changed <= {"next-env.d.ts"}, changed


# The panel's text, by group, whose lowest contrast contrast.js measures.
PANEL_TEXT = {
    "nomes": ".imagefill-painel li.item h3",
    "titulos": ".imagefill-painel h1, .imagefill-painel h2",
    "botoes": ".imagefill-painel button:not(:disabled):not(.foto), .imagefill-painel .foto .numero",
    "contadores": ".imagefill-painel .contador dd, .imagefill-painel .contador dt, .imagefill-painel .total",
}


async def contrast(page: Page) -> dict[str, Any]:
    return await lowest_contrast(page, {"groups": PANEL_TEXT})


@pytest.mark.parametrize("mode", ["claro", "escuro-do-sistema", "escuro-pela-classe-dark"])
async def test_the_panel_is_readable_in_light_and_dark_mode(
    installed: InstalledApp, browser: Browser, mode: str, artifacts: Path
) -> None:
    modes = ["claro", "escuro-do-sistema", "escuro-pela-classe-dark"]
    await seed_review(installed.db, [f"Leite {mode}"], 950 + modes.index(mode))
    context = await browser.new_context(
        viewport={"width": 1366, "height": 900},
        locale="pt-BR",
        color_scheme="dark" if mode == "escuro-do-sistema" else "light",
    )
    try:
        page = await context.new_page()
        await sign_in(page, installed.server.url)
        await expect(page.locator("li.item h3").first).to_be_visible()
        if mode == "escuro-pela-classe-dark":
            await page.evaluate("document.documentElement.classList.add('dark')")
        measured = await contrast(page)
        await page.screenshot(path=str(artifacts / f"web-add-{installed.fixture.name}-{mode}.png"))
        print(f"\ncontraste {installed.fixture.name} {mode}: {json.dumps(measured)}")
        for group, values in measured.items():
            assert values["count"] > 0, group
            assert values["min"] >= 4.5, (group, values)
    finally:
        await context.close()
