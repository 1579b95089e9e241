"""complete_image_jobs at its edges: answers by position (two items of one job, an item without a
job id), a malformed item refused alone inside the batch, a batch that never waits for a product
another transaction holds (so it cannot deadlock the customer's own writes), and a refused result
that fails its job instead of leaving it running until the lease expires."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg

from tests.harness import MigratedDatabase, ean13, insert_products
from worker.queue import ClaimedJob, JobOutcome, JobQueue
from worker.runner import Runner, keep_session_state

REJECTED_URL = "https://cdn.example/rejeitada-durante-o-job.jpg"


async def claimed_jobs(
    db: MigratedDatabase, queue: JobQueue, names: list[str], seed: int
) -> list[ClaimedJob]:
    setup = await asyncpg.connect(db.dsn)
    try:
        await insert_products(setup, db.catalogue, [(name, ean13(seed + i)) for i, name in enumerate(names)])
    finally:
        await setup.close()
    jobs = await queue.claim(len(names))
    assert sorted(j.product_name or "" for j in jobs) == sorted(names)
    return sorted(jobs, key=lambda j: names.index(j.product_name or ""))


def needs_review(job: ClaimedJob, **changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "job_id": str(job.job_id),
        "image_status": "needs_review",
        "candidates": [],
        "events": [],
        "result": {},
        "payload": job.payload,
    }
    item.update(changes)
    return item


async def test_answers_come_back_by_position_and_a_bad_item_fails_alone(fresh_db: MigratedDatabase) -> None:
    pool = await asyncpg.create_pool(fresh_db.dsn, min_size=1, max_size=3)
    conn = await asyncpg.connect(fresh_db.dsn)
    try:
        queue = JobQueue(pool, "w1", 60)
        first, second = await claimed_jobs(fresh_db, queue, ["Posição 1", "Posição 2"], 81_000)
        items = [
            needs_review(first),
            needs_review(first),  # the same job again: already recorded by the item before
            {"job_id": None, "image_status": "needs_review"},
            needs_review(second, candidates={"url": "not a list"}),  # malformed: refused alone
        ]
        rows = await conn.fetch(
            "select item, outcome, error_code, error_message"
            " from imagefill.complete_image_jobs('w1', $1::jsonb) order by item",
            json.dumps(items),
        )
        assert [(r["item"], r["outcome"], r["error_code"]) for r in rows] == [
            (1, "needs_review", None),
            (2, None, "IF001"),
            (3, None, "IF001"),
            (4, None, "22023"),
        ]
        statuses = {
            r["id"]: r["status"]
            for r in await conn.fetch(
                "select id::text, status::text from public.image_jobs where id = any($1::uuid[])",
                [first.job_id, second.job_id],
            )
        }
        # The good item was recorded in the same call; the malformed one is still ours to finish.
        assert statuses == {str(first.job_id): "done", str(second.job_id): "running"}
    finally:
        await conn.close()
        await pool.close()


async def test_a_batch_never_waits_for_a_product_a_customer_transaction_holds(
    fresh_db: MigratedDatabase,
) -> None:
    """A customer's transaction updates product B, then product A. Meanwhile the worker records
    the jobs of A and B together. Waiting for B while holding A would close a cycle, and Postgres
    would abort one side (maybe the customer's). The batch records A, leaves B, and the worker
    sends B alone, which waits for the customer as a single completion always did."""
    cat = fresh_db.catalogue
    pool = await asyncpg.create_pool(fresh_db.dsn, min_size=1, max_size=4, reset=keep_session_state)
    blocker = await asyncpg.connect(fresh_db.dsn)
    customer = await asyncpg.connect(fresh_db.dsn)
    try:
        queue = JobQueue(pool, "w1", 60)
        first, a, b = await claimed_jobs(fresh_db, queue, ["Primeiro", "Produto A", "Produto B"], 82_000)

        # Hold the first job's row so its completion stays on the way while A and B finish: they
        # then travel together in the next call.
        blocker_tx = blocker.transaction()
        await blocker_tx.start()
        await blocker.execute("select 1 from public.image_jobs where id = $1 for update", first.job_id)
        first_done = asyncio.create_task(queue.complete(first, JobOutcome(image_status="needs_review")))
        a_done = asyncio.create_task(queue.complete(a, JobOutcome(image_status="needs_review")))
        b_done = asyncio.create_task(queue.complete(b, JobOutcome(image_status="needs_review")))
        await asyncio.sleep(0.3)

        customer_tx = customer.transaction()
        await customer_tx.start()
        await customer.execute(
            f"update {cat.qualified} set {cat.name} = {cat.name} || ' (editado)' where {cat.id}::text = $1",
            b.product_id,
        )
        await blocker_tx.commit()

        assert await asyncio.wait_for(first_done, 30) == "needs_review"
        assert await asyncio.wait_for(a_done, 30) == "needs_review"
        await asyncio.sleep(0.3)
        assert not b_done.done(), "B waits for the customer's transaction"
        # The customer's second update goes through: the batch holds nothing any more.
        await asyncio.wait_for(
            customer.execute(
                f"update {cat.qualified} set {cat.name} = {cat.name} || ' (editado)'"
                f" where {cat.id}::text = $1",
                a.product_id,
            ),
            30,
        )
        await customer_tx.commit()
        assert await asyncio.wait_for(b_done, 30) == "needs_review"

        rows = await customer.fetch(
            f"select p.{cat.name} as name, p.image_status::text as status, j.status::text as job"
            f" from {cat.qualified} p join public.image_jobs j on j.product_id = p.{cat.id}"
            " where j.id = any($1::uuid[]) order by 1",
            [first.job_id, a.job_id, b.job_id],
        )
        assert [tuple(r) for r in rows] == [
            ("Primeiro", "needs_review", "done"),
            ("Produto A (editado)", "needs_review", "done"),
            ("Produto B (editado)", "needs_review", "done"),
        ]
    finally:
        await blocker.close()
        await customer.close()
        await pool.close()


class RejectedWhileRunning:
    """A person rejects the picture while the job runs; the job then brings exactly that picture."""

    def __init__(self, db: MigratedDatabase) -> None:
        self.db = db

    async def run(self, job: ClaimedJob) -> JobOutcome:
        person = await asyncpg.connect(self.db.dsn)
        try:
            await person.execute(
                "insert into public.image_rejected_candidates (product_id, url, reason)"
                f" values ($1::text::{self.db.catalogue.table.id_type}, $2, 'não é o produto')",
                job.product_id,
                REJECTED_URL,
            )
        finally:
            await person.close()
        return JobOutcome(
            image_status="ok", image_url=REJECTED_URL, image_source="search_api", image_confidence=0.9
        )


async def test_a_refused_result_fails_its_job_for_a_retry_instead_of_holding_it(
    fresh_db: MigratedDatabase,
) -> None:
    pool = await asyncpg.create_pool(fresh_db.dsn, min_size=1, max_size=4, reset=keep_session_state)
    try:
        queue = JobQueue(pool, "w1", 60, retry_backoff_seconds=3600)
        setup = await asyncpg.connect(fresh_db.dsn)
        try:
            await insert_products(setup, fresh_db.catalogue, [("Recusado", ean13(83_000))])
        finally:
            await setup.close()
        runner = Runner(
            queue, RejectedWhileRunning(fresh_db), concurrency=1, poll_seconds=0.2, grace_seconds=5
        )  # type: ignore[arg-type]

        async def drained() -> bool:
            return await queue.due_count(runner.kinds) == 0

        await asyncio.wait_for(runner.run(until_idle=drained), 60)
        conn = await asyncpg.connect(fresh_db.dsn)
        try:
            job = await conn.fetchrow(
                "select j.status::text, j.attempts, j.last_error, p.image_status::text as product"
                " from public.image_jobs j join public.products p on p.id = j.product_id"
                " where p.name = 'Recusado'"
            )
        finally:
            await conn.close()
        # Back in the queue (a person's rejection is known to the next run), never left running.
        assert job["status"] == "queued", dict(job)
        assert job["attempts"] == 1
        assert "rejeitada por uma pessoa" in job["last_error"], job["last_error"]
        assert runner.stats.retried == 1 and runner.stats.completed == 0
    finally:
        await pool.close()
