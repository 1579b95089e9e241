"""Database queries and update latency of one open /monitoramento panel, live (Supabase Realtime)
against polling, in the same run: the real panel in Chromium against the PostgREST and Realtime
stand-ins on one base URL; every RPC the panel's routes make is counted at the PostgREST stand-in.

Per mode (live first, then polling: the same panel with the Realtime stand-in stopped, what a
project without Realtime gets):

* idle: `--jobs` products are queued (the import's triggers), then nothing changes for `--idle`
  seconds: queries per minute;
* drain: the `--jobs` jobs are claimed and completed in statements of 5 (as the worker's group
  commit does), PACED evenly over `--drain-seconds` (10,000 over 60 s = ~167 jobs/s, a busy fleet
  of workers), with `imagefill.flush_broadcasts()` once a second as the workers' poll tick calls
  it: queries per minute during the drain;
* latency: every completion statement is a sample: its commit time (wall clock) and the
  `needs_review` count it brought; a MutationObserver in the page records when the panel's counter
  changes, and the sample's latency is the first time the panel shows that count or more.

The drain is not a batch started from this panel (the queue came from the catalogue), so polling
runs at the panel's idle rates (counters every 5 s, review list every 4 s).
Worker wake-up (realtime vs listen) is bench_wakeup's (`python -m bench.bench_wakeup`).
Standalone, like bench_review_speed (it builds the panel): `make bench-realtime`, or

    .venv/bin/python -m bench.bench_realtime --idle 60 --jobs 10000 --drain-seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from playwright.async_api import Page, async_playwright

from bench.common import ean13, percentile
from worker.migrate import apply_migrations
from worker.offline.panel import NextServer, build_web, serve
from worker.offline.postgres import LocalPostgres
from worker.offline.postgrest import PostgrestStandIn, StandInUser
from worker.offline.realtime_server import RealtimeStandIn
from worker.offline.system_deps import system_file
from worker.stages.browser import CHROMIUM_FLAGS

OPERATOR = StandInUser("00000000-0000-4000-8000-0000000be7c5", "bench-rt@example.com", "bench")
STATEMENT = 5  # jobs per completion statement, as the worker's group commit
FLUSH_EVERY = 1.0  # seconds between flush_broadcasts calls (the workers' poll ticks)

# Records [Date.now(), value] each time the needs_review counter's text changes.
RECORDER = """() => {
  window.__shown = [];
  const read = () => Number(document.querySelector('[data-counter=needs_review] dd')?.textContent);
  let last = read();
  window.__shown.push([Date.now(), last]);
  new MutationObserver(() => {
    const value = read();
    if (value !== last) { last = value; window.__shown.push([Date.now(), value]); }
  }).observe(document.body, { subtree: true, childList: true, characterData: true });
}"""


@dataclass
class Mode:
    name: str
    idle_per_minute: float = 0.0
    drain_queries: int = 0
    drain_seconds: float = 0.0
    jobs_per_second: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    drain_rpcs: Counter[str] = field(default_factory=Counter)
    drain_broadcasts: int = 0

    @property
    def drain_per_minute(self) -> float:
        return self.drain_queries * 60 / self.drain_seconds


async def queue_products(dsn: str, jobs: int, seed: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "insert into public.products (name, ean) select 'B' || g, e"
            " from unnest($1::text[]) with ordinality as t(e, g)",
            [ean13(seed + n) for n in range(jobs)],
        )
    finally:
        await conn.close()


async def needs_review(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(
            await conn.fetchval("select count(*) from public.products where image_status = 'needs_review'")
        )
    finally:
        await conn.close()


async def paced_drain(dsn: str, jobs: int, seconds: float, base: int) -> list[tuple[float, int]]:
    """Completes the queued jobs STATEMENT at a time, statement k due at k * seconds / statements;
    returns (commit wall-clock ms, needs_review count after it) per statement."""
    conn = await asyncpg.connect(dsn)
    samples: list[tuple[float, int]] = []
    interval = seconds / -(-jobs // STATEMENT)
    try:
        start = time.perf_counter()
        next_flush = start + FLUSH_EVERY
        done = 0
        while True:
            due = start + len(samples) * interval
            now = time.perf_counter()
            if due > now:
                await asyncio.sleep(due - now)
            ids = [
                r["job_id"]
                for r in await conn.fetch("select job_id from imagefill.claim_image_jobs('b', $1)", STATEMENT)
            ]
            if not ids:
                break
            items = [{"job_id": str(i), "image_status": "needs_review"} for i in ids]
            await conn.fetch("select * from imagefill.complete_image_jobs('b', $1::jsonb)", json.dumps(items))
            done += len(ids)
            samples.append((time.time() * 1000, base + done))
            if time.perf_counter() >= next_flush:
                await conn.fetchval("select imagefill.flush_broadcasts()")
                next_flush += FLUSH_EVERY
        await conn.fetchval("select imagefill.flush_broadcasts()")  # the burst's trailing edge
        return samples
    finally:
        await conn.close()


async def shows(page: Page, value: int) -> None:
    await page.wait_for_function(
        "v => Number(document.querySelector('[data-counter=needs_review] dd')?.textContent) >= v",
        arg=value,
        polling="raf",
        timeout=120_000,
    )


def latencies(samples: list[tuple[float, int]], shown: list[list[float]]) -> list[float]:
    """For each sample, the first time the panel showed its count (or more), minus its commit."""
    out: list[float] = []
    i = 0
    for committed, count in samples:
        while i < len(shown) and shown[i][1] < count:
            i += 1
        if i == len(shown):
            break
        out.append(max(0.0, shown[i][0] - committed))
    return out


def ratio(live: float, poll: float) -> str:
    return f"{live / poll:.2f}" if poll else "-"


def table(modes: list[Mode], jobs: int, drain_seconds: float) -> str:
    live, poll = modes
    rate = live.jobs_per_second, poll.jobs_per_second
    p50 = [percentile(m.latencies_ms, 0.5) for m in modes]
    p95 = [percentile(m.latencies_ms, 0.95) for m in modes]
    rows: list[tuple[str, float, float, str]] = [
        ("idle panel, queries/min", live.idle_per_minute, poll.idle_per_minute, "{:.1f}"),
        (f"{jobs}-job drain, queries/min", live.drain_per_minute, poll.drain_per_minute, "{:.1f}"),
        ("job done → panel shows it, p50 ms", p50[0], p50[1], "{:.0f}"),
        ("job done → panel shows it, p95 ms", p95[0], p95[1], "{:.0f}"),
    ]
    lines = [
        "one open /monitoramento panel; queries = RPCs through PostgREST;"
        " live = Realtime, polling = Realtime stand-in stopped",
        f"drain paced over {drain_seconds:g} s: live {rate[0]:.0f} jobs/s in {live.drain_seconds:.1f} s,"
        f" polling {rate[1]:.0f} jobs/s in {poll.drain_seconds:.1f} s; latency samples: live"
        f" {len(live.latencies_ms)}, polling {len(poll.latencies_ms)} (one per completion statement)",
        f"{'':38} {'live':>9} {'polling':>9} {'live/polling':>13}",
    ]
    for label, a, b, fmt in rows:
        lines.append(f"{label:38} {fmt.format(a):>9} {fmt.format(b):>9} {ratio(a, b):>13}")
    return "\n".join(lines)


async def measure(idle: float, jobs: int, drain_seconds: float) -> None:
    await asyncio.to_thread(build_web)
    workdir = Path(tempfile.mkdtemp(prefix="bench-realtime-"))
    modes: list[Mode] = []
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
                for name in ("live", "poll"):
                    mode = Mode(name)
                    if name == "poll":
                        await realtime.stop_serving()
                    await queue_products(dsn, jobs, 1_000_000 * (1 + len(modes)))
                    base = await needs_review(dsn)
                    await page.goto(f"{server.url}/monitoramento")
                    await page.wait_for_selector(f'[data-testid=modo][data-mode="{name}"]', timeout=30_000)
                    await page.wait_for_timeout(2000)  # the queueing's ping and the join's fetch settle
                    before = len(stand_in.calls)
                    await page.wait_for_timeout(idle * 1000)
                    mode.idle_per_minute = (len(stand_in.calls) - before) * 60 / idle
                    await page.evaluate(RECORDER)
                    before, delivered = len(stand_in.calls), realtime.delivered
                    started = time.perf_counter()
                    samples = await paced_drain(dsn, jobs, drain_seconds, base)
                    mode.drain_seconds = time.perf_counter() - started
                    mode.drain_queries = len(stand_in.calls) - before
                    mode.drain_rpcs = Counter(fn for fn, _role in stand_in.calls[before:])
                    mode.drain_broadcasts = realtime.delivered - delivered
                    mode.jobs_per_second = (samples[-1][1] - base) / mode.drain_seconds
                    await shows(page, samples[-1][1])
                    shown = await page.evaluate("window.__shown")
                    mode.latencies_ms = latencies(samples, shown)
                    modes.append(mode)
                await browser.close()
        finally:
            server.stop()
            await runner.cleanup()
    print(table(modes, jobs, drain_seconds))
    for mode in modes:
        rpcs = ", ".join(f"{fn} {n}" for fn, n in mode.drain_rpcs.most_common())
        print(f"drain RPCs, {mode.name}: {rpcs}; broadcasts delivered to the panel: {mode.drain_broadcasts}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of idle panel per mode")
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs drained per mode")
    parser.add_argument("--drain-seconds", type=float, default=60.0, help="the drain is paced over this long")
    args = parser.parse_args()
    asyncio.run(measure(args.idle, args.jobs, args.drain_seconds))


if __name__ == "__main__":
    main()
