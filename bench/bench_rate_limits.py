"""A backfill through stand-ins that enforce the providers' limits (issue 20): Brave's free plan
(1 request per second, a 429 without Retry-After past it) and OpenAI's 500 requests per minute
(a 429 `rate_limit_exceeded` without Retry-After once the bucket is empty).

Real `imagefill run` processes (3 × 5 jobs) at the plans' pace (IMAGE_SEARCH_RATE_PER_SECOND=1,
OPENAI_REQUESTS_PER_MINUTE=500, the defaults), paced together on the host and from the providers'
rate-limit headers. Measured: the 429s the stand-ins answered (goal 0) and the efficiency, the
bound those limits set for the requests made (Brave requests / 1 per second, OpenAI requests /
500 per minute, whichever is longer) over the wall time from the insert to the last job settled
(goal ≥ 0.9). The product count keeps the run near a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time

import asyncpg

from bench.bench_e2e import _wait_for_listeners, spawn_worker
from bench.common import Report, migrated_database
from worker.gtin import check_digit
from worker.offline.postgres import LocalPostgres
from worker.offline.search_server import WebPicture
from worker.offline.services import OfflineServices

PROCESSES, CONCURRENCY = 3, 5
FOUND, NOT_FOUND = 45, 15  # found by the first query; nothing of theirs on the web
BRAVE_PER_SECOND, OPENAI_PER_MINUTE = 1, 500


def ean(n: int) -> str:
    body = f"789{500_000 + n:09d}"
    return body + str(check_digit(body))


async def backfill(pg: LocalPostgres, found: int, not_found: int) -> tuple[int, int, int, float, int]:
    """(Brave requests, OpenAI requests, 429s, wall seconds, products approved)."""
    dsn = await migrated_database(pg, "bench_rate_limits")
    async with OfflineServices() as services:
        assert services.search is not None
        services.search.per_second, services.search.enforce_rate = BRAVE_PER_SECOND, True
        services.openai.requests_per_minute = OPENAI_PER_MINUTE
        names = [f"Biscoito Lote{n:03d}x 200g" for n in range(found + not_found)]
        for n in range(found):
            services.search.add(f"lote{n:03d}x", WebPicture(ean(n), 9, "packshot", 900, 900))
        with tempfile.TemporaryDirectory() as tmp:
            env = {
                **os.environ,
                **services.worker_env(dsn, storage="local", judge=True, search=True),
                "LOCAL_STORAGE_DIR": f"{tmp}/storage",
                "RATE_LIMIT_DIR": f"{tmp}/ratelimit",
                "IMAGE_SEARCH_RATE_PER_SECOND": str(BRAVE_PER_SECOND),
                "OPENAI_REQUESTS_PER_MINUTE": str(OPENAI_PER_MINUTE),
                "WORKER_CONCURRENCY": str(CONCURRENCY),
                "WORKER_POLL_SECONDS": "0.5",
                "LOG_JSON": "true",
            }
            workers = [spawn_worker(env) for _ in range(PROCESSES)]
            conn = await asyncpg.connect(dsn)
            try:
                await _wait_for_listeners(dsn, PROCESSES)
                started = time.perf_counter()
                await conn.executemany(
                    "insert into public.products (name, brand, ean) values ($1, 'Marca', $2)",
                    [(name, ean(n)) for n, name in enumerate(names)],
                )
                unsettled = "select count(*) from public.image_jobs where status in ('queued', 'running')"
                while await conn.fetchval(unsettled):  # noqa: ASYNC110 -- the state lives in the database
                    await asyncio.sleep(0.05)
                wall = time.perf_counter() - started
                approved = await conn.fetchval(
                    "select count(*) from public.products where image_status = 'ok'"
                )
            finally:
                await conn.close()
                for worker in workers:
                    worker.terminate()
                for worker in workers:
                    worker.wait(30)
        refused = len(services.search.rate_limited) + len(services.openai.rate_limited)
        return len(services.search.requests), len(services.openai.calls), refused, wall, int(approved)


async def run(pg: LocalPostgres, report: Report, found: int = FOUND, not_found: int = NOT_FOUND) -> None:
    brave, openai_calls, refused, wall, approved = await backfill(pg, found, not_found)
    bound = max(brave / BRAVE_PER_SECOND, openai_calls / (OPENAI_PER_MINUTE / 60))
    report.add(
        "rate limits",
        f"backfill of {found + not_found} products ({approved} approved by search), {PROCESSES}"
        f" `imagefill run` × {CONCURRENCY} jobs, stand-ins enforcing Brave {BRAVE_PER_SECOND} req/s"
        f" and OpenAI {OPENAI_PER_MINUTE} req/min",
        f"{refused} 429s; wall {wall:.1f} s",
        f"bound {bound:.1f} s ({brave} Brave requests at {BRAVE_PER_SECOND}/s;"
        f" {openai_calls} OpenAI requests at {OPENAI_PER_MINUTE}/min)",
        f"efficiency {bound / wall:.2f}",
        "goals: 0 429s, efficiency ≥ 0.9",
    )


async def main(found: int, not_found: int) -> None:
    with LocalPostgres() as pg:
        await run(pg, Report(), found, not_found)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--found", type=int, default=FOUND)
    parser.add_argument("--not-found", type=int, default=NOT_FOUND)
    args = parser.parse_args()
    asyncio.run(main(args.found, args.not_found))
