"""What an operator does on /monitoramento, in Chromium, against the built app and a running worker.

The tests share one catalogue and run in file order: the backfill fills the review list that the
decisions after it work through.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from io import BytesIO

import aiohttp
import asyncpg
import pytest
from PIL import Image
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import OPERATOR, PanelStack
from tests.harness import ean13, wait_until

# Codes the Open Food Facts stand-in knows (real OFF responses), with the names a Brazilian shop uses.
KNOWN = [
    ("Molho bolonhesa 420g", "Pouce", "3596710352418"),
    ("Chocolate ao leite Papai Noel 125g", "Lindt", "4000539770708"),
    ("Biscoito amanteigado 200g", "Asda", "5054070608074"),
    ("Vinho do Porto Special Reserve 750ml", "Cálem", "5601077161035"),
    ("Kit macarrão tailandês com amendoim", "Thai Kitchen", "0737628064502"),
    ("Arroz jasmim 1kg", "Imperial Grain", "22007377"),
]
UNKNOWN_CODE = ean13(4242)
INVALID_CODE = "7891000100109"  # wrong check digit


@pytest.fixture(scope="module")
async def seeded(stack: PanelStack) -> list[str]:
    conn = await asyncpg.connect(stack.db.dsn)
    try:
        rows = list(KNOWN)
        rows += [
            ("Feijão carioca 1kg", "Camil", UNKNOWN_CODE),
            ("Chocolate sem EAN válido", "Garoto", INVALID_CODE),
        ]
        records = await conn.fetch(
            "insert into public.products (name, brand, ean)"
            " select * from unnest($1::text[], $2::text[], $3::text[]) returning id::text",
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[2] for r in rows],
        )
        return [r["id"] for r in records]
    finally:
        await conn.close()


@pytest.fixture
async def page(stack: PanelStack, browser: Browser) -> AsyncIterator[Page]:
    context = await stack.context(browser, OPERATOR)
    opened = await context.new_page()
    try:
        yield opened
    finally:
        await context.close()


async def open_panel(page: Page, url: str) -> None:
    """Opens /monitoramento and waits until it listens to the keyboard (hydrated)."""
    await page.goto(f"{url}/monitoramento")
    await expect(page.locator(".painel[data-ready=true]")).to_have_count(1)


async def product(conn: asyncpg.Connection, product_id: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        "select image_status::text as status, image_source::text as source, image_url,"
        " image_reviewed_by::text as reviewed_by from public.products where id = $1::uuid",
        product_id,
    )
    assert row is not None
    return row


async def test_backfill_button_runs_a_batch_and_counters_reach_the_end(
    stack: PanelStack, seeded: list[str], page: Page, artifacts: object
) -> None:
    await open_panel(page, stack.url)
    # Inserting the products queued those with a valid EAN; no worker is running yet.
    await expect(page.locator("[data-counter=queued] dd")).to_have_text("7")
    await expect(page.locator("[data-counter=invalid_ean] dd")).to_have_text("1")

    await page.get_by_label("Limite de produtos do lote").fill("50")
    await page.get_by_role("button", name="Backfill imagens").click()
    await expect(page.get_by_role("status")).to_contain_text("7 produtos enfileirados")
    await expect(page.get_by_test_id("lote")).to_contain_text("0 de 7")

    stack.start_worker()
    await expect(page.get_by_test_id("lote")).to_contain_text("Lote concluído: 7 de 7", timeout=60_000)
    await expect(page.locator("[data-counter=queued] dd")).to_have_text("0")
    await expect(page.locator("[data-counter=needs_review] dd")).to_have_text("7")
    await expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "7")

    # The review list fills in without a reload, and its pictures really load.
    items = page.locator("ol.lista > li")
    await expect(items).to_have_count(7, timeout=15_000)
    first_image = items.first.locator("img").first
    await expect(first_image).to_be_visible()
    await page.wait_for_function(
        "() => [...document.images].every((img) => img.complete && img.naturalWidth > 0)"
    )
    await expect(items.last).to_contain_text("Nenhuma candidata")  # OFF does not know this one
    shot = artifacts / "painel-monitoramento.png"  # type: ignore[operator]
    await page.screenshot(path=str(shot), full_page=False)
    print(f"\nscreenshot: {shot}")


async def test_approve_with_the_keyboard_stores_the_picture(
    stack: PanelStack, seeded: list[str], page: Page, db_conn: asyncpg.Connection
) -> None:
    await open_panel(page, stack.url)
    await page.locator("li.item", has_text="Chocolate ao leite Papai Noel 125g").locator("h3").click()
    selected = page.locator("li.item[aria-current=true]")
    await expect(selected).to_contain_text("Chocolate ao leite Papai Noel 125g")
    product_id = await selected.get_attribute("data-product-id")
    assert product_id is not None
    best_url = await selected.locator("img").first.get_attribute("src")

    await page.keyboard.press("a")
    await expect(page.locator(f'li.item[data-product-id="{product_id}"]')).to_have_count(0)
    await expect(page.get_by_role("status")).to_contain_text("Aprovada")

    row = await wait_until(lambda: _when(db_conn, product_id, "ok"), within=60)
    assert row["source"] == "openfoodfacts"
    assert row["reviewed_by"] == OPERATOR.id
    assert row["image_url"].startswith(
        stack.services.storage_url + "/storage/v1/object/public/product-images/"
    )
    async with aiohttp.ClientSession() as http, http.get(row["image_url"]) as response:
        assert response.status == 200
        stored = Image.open(BytesIO(await response.read()))
    assert stored.format == "JPEG"
    event = await db_conn.fetchval(
        "select detail from public.image_job_events where product_id = $1::uuid and outcome = 'approved'",
        product_id,
    )
    assert json.loads(event)["url"] == best_url


async def test_rejected_pictures_are_never_proposed_again(
    stack: PanelStack, seeded: list[str], page: Page, db_conn: asyncpg.Connection
) -> None:
    await open_panel(page, stack.url)
    await page.locator("li.item", has_text="Biscoito amanteigado 200g").locator("h3").click()
    selected = page.locator("li.item[aria-current=true]")
    await expect(selected).to_contain_text("Biscoito amanteigado 200g")
    product_id = await selected.get_attribute("data-product-id")
    assert product_id is not None
    urls = await selected.locator("img").evaluate_all("(imgs) => imgs.map((img) => img.src)")
    assert urls

    await page.keyboard.press("r")
    await expect(page.get_by_role("status")).to_contain_text("não serão propostas de novo")
    rejected = await wait_until(
        lambda: db_conn.fetchval(
            "select count(*) from public.image_rejected_candidates where product_id = $1::uuid", product_id
        )
    )
    assert rejected == len(urls)

    # Open Food Facts now serves the same picture under new URLs (another image revision), and
    # the automatic search runs again for the product: the picture must not come back.
    ean = await db_conn.fetchval("select ean from public.products where id = $1::uuid", product_id)
    assert stack.services.off is not None
    off_product = stack.services.off.products[ean]
    moved = re.sub(r"(front_[a-z]+)\.(\d+)\.", r"\1.9\2.", json.dumps(off_product))
    stack.services.off.products[ean] = json.loads(moved)
    job_id = await db_conn.fetchval("select public.enqueue_product_image($1::uuid) ->> 'job_id'", product_id)
    await wait_until(
        lambda: db_conn.fetchval("select status = 'done' from public.image_jobs where id = $1::uuid", job_id),
        within=60,
    )
    skipped = await db_conn.fetch(
        "select detail ->> 'url' as url from public.image_job_events"
        " where job_id = $1::uuid and outcome = 'skipped_rejected_picture'",
        job_id,
    )
    events = await db_conn.fetch(
        "select outcome, detail::text from public.image_job_events where job_id = $1::uuid", job_id
    )
    assert skipped, (ean, [tuple(e) for e in events])
    assert all(row["url"] not in urls for row in skipped)  # new URLs, same picture

    await page.reload()
    await expect(page.locator(".painel[data-ready=true]")).to_have_count(1)
    item = page.locator(f'li.item[data-product-id="{product_id}"]')
    await expect(item).to_contain_text("Nenhuma candidata")
    await expect(item.locator("img")).to_have_count(0)


async def test_a_pasted_url_becomes_a_manual_image(
    stack: PanelStack, seeded: list[str], page: Page, db_conn: asyncpg.Connection
) -> None:
    await open_panel(page, stack.url)
    selected = page.locator("li.item[aria-current=true]")
    product_id = await selected.get_attribute("data-product-id")
    assert product_id is not None
    await page.keyboard.press("u")
    await page.keyboard.type(f"{stack.services.image_base_url}/static/foto-colada.jpg")
    await page.keyboard.press("Enter")
    row = await wait_until(lambda: _when(db_conn, product_id, "ok"), within=60)
    assert row["source"] == "manual"


async def test_a_bad_pasted_url_shows_the_database_message_and_keeps_the_item(
    stack: PanelStack, seeded: list[str], page: Page
) -> None:
    await open_panel(page, stack.url)
    selected = page.locator("li.item[aria-current=true]")
    product_id = await selected.get_attribute("data-product-id")
    await page.keyboard.press("u")
    await page.keyboard.type("ftp://exemplo/imagem.jpg")
    await page.keyboard.press("Enter")
    await expect(page.locator(".aviso.erro")).to_contain_text("URL de imagem inválida")
    await expect(page.locator(f'li.item[data-product-id="{product_id}"]')).to_have_count(1)


async def test_search_in_the_browser_brings_candidates_to_review(
    stack: PanelStack, seeded: list[str], page: Page, db_conn: asyncpg.Connection
) -> None:
    await open_panel(page, stack.url)
    item = page.locator("li.item", has_text="Feijão carioca 1kg")
    await expect(item).to_contain_text("Nenhuma candidata")  # Open Food Facts does not know it
    product_id = await item.get_attribute("data-product-id")
    await item.locator("h3").click()
    await page.keyboard.press("b")
    await expect(page.get_by_role("status")).to_contain_text(
        "Busca no navegador pedida para Feijão carioca 1kg"
    )

    # The worker runs the search; the list refreshes by itself and shows what the browser found.
    await expect(item.locator("img")).to_have_count(6, timeout=60_000)
    await expect(item.locator(".fonte").first).to_have_text("Navegador")
    await expect(item).to_contain_text("encontrada no navegador em 127.0.0.1")
    assert stack.shop.queries == ["Camil Feijão carioca 1kg", UNKNOWN_CODE]
    row = await product(db_conn, product_id or "")
    assert row["status"] == "needs_review" and row["image_url"] is None  # a person still decides


async def _when(conn: asyncpg.Connection, product_id: str, status: str) -> asyncpg.Record | None:
    row = await product(conn, product_id)
    return row if row["status"] == status else None
