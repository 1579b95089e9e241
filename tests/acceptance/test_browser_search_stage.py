"""Stage 4: `imagefill browse ID` opens the search pages in Debian's Chromium, collects the pictures
worth a person's time, fetches each through the SSRF-safe downloader and stores them as `browser`
candidates. It never approves anything, and a hostile page cannot make it reach a private address."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from tests.acceptance.conftest import IMAGEFILL
from tests.harness import MigratedDatabase, ean13
from worker.offline.panel import serve
from worker.offline.services import OfflineServices
from worker.offline.shop_site import ShopSite


@pytest.fixture
async def shop() -> AsyncIterator[tuple[ShopSite, str]]:
    site = ShopSite()
    runner, url = await serve(site.app)
    try:
        yield site, url
    finally:
        await runner.cleanup()


async def browse(product_id: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """In a thread: the shop site answers from this test's event loop."""
    return await asyncio.to_thread(
        subprocess.run,
        [IMAGEFILL, "browse", product_id],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


async def test_browse_stores_browser_candidates_and_never_approves(
    fresh_db: MigratedDatabase,
    db_conn: asyncpg.Connection,
    services: OfflineServices,
    shop: tuple[ShopSite, str],
    tmp_path: Path,
) -> None:
    site, shop_url = shop
    gtin = ean13(5501)
    product_id = await db_conn.fetchval(
        "insert into public.products (name, brand, ean)"
        " values ('Molho de tomate 340g', 'Quero', $1) returning id::text",
        gtin,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OFF_", "WORKER_", "STORAGE_", "IMAGE_"))}
    env |= services.worker_env(fresh_db.dsn) | {
        "RATE_LIMIT_DIR": str(tmp_path / "ratelimit"),
        "BROWSER_SEARCH_URLS": f"{shop_url}/busca?q={{query}}",
        "LOG_JSON": "true",
    }

    result = await browse(product_id, env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr

    row = await db_conn.fetchrow(
        "select image_status::text as status, image_url, image_candidate_urls"
        " from public.products where id = $1::uuid",
        product_id,
    )
    assert row["status"] == "needs_review" and row["image_url"] is None  # never an approval
    candidates = [c for c in json.loads(row["image_candidate_urls"]) if c["source"] == "browser"]
    usable = {c["url"] for c in candidates if c.get("usable", True)}
    expected = set()
    for slug in ("quero-molho-de-tomate-340g", gtin):
        expected |= {
            f"{shop_url}/img/{slug}-frente-600x800.jpg",  # plain src
            f"{shop_url}/img/{slug}-lado-480x640.jpg",  # the srcset's large entry, not the 120w one
            f"{shop_url}/img/{slug}-verso-500x700.jpg",  # <picture><source srcset>
        }
    assert usable == expected
    assert all(c["query"] in ("Quero Molho de tomate 340g", gtin) for c in candidates)
    assert all("confidence" not in c for c in candidates if c.get("usable", True))
    # The same picture under another URL was downloaded and recognised as one candidate; icons and
    # small pictures are never downloaded by the worker (Chromium loads them to render the page).
    assert site.downloads["/img/quero-molho-de-tomate-340g-frente-600x800.jpg?utm=lista"] == 1
    assert site.requests["/img/logo-32.png"] >= 1
    assert not any("logo" in path or "100x140" in path or "120x160" in path for path in site.downloads)
    assert site.queries == ["Quero Molho de tomate 340g", gtin]

    events = await db_conn.fetch(
        "select outcome, detail from public.image_job_events"
        " where product_id = $1::uuid and stage = 'browser'",
        product_id,
    )
    detail = json.loads(events[-1]["detail"])
    assert events[-1]["outcome"] == "found"
    assert any("127.0.0.2" in url for url in detail["blocked"])  # the guard refused the private address
    assert "candidatas" in result.stdout


async def test_browse_refuses_an_unknown_product(
    fresh_db: MigratedDatabase, services: OfflineServices, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OFF_", "WORKER_", "STORAGE_", "IMAGE_"))}
    env |= services.worker_env(fresh_db.dsn) | {"BROWSER_SEARCH_URLS": "http://127.0.0.1:9/busca?q={query}"}
    result = await browse("00000000-0000-4000-8000-000000000404", env, tmp_path)
    assert result.returncode != 0
    assert "não encontrado" in result.stderr


async def test_browse_refuses_a_product_that_has_its_picture(
    fresh_db: MigratedDatabase, db_conn: asyncpg.Connection, services: OfflineServices, tmp_path: Path
) -> None:
    product_id = await db_conn.fetchval(
        "insert into public.products (name, ean, image_status, image_url, image_source,"
        " image_confidence, image_updated_at)"
        " values ('Café 500g', $1, 'ok', 'https://cdn.example/cafe.jpg', 'manual', 1, now())"
        " returning id::text",
        ean13(5502),
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OFF_", "WORKER_", "STORAGE_", "IMAGE_"))}
    env |= services.worker_env(fresh_db.dsn) | {"BROWSER_SEARCH_URLS": "http://127.0.0.1:9/busca?q={query}"}
    result = await browse(product_id, env, tmp_path)
    assert result.returncode != 0
    assert "já tem imagem aprovada" in result.stderr
    status = await db_conn.fetchval(
        "select image_status::text from public.products where id = $1::uuid", product_id
    )
    assert status == "ok"
