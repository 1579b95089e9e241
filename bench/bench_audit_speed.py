"""How long the audit list ("Aprovadas automaticamente") makes an operator wait: Chromium clears N
automatic approvals with the keyboard only (`C` confirms) and we time, per item, from the key press
until the next item is selected with its picture loaded — the same measure as bench_review_speed.py.

Baseline in the same run: the server round trip of each confirmation (`POST
/api/imagefill/audit-confirm`), i.e. what the operator would wait per item if the panel waited for
the server before moving on. The goal: a wait well under 200 ms and a ratio below 1.

    .venv/bin/python -m bench.bench_audit_speed --items 50
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import tempfile
import time
from pathlib import Path

import asyncpg
from playwright.async_api import Request, async_playwright

from bench.bench_review_speed import OPERATOR, ean13
from tests.audit_history import complete_claimed_jobs
from worker.migrate import apply_migrations
from worker.offline.panel import NextServer, build_web, serve
from worker.offline.postgres import LocalPostgres
from worker.offline.postgrest import PostgrestStandIn
from worker.offline.services import OfflineServices
from worker.offline.system_deps import system_file
from worker.stages.browser import CHROMIUM_FLAGS

NEXT_READY_JS = """
(previous) => {
  const item = document.querySelector('li.auditada[aria-current="true"]');
  if (!item || item.dataset.approvalId === previous) return false;
  return [...item.querySelectorAll('img')].every((img) => img.complete && img.naturalWidth > 0);
}
"""


async def prepare(pg: LocalPostgres, image_base_url: str, items: int) -> None:
    """`items` products whose pictures the judge approved, each completed by the worker's own SQL
    function, each picture at its own URL (the browser's cache cannot flatter the panel). The
    sample takes every approval (sample_rate 1, set as the README says) so the list holds them all."""
    await apply_migrations(pg.dsn(user="postgres"))
    conn = await asyncpg.connect(pg.dsn())
    try:
        codes = [ean13(80_000 + n) for n in range(items)]
        rows = await conn.fetch(
            "insert into public.products (name, brand, ean)"
            " select * from unnest($1::text[], $2::text[], $3::text[]) returning id::text, ean",
            [f"Produto aprovado {n + 1}" for n in range(items)],
            ["Marca"] * items,
            codes,
        )
        await complete_claimed_jobs(
            conn,
            {
                r["id"]: (
                    f"{image_base_url}/marked/{r['ean']}/9/packshot/600x800/frente.jpg",
                    "openfoodfacts",
                    0.93,
                    "mesmo produto, mesma embalagem",
                    None,
                )
                for r in rows
            },
        )
        await conn.execute("update imagefill.audit_settings set sample_rate = 1")
    finally:
        await conn.close()


async def measure(items: int) -> None:
    started = time.monotonic()
    build_seconds = await asyncio.to_thread(build_web)
    workdir = Path(tempfile.mkdtemp(prefix="bench-audit-"))
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
                waits, round_trips = await clear_audit(server.url, stand_in, items)
            finally:
                server.stop()
                await runner.cleanup()
    report(items, waits, round_trips, build_seconds, time.monotonic() - started)


async def clear_audit(url: str, stand_in: PostgrestStandIn, items: int) -> tuple[list[float], list[float]]:
    session = stand_in.session_for(OPERATOR.id, OPERATOR.email)
    cookie = "base64-" + base64.urlsafe_b64encode(json.dumps(session).encode()).decode().rstrip("=")
    round_trips: list[float] = []

    def on_finished(request: Request) -> None:
        if request.url.endswith("/api/imagefill/audit-confirm"):
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
        await page.wait_for_selector('.painel[data-ready="true"]')
        await page.get_by_role("tab", name="Aprovadas automaticamente").click()
        await page.wait_for_selector('li.auditada[aria-current="true"] img')
        for _ in range(items - 1):  # the last decision has no next item to wait for
            current = await page.get_attribute('li.auditada[aria-current="true"]', "data-approval-id")
            t0 = time.perf_counter()
            await page.keyboard.press("c")
            await page.wait_for_function(NEXT_READY_JS, arg=current, polling="raf", timeout=30_000)
            waits.append(time.perf_counter() - t0)
        await page.keyboard.press("c")
        await page.wait_for_selector("text=Nada a auditar na amostra agora", timeout=60_000)
        for _ in range(300):  # let every confirmation's response arrive (at most 30 s)
            if len(round_trips) >= items:
                break
            await page.wait_for_timeout(100)
        await browser.close()
    return waits, round_trips


def report(items: int, waits: list[float], round_trips: list[float], build: float, total: float) -> None:
    waits_ms = sorted(w * 1000 for w in waits)
    trips_ms = sorted(t * 1000 for t in round_trips)

    def pct(values: list[float], q: float) -> float:
        return values[min(len(values) - 1, int(q * len(values)))]

    print(f"audit speed: {items} automatic approvals cleared with the keyboard (C) in Chromium")
    print(
        "  UI wait per item (key press → next item ready, picture loaded):"
        f" mean {statistics.mean(waits_ms):.0f} ms,"
        f" p50 {pct(waits_ms, 0.5):.0f} ms, p95 {pct(waits_ms, 0.95):.0f} ms, max {waits_ms[-1]:.0f} ms"
    )
    print(
        "  baseline, confirm round trip (POST /api/imagefill/audit-confirm):"
        f" mean {statistics.mean(trips_ms):.0f} ms,"
        f" p50 {pct(trips_ms, 0.5):.0f} ms ({len(trips_ms)} requests)"
    )
    print(f"  ratio UI wait / round trip (p50): {pct(waits_ms, 0.5) / pct(trips_ms, 0.5):.2f}")
    print(f"  (next build {build:.0f}s, whole run {total:.0f}s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(measure(args.items))


if __name__ == "__main__":
    main()
