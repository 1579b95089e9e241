"""The audit list ("Aprovadas automaticamente") on /monitoramento, in Chromium: an operator audits 20
automatic approvals with the keyboard (C confirms 18, X undoes 2), the 2 products go back through the
pipeline and the precision table on screen follows; a non-operator gets no list.

The approvals are made by the worker's own completion function (imagefill.complete_image_job) on jobs
the product inserts queued; no worker runs in this module, so the undone products' new jobs stay
queued where the test can see them.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from urllib.parse import quote

import asyncpg
import pytest
from playwright.async_api import Browser, Page, expect

from tests.audit_history import complete_claimed_jobs
from tests.browser.conftest import NOT_OPERATOR, OPERATOR, PanelStack, lowest_contrast
from tests.browser.test_panel_access_and_routes import call
from tests.harness import ean13, wait_until

SHOP = "www.mercadinho-exemplo.com.br"
# 12 pictures from Open Food Facts (0.95-1.00) and 8 from the image search (0.85-0.90).
OFF_COUNT, SEARCH_COUNT = 12, 8
WRONG = {"Produto auditado 3", "Produto auditado 7"}  # both from the search


@pytest.fixture(scope="module")
async def approvals(stack: PanelStack) -> dict[str, str]:
    """20 products approved automatically, one at a time (newest last); name -> product id."""
    conn = await asyncpg.connect(stack.db.dsn)
    try:
        names = [f"Produto auditado {n}" for n in range(1, OFF_COUNT + SEARCH_COUNT + 1)]
        rows = await conn.fetch(
            "insert into public.products (name, brand, ean)"
            " select * from unnest($1::text[], $2::text[], $3::text[]) returning id::text, name, ean",
            names,
            ["Marca Auditada"] * len(names),
            [ean13(5000 + n) for n in range(len(names))],
        )
        ids = {r["name"]: r["id"] for r in rows}
        for n, name in enumerate(names):
            search = name in WRONG or n >= OFF_COUNT + len(WRONG)
            ean = next(r["ean"] for r in rows if r["name"] == name)
            picture = f"{stack.services.image_base_url}/marked/{ean}/9/packshot/600x800/frente.jpg"
            await complete_claimed_jobs(
                conn,
                {
                    ids[name]: (
                        picture,
                        "search_api" if search else "openfoodfacts",
                        0.87 if search else 0.97,
                        f"rótulo e marca conferem ({n + 1})",
                        SHOP if search else None,
                    )
                },
            )
        assert await conn.fetchval("select count(*) from public.image_auto_approvals") == len(names)
        return ids
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


async def open_audit(page: Page, url: str) -> None:
    await page.goto(f"{url}/monitoramento")
    await expect(page.locator(".painel[data-ready=true]")).to_have_count(1)
    await page.get_by_role("tab", name="Aprovadas automaticamente").click()
    await expect(page.locator(".auditoria[data-loaded=true]")).to_have_count(1)


def wilson(right: int, total: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p, n = right / total, total
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n), (centre + spread) / (1 + z * z / n)


def percent(value: float) -> str:
    """Intl.NumberFormat('pt-BR', percent, up to 1 decimal)."""
    text = f"{round(value * 100, 1):.1f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") + "%"


async def test_auditing_20_with_the_keyboard_sends_2_back_and_the_precision_follows(
    stack: PanelStack, approvals: dict[str, str], page: Page, db_conn: asyncpg.Connection, artifacts: object
) -> None:
    await open_audit(page, stack.url)
    items = page.locator("li.auditada")
    await expect(items).to_have_count(20)
    await expect(page.locator(".precisao")).to_contain_text("Nenhuma aprovação auditada ainda")

    # Newest first, the first one selected; what the judge said and where the picture came from.
    first = page.locator("li.auditada[aria-current=true]")
    await expect(first).to_contain_text("Produto auditado 20")
    await expect(first).to_contain_text("Marca Auditada")
    await expect(first).to_contain_text(f"EAN {ean13(5019)}")
    await expect(first).to_contain_text(f"Busca de imagens · {SHOP}")
    await expect(first).to_contain_text("87%")
    await expect(first).to_contain_text("rótulo e marca conferem (20)")
    await expect(first.locator("time")).to_have_count(1)
    await expect(items.last.locator("h3")).to_have_text("Produto auditado 1")
    await expect(items.last).to_contain_text("Open Food Facts")
    await page.wait_for_function(
        "() => [...document.querySelectorAll('li.auditada img')]"
        ".every((i) => i.complete && i.naturalWidth > 0)"
    )
    shot = artifacts / "painel-auditoria.png"  # type: ignore[operator]
    await page.screenshot(path=str(shot), full_page=False)

    # J/K move; the review list's keys do nothing here (A would approve there).
    await page.keyboard.press("j")
    await expect(page.locator("li.auditada[aria-current=true]")).to_contain_text("Produto auditado 19")
    await page.keyboard.press("k")
    await expect(page.locator("li.auditada[aria-current=true]")).to_contain_text("Produto auditado 20")

    for remaining in range(20, 0, -1):
        current = page.locator("li.auditada[aria-current=true]")
        name = (await current.locator("h3").inner_text()).strip()
        approval = await current.get_attribute("data-approval-id")
        await page.keyboard.press("x" if name in WRONG else "c")
        # The item leaves at once and the next one is selected, before the server answers.
        await expect(page.locator(f'li.auditada[data-approval-id="{approval}"]')).to_have_count(0)
        if remaining > 1:
            await expect(page.locator("li.auditada[aria-current=true]")).to_have_count(1)
    await expect(page.locator(".auditoria")).to_contain_text("Nada a auditar na amostra agora")

    await wait_until(
        lambda: db_conn.fetchval(
            "select count(*) = 20 from public.image_auto_approvals where verdict is not null"
        ),
        within=30,
    )
    verdicts = await db_conn.fetch(
        "select p.name, a.verdict from public.image_auto_approvals a"
        " join public.products p on p.id = a.product_id"
    )
    assert {r["name"] for r in verdicts if r["verdict"] == "wrong"} == WRONG
    assert sum(r["verdict"] == "confirmed" for r in verdicts) == 18

    # The 2 undone products went back through the pipeline: no picture, a new queued job, the
    # approved picture rejected for them as a person's rejection.
    for name in WRONG:
        row = await db_conn.fetchrow(
            "select image_status::text as status, image_url from public.products where id = $1::uuid",
            approvals[name],
        )
        assert row is not None and (row["status"], row["image_url"]) == ("missing", None)
        assert (
            await db_conn.fetchval(
                "select count(*) from public.image_jobs where product_id = $1::uuid and kind = 'enrich'"
                " and status = 'queued'",
                approvals[name],
            )
            == 1
        )
        rejected = await db_conn.fetchval(
            "select rejected_by::text from public.image_rejected_candidates where product_id = $1::uuid",
            approvals[name],
        )
        assert rejected == OPERATOR.id
    confirmed = await db_conn.fetchval(
        "select count(*) from public.products where name like 'Produto auditado %' and image_status = 'ok'"
    )
    assert confirmed == 18

    # The precision table follows: 18 of 20 overall, 12 of 12 from Open Food Facts, 6 of 8 from the search.
    for source, band, right, total in [
        ("todas", "todas", 18, 20),
        ("openfoodfacts", "todas", 12, 12),
        ("search_api", "todas", 6, 8),
        ("search_api", "0.85", 6, 8),
        ("todas", "0.95", 12, 12),
    ]:
        row = page.locator(f'.precisao tr[data-source="{source}"][data-band="{band}"]')
        low, high = wilson(right, total)
        await expect(row.locator("td").nth(2)).to_have_text(str(total))
        await expect(row.locator("td").nth(3)).to_have_text(str(right))
        await expect(row.locator("td").nth(4)).to_have_text(percent(right / total))
        await expect(row.locator("td").nth(5)).to_have_text(f"{percent(low)} – {percent(high)}")
    # 20 audits cannot show 99 % at any threshold: the suggestion says so rather than invent one.
    await expect(page.get_by_test_id("limiar-sugerido")).to_contain_text("Nenhum limiar atinge 99%")
    await expect(page.get_by_test_id("limiar-sugerido")).to_contain_text("20 auditadas")

    # "Todas" still lists every approval, with its verdict.
    await page.get_by_role("button", name="Todas", exact=True).click()
    await expect(page.locator("li.auditada")).to_have_count(20)
    await expect(page.locator('li.auditada[data-verdict="wrong"]')).to_have_count(2)
    await expect(page.locator('li.auditada[data-verdict="confirmed"]')).to_have_count(18)
    shot = artifacts / "painel-auditoria-precisao.png"  # type: ignore[operator]
    await page.screenshot(path=str(shot), full_page=True)


async def test_confirming_an_undone_approval_is_refused_in_portuguese(
    stack: PanelStack, approvals: dict[str, str], page: Page
) -> None:
    await open_audit(page, stack.url)
    await page.get_by_role("button", name="Todas", exact=True).click()
    wrong = page.locator('li.auditada[data-verdict="wrong"]').first
    await expect(wrong).to_have_count(1)
    await wrong.locator("h3").click()
    await page.keyboard.press("c")
    await expect(page.locator(".auditoria [role=alert]")).to_contain_text("não pode ser confirmada")
    await expect(wrong).to_have_attribute("data-verdict", "wrong")


async def test_a_non_operator_gets_no_audit_list(stack: PanelStack, browser: Browser) -> None:
    context = await stack.context(browser, NOT_OPERATOR)
    try:
        page = await context.new_page()
        await page.goto(f"{stack.url}/monitoramento")
        await expect(page.get_by_role("heading", name="Acesso negado")).to_be_visible()
        await expect(page.get_by_role("tab", name="Aprovadas automaticamente")).to_have_count(0)
        await expect(page.locator("li.auditada")).to_have_count(0)
    finally:
        await context.close()
    for path in ("/api/imagefill/audit", "/api/imagefill/audit-figures"):
        status, answer = await call(stack, "GET", path, NOT_OPERATOR)
        assert (status, answer["error"]["code"]) == (403, "42501")
        status, answer = await call(stack, "GET", path, None)
        assert status == 401
    status, answer = await call(stack, "POST", "/api/imagefill/audit-undo", NOT_OPERATOR, {"approval_id": 1})
    assert (status, answer["error"]["code"]) == (403, "42501")


AUDIT_TAB = '.imagefill-painel section[aria-label="Aprovadas automaticamente"]'


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_the_audit_tab_is_readable_in_light_and_dark_mode(
    stack: PanelStack, approvals: dict[str, str], page: Page, db_conn: asyncpg.Connection, scheme: str
) -> None:
    # The precision table appears once something was audited; run alone, this test audits one itself.
    if not await db_conn.fetchval(
        "select count(*) from public.image_auto_approvals where verdict is not null"
    ):
        oldest = await db_conn.fetchval("select min(id) from public.image_auto_approvals")
        status, _ = await call(
            stack, "POST", "/api/imagefill/audit-confirm", OPERATOR, {"approval_id": oldest}
        )
        assert status == 200
    await page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
    await open_audit(page, stack.url)
    await page.get_by_role("button", name="Todas", exact=True).click()
    await expect(page.locator("li.auditada").first).to_be_visible()
    await expect(page.locator(".precisao table")).to_be_visible()
    measured = await lowest_contrast(page, {"root": AUDIT_TAB})
    print(f"\ncontraste auditoria {scheme}: {measured}")
    assert measured["count"] > 20
    assert measured["ratio"] >= 4.5, measured


async def test_the_audit_route_pages_every_approval_by_cursor_and_refuses_a_bad_mode(
    stack: PanelStack, approvals: dict[str, str]
) -> None:
    seen: list[int] = []
    path = "/api/imagefill/audit?mode=all&limit=7"
    while True:
        status, page = await call(stack, "GET", path, OPERATOR)
        assert status == 200
        seen += [item["approval_id"] for item in page["items"]]
        if page["next"] is None:
            break
        cursor = page["next"]
        path = (
            f"/api/imagefill/audit?mode=all&limit=7&before_at={quote(cursor['before_at'])}"
            f"&before_id={cursor['before_id']}"
        )
    assert len(seen) == len(set(seen)) == 20
    assert seen == sorted(seen, reverse=True)  # newest first (approved one after another)

    status, answer = await call(stack, "GET", "/api/imagefill/audit?mode=tudo", OPERATOR)
    assert status == 400 and "mode deve ser sample" in answer["error"]["message"]
    status, answer = await call(stack, "POST", "/api/imagefill/audit-confirm", OPERATOR, {})
    assert status == 400 and "approval_id" in answer["error"]["message"]
    status, answer = await call(
        stack, "POST", "/api/imagefill/audit-confirm", OPERATOR, {"approval_id": 999999}
    )
    assert status == 404 and "não encontrada" in answer["error"]["message"]
