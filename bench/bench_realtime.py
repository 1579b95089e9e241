"""Database queries caused by one open /monitoramento panel, live (Supabase Realtime) against
polling, in the same run: the real panel in Chromium against the PostgREST and Realtime stand-ins on
one base URL; every RPC the panel's routes make is counted at the PostgREST stand-in.

* idle: nothing changes for `--idle` seconds;
* drain: `--jobs` jobs are claimed and completed in statements of 5 (as the worker's group commit
  does), as fast as the database takes them, then the panel must show the final counters; the time
  from the last completion to the panel showing it is the update latency.

Polling mode is the same panel with the Realtime stand-in stopped (what a project without Realtime
gets). Standalone, like bench_review_speed (it builds the panel):

    .venv/bin/python -m bench.bench_realtime --idle 60 --jobs 1000
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import tempfile
import time
from pathlib import Path

import asyncpg
from playwright.async_api import Page, async_playwright

from worker.migrate import apply_migrations
from worker.offline.panel import NextServer, build_web, serve
from worker.offline.postgres import LocalPostgres
from worker.offline.postgrest import PostgrestStandIn, StandInUser
from worker.offline.realtime_server import RealtimeStandIn
from worker.offline.system_deps import system_file
from worker.stages.browser import CHROMIUM_FLAGS

OPERATOR = StandInUser("00000000-0000-4000-8000-0000000be7c5", "bench-rt@example.com", "bench")


def ean13(seed: int) -> str:
    body = f"789{seed:09d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


async def drain(dsn: str, jobs: int, seed: int) -> float:
    """Queues `jobs` products and completes them 5 per statement; returns when the last committed."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "insert into public.products (name, ean) select 'B' || g, e"
            " from unnest($1::text[]) with ordinality as t(e, g)",
            [ean13(seed + n) for n in range(jobs)],
        )
        while True:
            ids = [
                r["job_id"] for r in await conn.fetch("select job_id from imagefill.claim_image_jobs('b', 5)")
            ]
            if not ids:
                return time.perf_counter()
            items = [{"job_id": str(i), "image_status": "needs_review"} for i in ids]
            await conn.fetch("select * from imagefill.complete_image_jobs('b', $1::jsonb)", json.dumps(items))
    finally:
        await conn.close()


async def shows(page: Page, counter: str, value: int) -> float:
    await page.wait_for_function(
        "([c, v]) => document.querySelector(`[data-counter=${c}] dd`)?.textContent === String(v)",
        arg=[counter, value],
        polling="raf",
        timeout=120_000,
    )
    return time.perf_counter()


async def measure(idle: float, jobs: int) -> None:
    await asyncio.to_thread(build_web)
    workdir = Path(tempfile.mkdtemp(prefix="bench-realtime-"))
    rows: list[str] = []
    with LocalPostgres() as pg:
        pg.install_platform_standin()
        dsn = pg.dsn(user="postgres")
        await apply_migrations(dsn)
        stand_in = PostgrestStandIn(pg.dsn(user="authenticator"), users=[OPERATOR])
        realtime = RealtimeStandIn(dsn)
        runner, api_url = await serve(realtime.attach(stand_in.app))
        server = await asyncio.to_thread(NextServer.start, api_url, stand_in.anon_key, workdir / "next.log")
        session = stand_in.session_for(OPERATOR.id, OPERATOR.email)
        cookie = "base64-" + base64.urlsafe_b64encode(json.dumps(session).encode()).decode().rstrip("=")
        try:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=str(system_file("chromium")), args=list(CHROMIUM_FLAGS)
                )
                context = await browser.new_context()
                await context.add_cookies([{"name": "sb-127-auth-token", "value": cookie, "url": server.url}])
                page = await context.new_page()
                done = 0
                for mode in ("live", "poll"):
                    if mode == "poll":
                        await realtime.stop_serving()
                    await page.goto(f"{server.url}/monitoramento")
                    await page.wait_for_selector(f'[data-testid=modo][data-mode="{mode}"]', timeout=30_000)
                    await page.wait_for_timeout(1500)
                    before = len(stand_in.calls)
                    await page.wait_for_timeout(idle * 1000)
                    per_minute = (len(stand_in.calls) - before) * 60 / idle
                    rows.append(f"idle panel, {mode}: {per_minute:.1f} queries/min")
                    before = len(stand_in.calls)
                    started = time.perf_counter()
                    last_commit = await drain(dsn, jobs, 100_000 * (1 + len(rows)))
                    done += jobs
                    seen = await shows(page, "needs_review", done)
                    minutes = (seen - started) / 60
                    rows.append(
                        f"{jobs}-job drain, {mode}: {len(stand_in.calls) - before} queries"
                        f" ({(len(stand_in.calls) - before) / minutes:.0f}/min over {seen - started:.1f} s),"
                        f" last completion → panel shows it {1000 * (seen - last_commit):.0f} ms,"
                        f" {realtime.delivered} broadcasts delivered so far"
                    )
                await browser.close()
        finally:
            server.stop()
            await runner.cleanup()
    print("realtime vs polling, one open panel (queries = RPCs through PostgREST):")
    for row in rows:
        print("  " + row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle", type=float, default=60.0)
    parser.add_argument("--jobs", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(measure(args.idle, args.jobs))


if __name__ == "__main__":
    main()
