"""The shared measure of bench_review_speed.py and bench_audit_speed.py: build and serve the panel,
clear a list of N items in Chromium with one key per item, time each wait from the key press until
the next item is ready, and compare it with the server round trip of each decision (the baseline,
measured in the same run).
"""

from __future__ import annotations

import asyncio
import base64
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from playwright.async_api import Page, Request, async_playwright

from worker.offline.panel import NextServer, build_web, serve
from worker.offline.postgres import LocalPostgres
from worker.offline.postgrest import PostgrestStandIn, StandInUser
from worker.offline.services import OfflineServices
from worker.offline.system_deps import system_file
from worker.stages.browser import CHROMIUM_FLAGS

OPERATOR = StandInUser("00000000-0000-4000-8000-0000000be7c4", "bench@example.com", "bench")


# The item after `previous` is current, with every picture loaded.
NEXT_READY_JS = """
({ selector, attribute, previous }) => {
  const item = document.querySelector(selector);
  if (!item || item.getAttribute(attribute) === previous) return false;
  return [...item.querySelectorAll('img')].every((img) => img.complete && img.naturalWidth > 0);
}
"""


@dataclass(frozen=True)
class KeyboardList:
    """One list of the panel as the operator clears it: how to open it, which item is current, the
    key that decides it, the text shown when it is empty and the route each decision posts to."""

    open: Callable[[Page], Awaitable[None]]
    current_selector: str
    id_attribute: str
    key: str
    empty_text: str
    endpoint: str


async def measure(
    items: int,
    workdir_prefix: str,
    prepare: Callable[[LocalPostgres, str, int], Awaitable[None]],
    keyboard_list: KeyboardList,
) -> tuple[list[float], list[float], float, float]:
    """Seed `items` with `prepare`, serve the built panel and clear the list; returns the waits, the
    round trips, the build's seconds and the whole run's seconds."""
    started = time.monotonic()
    build_seconds = await asyncio.to_thread(build_web)
    workdir = Path(tempfile.mkdtemp(prefix=workdir_prefix))
    with LocalPostgres() as pg:
        pg.install_platform_standin()
        async with OfflineServices() as services:
            await prepare(pg, services.image_base_url, items)
            stand_in = PostgrestStandIn(pg.dsn(user="authenticator"), users=[OPERATOR])
            runner, api_url = await serve(stand_in.app)
            server = await asyncio.to_thread(
                NextServer.start, api_url, stand_in.anon_key, workdir / "next.log"
            )
            try:
                waits, round_trips = await clear_list(server.url, stand_in, items, keyboard_list)
            finally:
                server.stop()
                await runner.cleanup()
    return waits, round_trips, build_seconds, time.monotonic() - started


async def clear_list(
    url: str, stand_in: PostgrestStandIn, items: int, keyboard_list: KeyboardList
) -> tuple[list[float], list[float]]:
    session = stand_in.session_for(OPERATOR.id, OPERATOR.email)
    cookie = "base64-" + base64.urlsafe_b64encode(json.dumps(session).encode()).decode().rstrip("=")
    round_trips: list[float] = []

    def on_finished(request: Request) -> None:
        if request.url.endswith(keyboard_list.endpoint):
            timing = request.timing
            round_trips.append((timing["responseEnd"] - timing["requestStart"]) / 1000)

    waits: list[float] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(system_file("chromium")), args=list(CHROMIUM_FLAGS)
        )
        context = await browser.new_context(viewport={"width": 1366, "height": 900})
        await context.add_cookies([{"name": "sb-127-auth-token", "value": cookie, "url": url}])
        page = await context.new_page()
        page.on("requestfinished", on_finished)
        await page.goto(f"{url}/monitoramento")
        await keyboard_list.open(page)
        for _ in range(items - 1):  # the last decision has no next item to wait for
            current = await page.get_attribute(keyboard_list.current_selector, keyboard_list.id_attribute)
            t0 = time.perf_counter()
            await page.keyboard.press(keyboard_list.key)
            await page.wait_for_function(
                NEXT_READY_JS,
                arg={
                    "selector": keyboard_list.current_selector,
                    "attribute": keyboard_list.id_attribute,
                    "previous": current,
                },
                polling="raf",
                timeout=30_000,
            )
            waits.append(time.perf_counter() - t0)
        await page.keyboard.press(keyboard_list.key)
        await page.wait_for_selector(f"text={keyboard_list.empty_text}", timeout=60_000)
        for _ in range(300):  # let every decision's response arrive (at most 30 s)
            if len(round_trips) >= items:
                break
            await page.wait_for_timeout(100)
        await browser.close()
    return waits, round_trips


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


def report(
    title: str,
    wait_label: str,
    baseline_label: str,
    waits: list[float],
    round_trips: list[float],
    build: float,
    total: float,
    *,
    seconds_per_item: bool = False,
) -> None:
    waits_ms = sorted(w * 1000 for w in waits)
    trips_ms = sorted(t * 1000 for t in round_trips)
    print(title)
    print(
        f"  UI wait per item ({wait_label}):"
        f" mean {statistics.mean(waits_ms):.0f} ms,"
        f" p50 {percentile(waits_ms, 0.5):.0f} ms, p95 {percentile(waits_ms, 0.95):.0f} ms,"
        f" max {waits_ms[-1]:.0f} ms"
    )
    print(
        f"  baseline, {baseline_label}:"
        f" mean {statistics.mean(trips_ms):.0f} ms,"
        f" p50 {percentile(trips_ms, 0.5):.0f} ms ({len(trips_ms)} requests)"
    )
    ratio = f"  ratio UI wait / round trip (p50): {percentile(waits_ms, 0.5) / percentile(trips_ms, 0.5):.2f}"
    if seconds_per_item:
        ratio += f"  — seconds per item waiting on the UI: {statistics.mean(waits_ms) / 1000:.3f}"
    print(ratio)
    print(f"  (next build {build:.0f}s, whole run {total:.0f}s)")
