"""/monitoramento over Supabase Realtime, in Chromium: with the Realtime stand-in on the project URL
the panel says "ao vivo", stops polling and answers each database broadcast with about one fetch
while a batch drains; with Realtime gone it says "atualizando a cada N s" and polls again; when
Realtime is back it is live again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from playwright.async_api import Browser, Page, Request, expect
from realtime import AsyncRealtimeClient

from tests.browser.conftest import NOT_OPERATOR, OPERATOR, PanelStack, open_panel_stack, operator_database
from tests.harness import Templates, ean13, wait_until
from worker.offline.realtime_server import RealtimeStandIn

PRODUCTS = 12


@pytest.fixture(scope="module")
async def live(
    templates: Templates, web_build: float, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[PanelStack, RealtimeStandIn]]:
    """The panel's stack with Realtime mounted on the same base URL as PostgREST (as on Supabase)."""
    db = operator_database(templates)
    realtime = RealtimeStandIn(db.dsn)
    async with open_panel_stack(db, tmp_path_factory.mktemp("live"), realtime.attach) as panel:
        yield panel, realtime


@pytest.fixture
async def page(live: tuple[PanelStack, RealtimeStandIn], browser: Browser) -> AsyncIterator[Page]:
    context = await live[0].context(browser, OPERATOR)
    opened = await context.new_page()
    try:
        yield opened
    finally:
        await context.close()


class Fetches:
    """The panel's own data requests (each is one RPC through the route)."""

    def __init__(self, page: Page) -> None:
        self.urls: list[str] = []
        page.on("request", self._seen)

    def _seen(self, request: Request) -> None:
        if "/api/imagefill/progress" in request.url or "/api/imagefill/review" in request.url:
            self.urls.append(request.url)

    def __len__(self) -> int:
        return len(self.urls)


async def counts(conn: asyncpg.Connection) -> tuple[int, int]:
    row = await conn.fetchrow(
        "select count(*) filter (where status in ('queued', 'running')) as active,"
        " (select count(*) from public.products where image_status = 'needs_review') as review"
        " from public.image_jobs"
    )
    assert row is not None
    return int(row["active"]), int(row["review"])


async def test_the_panel_is_live_then_polls_without_realtime_and_is_live_again(
    live: tuple[PanelStack, RealtimeStandIn], page: Page
) -> None:
    stack, realtime = live
    fetches = Fetches(page)
    await page.goto(f"{stack.url}/monitoramento")
    mode = page.get_by_test_id("modo")
    await expect(mode).to_have_text("ao vivo", timeout=15_000)
    await expect(mode).to_have_attribute("data-mode", "live")
    assert ("realtime:imagefill:progress", "ok") in realtime.joins

    # Idle and live: nothing polls (polling asks for progress every 5 s and the list every 4 s).
    settled = len(fetches)
    await page.wait_for_timeout(6000)
    assert len(fetches) == settled, fetches.urls[settled:]

    # A batch drains: the counters and the review list follow the broadcasts, about one fetch each.
    conn = await asyncpg.connect(stack.db.dsn)
    try:
        before_delivered, before_fetches = realtime.delivered, len(fetches)
        await conn.execute(
            "insert into public.products (name, brand, ean)"
            " select 'Produto ' || g, 'Marca', e from unnest($1::text[]) with ordinality as t(e, g)",
            [ean13(9000 + i) for i in range(PRODUCTS)],
        )
        await expect(page.locator("[data-counter=queued] dd")).to_have_text(str(PRODUCTS))
        stack.start_worker()
        await wait_until(lambda: _drained(conn), within=90)
        _active, review = await counts(conn)
        await expect(page.locator("[data-counter=queued] dd")).to_have_text("0", timeout=10_000)
        await expect(page.locator("[data-counter=running] dd")).to_have_text("0", timeout=10_000)
        await expect(page.locator("[data-counter=needs_review] dd")).to_have_text(str(review), timeout=10_000)
        await expect(page.locator("ol.lista > li")).to_have_count(review, timeout=10_000)
        await expect(mode).to_have_text("ao vivo")
        await page.wait_for_timeout(1500)  # the trailing fetch after the burst
        messages = realtime.delivered - before_delivered
        drained_fetches = len(fetches) - before_fetches
        print(f"\nlive drain: {messages} broadcasts, {drained_fetches} fetches")
        assert messages >= 2
        # One fetch per message, plus at most one trailing fetch per topic per burst (a drain on a
        # busy machine comes in several bursts).
        assert drained_fetches <= 2 * messages + 2, (messages, fetches.urls[before_fetches:])
    finally:
        await conn.close()

    # Realtime goes away: the panel says so and polls (the review list every 4 s).
    await realtime.stop_serving()
    await expect(mode).to_have_text("atualizando a cada 4 s", timeout=15_000)
    await expect(mode).to_have_attribute("data-mode", "poll")
    polled = len(fetches)
    await wait_until(lambda: asyncio.sleep(0, len(fetches) >= polled + 2), within=15)

    # And back: live again, polling stops.
    realtime.resume_serving()
    await expect(mode).to_have_text("ao vivo", timeout=40_000)
    await page.wait_for_timeout(500)
    settled = len(fetches)
    await page.wait_for_timeout(6000)
    assert len(fetches) == settled, fetches.urls[settled:]


async def _drained(conn: asyncpg.Connection) -> bool:
    active, _review = await counts(conn)
    return active == 0


async def test_a_non_operator_gets_no_channel_and_no_panel(
    live: tuple[PanelStack, RealtimeStandIn], browser: Browser
) -> None:
    stack, realtime = live
    context = await stack.context(browser, NOT_OPERATOR)
    try:
        page = await context.new_page()
        await page.goto(f"{stack.url}/monitoramento")
        await expect(page.get_by_role("heading", name="Acesso negado")).to_be_visible()
        await expect(page.get_by_test_id("modo")).to_have_count(0)
    finally:
        await context.close()
    joined_before = len(realtime.joins)
    # The channel itself refuses them too (a client that skips the page and joins directly).
    client = AsyncRealtimeClient(f"{stack.supabase_url}/realtime/v1", token=stack.stand_in.anon_key)
    await client.set_auth(
        str(stack.stand_in.session_for(NOT_OPERATOR.id, NOT_OPERATOR.email)["access_token"])
    )
    states: list[str] = []
    channel = client.channel("imagefill:review", {"config": {"private": True}})  # type: ignore[typeddict-item]
    await channel.subscribe(lambda state, _error: states.append(str(state)))
    await client.close()
    assert states == ["RealtimeSubscribeStates.CHANNEL_ERROR"]
    assert realtime.joins[joined_before:][0][1].startswith("You do not have permissions to read")
