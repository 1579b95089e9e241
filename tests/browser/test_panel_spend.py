"""The operator sees this month's spend per provider against the caps the workers run with on
/monitoramento; the spend RPC refuses a non-operator (PostgREST as that user) and its route
answers 403, an anonymous caller 401."""

from __future__ import annotations

import asyncpg
from playwright.async_api import Browser, expect

from tests.browser.conftest import NOT_OPERATOR, OPERATOR, PanelStack
from tests.browser.test_panel_access_and_routes import call


async def test_the_operator_sees_this_months_spend_against_the_cap(
    stack: PanelStack, browser: Browser
) -> None:
    conn = await asyncpg.connect(stack.db.dsn)
    try:
        await conn.execute(
            "insert into imagefill.spend_totals (period, starts_on, provider, spent_usd, requests)"
            " select 'month', w.month_start, p.provider, p.usd, p.requests"
            "   from imagefill.spend_windows() w,"
            "        (values ('brave', 0.25, 50), ('openai', 1.10, 900)) p(provider, usd, requests)"
        )
        # What a worker records at start-up from BUDGET_MONTHLY_USD and BUDGET_MONTHLY_REQUESTS.
        await conn.execute("select imagefill.record_spend_caps(5, null, '{\"brave\": 2000}')")
        resets = await conn.fetchval("select month_resets_at from imagefill.spend_windows()")
    finally:
        await conn.close()

    context = await stack.context(browser, OPERATOR)
    page = await context.new_page()
    await page.goto(f"{stack.url}/monitoramento")
    line = page.get_by_label("Gastos do mês")
    await expect(line).to_contain_text(
        f"Gasto no mês: US$ 1.35 de US$ 5.00 (teto do mês; renova em {resets:%d/%m/%Y})"
    )
    await expect(line).to_contain_text("brave US$ 0.25 (50 de 2000 requisições)")
    await expect(line).to_contain_text("openai US$ 1.10 (900 requisições)")
    await context.close()

    status, answer = await call(stack, "GET", "/api/imagefill/spend", NOT_OPERATOR)
    assert status == 403 and answer["error"]["code"] == "42501"
    status, answer = await call(stack, "GET", "/api/imagefill/spend", None)
    assert status == 401
    status, answer = await call(stack, "GET", "/api/imagefill/spend", OPERATOR)
    assert status == 200 and answer["monthly_usd_cap"] == 5
