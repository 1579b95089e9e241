"""What a running worker reports about itself: counters, a snapshot for `/health` and `/metrics`,
and the event loop's lag. The health server reads a snapshot; it never sees the runner."""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from worker.lifetimes import BackgroundTask


@dataclass
class RunnerStats:
    started_at: float = field(default_factory=time.time)
    claimed: int = 0
    completed: int = 0
    failed: int = 0
    retried: int = 0
    released: int = 0
    deferred: int = 0  # budget caps: jobs put back to wait for the window to reset
    leases_lost: int = 0
    last_claim_at: float | None = None


@dataclass
class Histogram:
    """A Prometheus histogram: cumulative bucket counts by upper bound, a sum and a count."""

    bounds: tuple[float, ...]
    counts: list[int] = field(init=False)
    total: float = 0.0
    observations: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.observations += 1

    def cumulative(self) -> list[tuple[str, int]]:
        running = 0
        out = []
        for bound, count in zip((*map(repr, self.bounds), "+Inf"), self.counts, strict=True):
            running += count
            out.append((bound, running))
        return out

    def quantile(self, q: float) -> float:
        """Upper bound of the bucket holding the q-th observation (coarse, for tests and logs)."""
        if self.observations == 0:
            return 0.0
        rank = q * self.observations
        running = 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            if running >= rank:
                return bound
        return float("inf")


LOOP_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class LoopLagMonitor(BackgroundTask):
    """Sleeps a fixed interval and records how late it woke up: the time some callback held the
    event loop (Pillow on the loop, a blocking file call, a long JSON dump)."""

    task_name = "imagefill-loop-lag"

    def __init__(self, interval: float = 0.05) -> None:
        super().__init__()
        self.interval = interval
        self.histogram = Histogram(LOOP_LAG_BUCKETS)
        self.max_lag = 0.0

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self.interval)
            lag = max(time.perf_counter() - before - self.interval, 0.0)
            self.histogram.observe(lag)
            self.max_lag = max(self.max_lag, lag)


@dataclass(frozen=True)
class WorkerSnapshot:
    """Everything `/health` and `/metrics` show, read at request time."""

    worker_id: str
    listener_connected: bool  # the wake-up channel of WORKER_WAKEUP (LISTEN or Realtime) is live
    listener_connections: int
    stopping: bool
    active_jobs: int
    concurrency: int
    stats: RunnerStats
    loop_lag: Histogram | None = None
    wakeup: str = "listen"  # WORKER_WAKEUP

    @property
    def wakeup_live(self) -> str:
        """What wakes the worker right now: its mode while connected, else only the poll."""
        return self.wakeup if self.listener_connected else "poll"


SnapshotSource = Callable[[], WorkerSnapshot]
