"""A backfill through stand-ins that enforce the providers' limits as they do (Brave's free plan:
1 request per second; OpenAI: 500 requests per minute; both answer a 429 without Retry-After past
them) gets no 429 at all: three real `imagefill run` processes, five jobs each, pace their calls
together on the host and hold when an answer says the window is used up."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from tests.acceptance.conftest import WorkerProcess
from tests.acceptance.test_budget_cap_across_replicas import settled, unknown_ean
from tests.harness import wait_until
from worker.offline.search_server import WebPicture
from worker.offline.services import OfflineServices


async def test_a_backfill_at_the_plans_limits_gets_no_429(
    start_worker: Callable[..., WorkerProcess],
    db_conn: asyncpg.Connection,
    services: OfflineServices,
) -> None:
    assert services.search is not None
    services.search.per_second, services.search.enforce_rate = 1, True
    services.openai.requests_per_minute = 500
    for n in range(6):
        services.search.add(f"lote{n:03d}x", WebPicture(unknown_ean(700 + n), 9, "packshot", 900, 900))
    for _ in range(3):
        start_worker(
            judge=True,
            search=True,
            WORKER_CONCURRENCY="5",
            IMAGE_SEARCH_RATE_PER_SECOND="1",
            OPENAI_REQUESTS_PER_MINUTE="500",
        )
    await db_conn.executemany(
        "insert into public.products (name, brand, ean) values ($1, 'Marca', $2)",
        [(f"Biscoito Lote{n:03d}x 200g", unknown_ean(700 + n)) for n in range(8)],
    )
    await wait_until(lambda: settled(db_conn), within=120)

    assert len(services.search.requests) >= 8  # every product asked, one request each at least
    assert await db_conn.fetchval("select count(*) from public.products where image_status = 'ok'") == 6
    assert services.search.rate_limited == []
    assert services.openai.rate_limited == []
