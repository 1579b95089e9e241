"""Each paid provider is paced to its plan's limit before the call, by every worker process on
the host together (IMAGE_SEARCH_RATE_PER_SECOND, OPENAI_REQUESTS_PER_MINUTE): three real
`imagefill run` processes, each running three jobs at once, never send faster than the plan."""

from __future__ import annotations

import time
from collections.abc import Callable

import asyncpg

from tests.acceptance.conftest import WorkerProcess
from tests.acceptance.test_budget_cap_across_replicas import settled, unknown_ean
from tests.acceptance.test_worker_end_to_end import insert_product
from tests.harness import wait_until
from worker.offline.services import OfflineServices

SEARCH_PER_SECOND = 2.0
OPENAI_PER_MINUTE = 120.0


async def all_listening(workers: list[WorkerProcess]) -> bool:
    """Every process is up and waiting for jobs (so the clock below starts with the work)."""
    try:
        return all(w.health().get("listener_connected") is True for w in workers)
    except OSError:
        return False


def paced_bound(calls: int, interval: float) -> float:
    """The least time `calls` paced calls can take from the first slot: (n − 1) × interval."""
    return (calls - 1) * interval


async def test_three_processes_together_keep_to_the_plans_pace(
    start_worker: Callable[..., WorkerProcess],
    db_conn: asyncpg.Connection,
    services: OfflineServices,
) -> None:
    assert services.search is not None
    workers = [
        start_worker(
            judge=True,
            search=True,
            WORKER_CONCURRENCY="3",
            IMAGE_SEARCH_RATE_PER_SECOND=str(SEARCH_PER_SECOND),
            OPENAI_REQUESTS_PER_MINUTE=str(OPENAI_PER_MINUTE),
        )
        for _ in range(3)
    ]
    await wait_until(lambda: all_listening(workers), within=60)
    # No slot can be given before the first product exists. Arrival times only ever come later than
    # their slots (a busy machine delays a call, never hastens it), so "the last call arrived at
    # least (n − 1) intervals after this instant" holds on any machine that paces, and fails on one
    # that does not: unpaced, the 9 jobs run side by side and send everything within a second or two.
    started = time.time()
    for n in range(9):
        await insert_product(db_conn, f"Produto {n} 2L", unknown_ean(300 + n), "Marca")
    await wait_until(lambda: settled(db_conn), within=180)

    searches = [r.at for r in services.search.requests]
    openai_calls = [c.at for c in services.openai.calls]
    assert len(searches) == 9 and len(openai_calls) >= 27
    assert max(searches) - started >= paced_bound(len(searches), 1 / SEARCH_PER_SECOND)
    assert max(openai_calls) - started >= paced_bound(len(openai_calls), 60 / OPENAI_PER_MINUTE)
