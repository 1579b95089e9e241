"""End to end: the whole worker (OFF request, image download, normalize, store, complete) against
stand-ins that take 300 ms per request, at concurrency 5, 20 and 50, and with 3 worker processes.

The bound is what the external services allow: every job needs two requests (OFF, then the
image), so N jobs at concurrency C cannot take less than N × 2 × latency / C. Efficiency =
bound / measured (1.0 = the worker adds nothing). The baseline in the same run: the same worker
with image work on the event loop (as before the image pool), at concurrency 20.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg

from bench.common import Report, insert_products, migrated_database, quiet_logs
from worker.images import JUDGE_SIDE, NormalizedImage, normalize_image
from worker.offline.postgres import LocalPostgres
from worker.runner import open_worker
from worker.settings import load_settings
from worker.stats import LoopLagMonitor

LATENCY = 0.3


@contextlib.contextmanager
def standins(latency: float, not_found: float = 0.0) -> Iterator[dict[str, str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.standins", "--latency", str(latency), "--not-found", str(not_found)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        urls: dict[str, str] = json.loads(process.stdout.readline())
        yield urls
    finally:
        process.terminate()
        process.wait(10)


def worker_env(dsn: str, urls: dict[str, str], storage_dir: str, concurrency: int) -> dict[str, str]:
    return {
        "DATABASE_URL": dsn,
        "OFF_BASE_URL": urls["off"],
        "OFF_RATE_LIMIT_PER_MINUTE": "100000",
        "OFF_MAX_RETRIES": "0",
        "IMAGE_FETCH_ALLOW_HOSTS": "127.0.0.1",
        "STORAGE_BACKEND": "local",
        "LOCAL_STORAGE_DIR": storage_dir,
        "RATE_LIMIT_DIR": str(Path(storage_dir) / "ratelimit"),
        "WORKER_CONCURRENCY": str(concurrency),
        "LOG_JSON": "true",
    }


class OnTheLoop:
    """The baseline: Pillow work on the event loop, as the worker did before the image pool."""

    async def normalize(
        self, data: bytes, max_side: int = 1200, judge_side: int | None = JUDGE_SIDE
    ) -> NormalizedImage:
        return normalize_image(data, max_side, judge_side)


async def reset(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("truncate public.image_jobs, public.products cascade")
        await conn.execute("select imagefill.compact_image_tally()")
    finally:
        await conn.close()


async def pending(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("select count(*) from public.image_jobs where status <> 'done'"))
    finally:
        await conn.close()


async def in_process_run(
    dsn: str, urls: dict[str, str], jobs: int, concurrency: int, *, on_loop: bool = False
) -> tuple[float, float]:
    """Seconds to drain `jobs`, and the worst event-loop lag seen meanwhile."""
    await reset(dsn)
    await insert_products(dsn, jobs)
    with tempfile.TemporaryDirectory() as storage_dir:
        os.environ.update(worker_env(dsn, urls, storage_dir, concurrency))
        settings = load_settings()
        async with open_worker(settings) as runner, LoopLagMonitor(interval=0.01) as lag:
            if on_loop:
                runner.pipeline.image_pool = OnTheLoop()  # type: ignore[assignment]
            started = time.perf_counter()
            await runner.run(until_idle=lambda: _drained(runner))
            elapsed = time.perf_counter() - started
    left = await pending(dsn)
    assert left == 0, f"{left} jobs not done"
    return elapsed, lag.max_lag


async def _drained(runner: object) -> bool:
    queue = runner.queue  # type: ignore[attr-defined]
    return bool(await queue.due_count(runner.kinds) == 0)  # type: ignore[attr-defined]


async def processes_run(dsn: str, urls: dict[str, str], jobs: int, processes: int, concurrency: int) -> float:
    await reset(dsn)
    with tempfile.TemporaryDirectory() as storage_dir:
        env = {**os.environ, **worker_env(dsn, urls, storage_dir, concurrency)}
        workers = [spawn_worker(env) for _ in range(processes)]
        try:
            await _wait_for_listeners(dsn, processes)
            started = time.perf_counter()
            await insert_products(dsn, jobs)
            while await pending(dsn):  # noqa: ASYNC110 -- the state lives in the database
                await asyncio.sleep(0.05)
            return time.perf_counter() - started
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                worker.wait(30)


def spawn_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """One `imagefill run` process, its logs discarded."""
    return subprocess.Popen([sys.executable, "-m", "worker.cli", "run"], env=env, stderr=subprocess.DEVNULL)


async def _wait_for_listeners(dsn: str, count: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for _ in range(600):
            listening = await conn.fetchval(
                "select count(*) from pg_stat_activity where application_name = 'imagefill listener'"
                " and datname = current_database()"
            )
            if listening >= count:
                return
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    raise TimeoutError("workers did not start listening")


async def run(pg: LocalPostgres, report: Report, scale: float = 1.0) -> None:
    dsn = await migrated_database(pg, "bench_e2e")
    plan = [(5, int(200 * scale)), (20, int(500 * scale)), (50, int(500 * scale))]
    async with quiet_logs():
        with standins(LATENCY) as urls:
            for concurrency, jobs in plan:
                elapsed, lag = await in_process_run(dsn, urls, jobs, concurrency)
                bound = jobs * 2 * LATENCY / concurrency
                report.add(
                    "end-to-end",
                    f"{jobs} products, 300 ms per request, concurrency {concurrency}",
                    f"{elapsed:.1f} s",
                    f"bound {bound:.1f} s",
                    f"efficiency {bound / elapsed:.2f}",
                    f"worst event-loop lag {lag * 1000:.0f} ms",
                )
                if concurrency == 20:
                    base_elapsed, base_lag = await in_process_run(dsn, urls, jobs, concurrency, on_loop=True)
                    report.add(
                        "end-to-end",
                        "same, concurrency 20, image work ON the loop (the old way)",
                        f"{base_elapsed:.1f} s",
                        f"bound {bound:.1f} s",
                        f"efficiency {bound / base_elapsed:.2f}",
                        f"worst event-loop lag {base_lag * 1000:.0f} ms;"
                        f" pool speed-up {base_elapsed / elapsed:.2f}×",
                    )
            jobs = int(500 * scale)
            elapsed = await processes_run(dsn, urls, jobs, processes=3, concurrency=5)
            bound = jobs * 2 * LATENCY / 15
            report.add(
                "end-to-end",
                f"{jobs} products, 3 worker processes × concurrency 5",
                f"{elapsed:.1f} s",
                f"bound {bound:.1f} s",
                f"efficiency {bound / elapsed:.2f}",
                "timed from the bulk insert (LISTEN wake-up included)",
            )


async def main(scale: float) -> None:
    report = Report()
    with LocalPostgres() as pg:
        await run(pg, report, scale)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the number of products")
    args = parser.parse_args()
    asyncio.run(main(args.scale))
