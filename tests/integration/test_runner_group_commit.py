"""The run loop against a real database: jobs that finish together are recorded together (one
transaction, so one `finished_at`), the concurrency limit still bounds the work in flight, and a
job's slot is free while its result travels."""

from __future__ import annotations

import asyncio

import asyncpg

from tests.harness import MigratedDatabase, ean13, insert_products
from worker.queue import ClaimedJob, JobOutcome, JobQueue
from worker.runner import Runner, keep_session_state


class CountingPipeline:
    """Stands in for the stages (the runner's contract: run(job) -> JobOutcome) and counts how
    many jobs are inside at once."""

    def __init__(self, pause: float = 0.0) -> None:
        self.pause = pause
        self.inside = 0
        self.most_inside = 0
        self.ran = 0

    async def run(self, job: ClaimedJob) -> JobOutcome:
        self.inside += 1
        self.most_inside = max(self.most_inside, self.inside)
        try:
            await asyncio.sleep(self.pause)
            self.ran += 1
            return JobOutcome(image_status="needs_review")
        finally:
            self.inside -= 1


async def drain(db: MigratedDatabase, jobs: int, concurrency: int, pipeline: CountingPipeline) -> Runner:
    setup = await asyncpg.connect(db.dsn)
    try:
        await insert_products(
            setup, db.catalogue, [(f"Lote {i}", ean13(70_000 + i + jobs * concurrency)) for i in range(jobs)]
        )
    finally:
        await setup.close()
    pool = await asyncpg.create_pool(db.dsn, min_size=1, max_size=concurrency + 2, reset=keep_session_state)
    try:
        queue = JobQueue(pool, f"test-{concurrency}", 60)
        runner = Runner(queue, pipeline, concurrency=concurrency, poll_seconds=0.2, grace_seconds=5)  # type: ignore[arg-type]

        async def drained() -> bool:
            return await queue.due_count(runner.kinds) == 0

        most_active = 0

        async def watch() -> None:
            nonlocal most_active
            while True:
                most_active = max(most_active, len(runner.active))
                await asyncio.sleep(0)

        watcher = asyncio.create_task(watch())
        await asyncio.wait_for(runner.run(until_idle=drained), 120)
        watcher.cancel()
        assert most_active <= 2 * concurrency, "jobs being recorded never pile up past twice the slots"
        return runner
    finally:
        await pool.close()


async def test_jobs_finishing_together_share_one_transaction(db: MigratedDatabase) -> None:
    pipeline = CountingPipeline()
    runner = await drain(db, 40, 5, pipeline)
    assert runner.stats.completed == 40 and pipeline.ran == 40
    conn = await asyncpg.connect(db.dsn)
    try:
        row = await conn.fetchrow(
            "select count(*) as jobs, count(distinct finished_at) as commits,"
            " count(*) filter (where status = 'done' and result ->> 'outcome' = 'needs_review') as done"
            " from public.image_jobs j join public.products p on p.id = j.product_id"
            " where p.name like 'Lote %'"
        )
        assert row["jobs"] == 40 and row["done"] == 40
        assert row["commits"] < row["jobs"], "every job was recorded in its own transaction"
        events = await conn.fetchval(
            "select count(*) from public.image_job_events e join public.products p on p.id = e.product_id"
            " where p.name like 'Lote %' and e.stage = 'complete'"
        )
        assert events == 40
    finally:
        await conn.close()


async def test_concurrency_still_bounds_the_work_in_flight(db: MigratedDatabase) -> None:
    pipeline = CountingPipeline(pause=0.01)
    runner = await drain(db, 30, 3, pipeline)
    assert runner.stats.completed == 30
    assert pipeline.most_inside <= 3
    assert pipeline.most_inside == 3, "the slots were used"
