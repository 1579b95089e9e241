"""Memory over a long run: one `imagefill run` process drains 10,000 jobs (stand-ins without
latency; 80 % of the EANs unknown to OFF, 20 % with a front image to download, normalize and
store). RSS is sampled from /proc every 0.25 s against the number of jobs done; the slope over
the second half of the run says whether memory grows with the work (a leak) or stays flat.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

import asyncpg

from bench.bench_e2e import _wait_for_listeners, reset, spawn_worker, standins, worker_env
from bench.common import Report, insert_products, migrated_database
from worker.offline.postgres import LocalPostgres


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / var if var else 0.0


async def run(pg: LocalPostgres, report: Report, jobs: int = 10_000) -> None:
    dsn = await migrated_database(pg, "bench_rss")
    await reset(dsn)
    with standins(0.0, not_found=0.8) as urls, tempfile.TemporaryDirectory() as storage_dir:
        env = {**os.environ, **worker_env(dsn, urls, storage_dir, concurrency=20)}
        worker = spawn_worker(env)
        conn = await asyncpg.connect(dsn)
        try:
            await _wait_for_listeners(dsn, 1)
            idle_rss = rss_mb(worker.pid)
            started = time.perf_counter()
            await insert_products(dsn, jobs)
            samples: list[tuple[float, float]] = []
            while True:
                done = int(
                    await conn.fetchval("select count(*) from public.image_jobs where status = 'done'")
                )
                samples.append((done, rss_mb(worker.pid)))
                if done >= jobs:
                    break
                if time.perf_counter() - started > 600:
                    raise TimeoutError(f"only {done} of {jobs} jobs done in 10 minutes")
                await asyncio.sleep(0.25)
            elapsed = time.perf_counter() - started
        finally:
            await conn.close()
            worker.terminate()
            worker.wait(30)
    peak = max(rss for _, rss in samples)
    second_half = [(done, rss) for done, rss in samples if done >= jobs / 2]
    per_1000 = slope(second_half) * 1000
    report.add(
        "memory",
        f"RSS of one worker over {jobs:,} jobs (concurrency 20, 20 % with images)",
        f"idle {idle_rss:.0f} MB, peak {peak:.0f} MB",
        "second half of the run",
        f"slope {per_1000:+.2f} MB per 1,000 jobs",
        f"{jobs / elapsed:.0f} jobs/s",
    )


async def main(jobs: int) -> None:
    report = Report()
    with LocalPostgres() as pg:
        await run(pg, report, jobs)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    args = parser.parse_args()
    asyncio.run(main(args.jobs))
