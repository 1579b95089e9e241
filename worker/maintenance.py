"""The worker's periodic sweep (`imagefill.sweep_image_queue`): leases that expired on their last
attempt are failed, the panel counters folded, old finished work purged by the retention policy.

It runs here, once a minute, instead of inside every claim: the claim stays one short statement.
"""

from __future__ import annotations

import asyncio

from loguru import logger

from worker.lifetimes import BackgroundTask
from worker.queue import DATABASE_FAULTS, JobQueue


class QueueSweeper(BackgroundTask):
    """Sweeps at start-up (a crash before this start may have left leases behind) and then every
    `interval` seconds. A retention backlog (more than one batch) is worked off a batch per sweep."""

    task_name = "imagefill-sweep"

    def __init__(self, queue: JobQueue, interval: float, done_days: int, event_days: int) -> None:
        super().__init__()
        self._queue = queue
        self._interval = interval
        self._done_days = done_days
        self._event_days = event_days
        self.sweeps = 0

    def _should_start(self) -> bool:
        if self._interval > 0:
            return True
        logger.info("queue_sweep_off")  # WORKER_SWEEP_SECONDS=0: pg_cron (or another worker) sweeps
        return False

    async def sweep_once(self) -> dict[str, object]:
        result = await self._queue.sweep(self._done_days, self._event_days)
        self.sweeps += 1
        if any(result.get(k) for k in ("leases_failed", "orphans_deleted", "jobs_purged", "events_purged")):
            logger.bind(**result).info("queue_swept")
        return result

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep_once()
            except DATABASE_FAULTS as exc:
                logger.bind(error=f"{type(exc).__name__}: {exc}").warning("sweep_failed")
            except Exception as exc:  # anything else must not end the sweeps silently
                logger.opt(exception=exc).bind(error=f"{type(exc).__name__}: {exc}").error("sweep_failed")
            await asyncio.sleep(self._interval)
