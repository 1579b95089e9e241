"""The run loop at its edges, against a real database: a job never runs twice at once in one
worker (not even when its lease lapsed and the claim hands it back to the same worker), lease
renewal never waits for a locked job row, a stop during a claim hands back jobs whose task never
started, and one unreadable job fails alone without stopping the loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import UUID

import asyncpg
import pytest

from tests.harness import MigratedDatabase, ean13, insert_products
from worker.images import ImageUnavailable
from worker.queue import ClaimedJob, JobOutcome, JobQueue
from worker.runner import Runner, keep_session_state


@pytest.fixture
async def pool(fresh_db: MigratedDatabase) -> AsyncIterator[asyncpg.Pool]:
    connections = await asyncpg.create_pool(fresh_db.dsn, min_size=1, max_size=6, reset=keep_session_state)
    yield connections
    await connections.close()


class SlowPipeline:
    """Takes `seconds` per job and records how many runs of each job are inside at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.inside: dict[UUID, int] = {}
        self.most_at_once = 0
        self.runs = 0

    async def run(self, job: ClaimedJob) -> JobOutcome:
        self.runs += 1
        self.inside[job.job_id] = self.inside.get(job.job_id, 0) + 1
        self.most_at_once = max(self.most_at_once, self.inside[job.job_id])
        try:
            await asyncio.sleep(self.seconds)
            return JobOutcome(image_status="needs_review")
        finally:
            self.inside[job.job_id] -= 1


async def test_a_lapsed_lease_given_back_to_the_same_worker_never_runs_the_job_twice(
    fresh_db: MigratedDatabase, pool: asyncpg.Pool
) -> None:
    conn = await asyncpg.connect(fresh_db.dsn)
    try:
        await insert_products(conn, fresh_db.catalogue, [("Demorado", ean13(84_000))])
        # A 1 s lease and no lease keeper: the lease lapses while the job runs for 3 s, and the
        # worker's next claims find it again through crash recovery.
        queue = JobQueue(pool, "w-lapsed", 1)
        pipeline = SlowPipeline(3.0)
        runner = Runner(queue, pipeline, concurrency=2, poll_seconds=0.2, grace_seconds=5)  # type: ignore[arg-type]

        async def done() -> bool:
            return await conn.fetchval("select count(*) from public.image_jobs where status = 'done'") == 1

        await asyncio.wait_for(runner.run(until_idle=done), 60)
        assert pipeline.most_at_once == 1 and pipeline.runs == 1, "one run of the job, not two at once"
        assert runner.stats.completed == 1 and not runner.active
        job = await conn.fetchrow("select status::text, attempts from public.image_jobs")
        assert job["status"] == "done"
        assert job["attempts"] >= 2, "the claim did hand the job back to the same worker (the case tested)"
    finally:
        await conn.close()


async def test_lease_renewal_never_waits_for_a_locked_job_row(
    fresh_db: MigratedDatabase, pool: asyncpg.Pool
) -> None:
    conn = await asyncpg.connect(fresh_db.dsn)
    holder = await asyncpg.connect(fresh_db.dsn)
    try:
        await insert_products(
            conn, fresh_db.catalogue, [("Travado", ean13(84_100)), ("Livre", ean13(84_101))]
        )
        queue = JobQueue(pool, "w-renew", 30)
        locked, free = sorted(await queue.claim(2), key=lambda j: j.job_id)
        before = {
            r["id"]: r["until"]
            for r in await conn.fetch("select id, locked_until as until from public.image_jobs")
        }
        # Another transaction holds the first job's row (as this worker's own completion does
        # while it waits for a product a customer's transaction holds).
        holding = holder.transaction()
        await holding.start()
        await holder.execute("select 1 from public.image_jobs where id = $1 for update", locked.job_id)

        still_held = await asyncio.wait_for(queue.extend_leases([locked.job_id, free.job_id]), 10)
        assert {UUID(str(i)) for i in still_held} == {locked.job_id, free.job_id}, "both are still ours"
        await holding.rollback()
        after = {
            r["id"]: r["until"]
            for r in await conn.fetch("select id, locked_until as until from public.image_jobs")
        }
        assert after[free.job_id] > before[free.job_id], "the free one was renewed"
        assert after[locked.job_id] == before[locked.job_id], "the locked one waits for the next round"
    finally:
        await conn.close()
        await holder.close()


class NeverStarts:
    async def run(self, job: ClaimedJob) -> JobOutcome:
        raise AssertionError("a job claimed while the worker stops must be handed back, not run")


