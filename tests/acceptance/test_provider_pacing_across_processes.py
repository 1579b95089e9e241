"""Each paid provider is paced to its plan's limit before the call, by every worker process on
the host together (IMAGE_SEARCH_RATE_PER_SECOND, OPENAI_REQUESTS_PER_MINUTE): three real
`imagefill run` processes, each running three jobs at once, never send faster than the plan."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from tests.acceptance.conftest import WorkerProcess
from tests.acceptance.test_budget_cap_across_replicas import settled, unknown_ean
from tests.acceptance.test_worker_end_to_end import insert_product
from tests.harness import wait_until
from worker.offline.services import OfflineServices

SEARCH_PER_SECOND = 4.0
OPENAI_PER_MINUTE = 300.0


def most_in_a_window(instants: list[float], window: float) -> int:
    """The most arrivals within any `window` seconds."""
    instants = sorted(instants)
    return max(sum(1 for t in instants[i:] if t - start < window) for i, start in enumerate(instants))


def span_against_bound(instants: list[float], interval: float) -> float:
    """The whole span against the bound (n − 1) × interval: 1.0 = exactly the plan's pace."""
    return (max(instants) - min(instants)) / ((len(instants) - 1) * interval)


async def test_three_processes_together_keep_to_the_plans_pace(
    start_worker: Callable[..., WorkerProcess],
    db_conn: asyncpg.Connection,
    services: OfflineServices,
) -> None:
    assert services.search is not None
    for _ in range(3):
        start_worker(
            judge=True,
            search=True,
            WORKER_CONCURRENCY="3",
            IMAGE_SEARCH_RATE_PER_SECOND=str(SEARCH_PER_SECOND),
            OPENAI_REQUESTS_PER_MINUTE=str(OPENAI_PER_MINUTE),
        )
    for n in range(9):
        await insert_product(db_conn, f"Produto {n} 2L", unknown_ean(300 + n), "Marca")
    await wait_until(lambda: settled(db_conn), within=90)

    searches = [r.at for r in services.search.requests]
    openai_calls = [c.at for c in services.openai.calls]
    assert len(searches) == 9 and len(openai_calls) >= 27
    # In any stretch of 8 intervals, at most 8 calls, plus one late call per process: a call leaves
    # at its slot, and the client's first call in a process may take longer to reach the server.
    interval = 1 / SEARCH_PER_SECOND
    assert most_in_a_window(searches, 8 * interval) <= 8 + 3
    assert span_against_bound(searches, interval) >= 0.8
    interval = 60 / OPENAI_PER_MINUTE
    assert most_in_a_window(openai_calls, 8 * interval) <= 8 + 3
    assert span_against_bound(openai_calls, interval) >= 0.8