async def test_a_stop_during_a_claim_hands_back_jobs_that_never_started(
    fresh_db: MigratedDatabase, pool: asyncpg.Pool
) -> None:
    cat = fresh_db.catalogue
    conn = await asyncpg.connect(fresh_db.dsn)
    customer = await asyncpg.connect(fresh_db.dsn)
    try:
        [product] = await insert_products(conn, cat, [("Na hora de parar", ean13(84_200))])
        # The claim marks the product `fetching`: holding its row keeps the claim on its way.
        holding = customer.transaction()
        await holding.start()
        await customer.execute(f"select 1 from {cat.qualified} where {cat.id}::text = $1 for update", product)
        queue = JobQueue(pool, "w-stop", 120)
        runner = Runner(queue, NeverStarts(), concurrency=2, poll_seconds=5, grace_seconds=0)  # type: ignore[arg-type]
        running = asyncio.create_task(runner.run())
        await asyncio.sleep(0.5)
        runner.stop()  # SIGTERM with no grace period, while the claim waits
        await holding.commit()
        await asyncio.wait_for(running, 30)

        job = await conn.fetchrow("select status::text, locked_by, attempts from public.image_jobs")
        assert (job["status"], job["locked_by"]) == ("queued", None), dict(job)
        assert runner.stats.released == 1 and not runner.active
    finally:
        await conn.close()
        await customer.close()


class Quick:
    async def run(self, job: ClaimedJob) -> JobOutcome:
        return JobOutcome(image_status="needs_review")


async def test_an_unreadable_job_fails_alone_and_the_loop_goes_on(
    fresh_db: MigratedDatabase, pool: asyncpg.Pool
) -> None:
    conn = await asyncpg.connect(fresh_db.dsn)
    try:
        await insert_products(
            conn, fresh_db.catalogue, [("Ilegível", ean13(84_300)), ("Normal", ean13(84_301))]
        )
        # Set-up: a job written by hand with a payload that is not a JSON object.
        await conn.execute(
            "update public.image_jobs j set payload = '[]' from public.products p"
            " where p.id = j.product_id and p.name = 'Ilegível'"
        )
        queue = JobQueue(pool, "w-poison", 120)
        runner = Runner(queue, Quick(), concurrency=5, poll_seconds=0.2, grace_seconds=1)  # type: ignore[arg-type]

        async def drained() -> bool:
            return await queue.due_count(runner.kinds) == 0

        await asyncio.wait_for(runner.run(until_idle=drained), 30)
        rows = {
            r["name"]: (r["status"], r["last_error"] or "")
            for r in await conn.fetch(
                "select p.name, j.status::text as status, j.last_error from public.image_jobs j"
                " join public.products p on p.id = j.product_id"
            )
        }
        assert rows["Normal"][0] == "done"
        assert rows["Ilegível"][0] == "failed" and "job ilegível" in rows["Ilegível"][1], rows
    finally:
        await conn.close()


class AlwaysUnavailable:
    """Every run meets a fault that may pass (the picture host answers 503): the job is retried."""

    def __init__(self) -> None:
        self.runs = 0

    async def run(self, job: ClaimedJob) -> JobOutcome:
        self.runs += 1
        raise ImageUnavailable("falha temporária ao baixar a imagem: HTTP 503 de 127.0.0.1")


class SlowAnswers(JobQueue):
    """The database commits a failure at once, but its answer reaches the worker late (a slow
    network): meanwhile the retry is already due and the next claim finds it."""

    async def fail(self, job: ClaimedJob, error: str, *, retryable: bool, events: object = None) -> str:
        status = await super().fail(job, error, retryable=retryable)
        await asyncio.sleep(0.6)
        return status


async def test_a_retry_claimed_while_its_failure_is_recorded_still_runs(
    fresh_db: MigratedDatabase, pool: asyncpg.Pool
) -> None:
    """A job retried with no backoff can be claimed again, by the same worker, before the run that
    failed it has finished recording: that claim is a new attempt, not crash recovery of a lapsed
    lease, and must run (it was skipped, and the job sat `running` until its lease expired)."""
    conn = await asyncpg.connect(fresh_db.dsn)
    try:
        await insert_products(conn, fresh_db.catalogue, [("Sem foto", ean13(84_300))])
        queue = SlowAnswers(pool, "w-retry", 60, retry_backoff_seconds=0)
        pipeline = AlwaysUnavailable()
        runner = Runner(queue, pipeline, concurrency=2, poll_seconds=0.1, grace_seconds=5)  # type: ignore[arg-type]

        async def failed() -> bool:
            return await conn.fetchval("select count(*) from public.image_jobs where status = 'failed'") == 1

        await asyncio.wait_for(runner.run(until_idle=failed), 60)
        job = await conn.fetchrow("select attempts, last_error from public.image_jobs")
        assert (job["attempts"], pipeline.runs) == (5, 5), "every attempt ran"
        assert job["last_error"].startswith("falha temporária"), job["last_error"]
    finally:
        await conn.close()
