"""The periodic sweep: leases that expired on their last attempt fail, counters fold, and the
retention policy removes old finished work while keeping what people need."""

from __future__ import annotations

import json

import asyncpg

from tests.harness import MigratedDatabase, ean13, insert_products
from worker.queue import JobQueue


async def _progress(conn: asyncpg.Connection) -> dict[str, int]:
    return dict(json.loads(await conn.fetchval("select public.image_backfill_progress(null)")))


async def test_claim_leaves_exhausted_leases_to_the_sweep(db: MigratedDatabase) -> None:
    conn = await asyncpg.connect(db.dsn)
    pool = await asyncpg.create_pool(db.dsn, min_size=1, max_size=2)
    try:
        [product] = await insert_products(conn, db.catalogue, [("Crash", ean13(9101))])
        await conn.execute(
            "update public.image_jobs set status = 'running', locked_by = 'dead', attempts = max_attempts,"
            " locked_until = now() - interval '1 minute' where product_id = $1::uuid",
            product,
        )
        queue = JobQueue(pool, "w-sweep", 60)
        assert [j for j in await queue.claim(10) if j.product_id == product] == []
        swept = await queue.sweep(done_days=30, event_days=90)
        assert swept["leases_failed"] == 1 and swept["skipped"] is False
        job = await conn.fetchrow(
            "select status::text, last_error from public.image_jobs where product_id = $1::uuid", product
        )
        assert job["status"] == "failed" and job["last_error"]
        assert await conn.fetchval(
            "select image_status::text from public.products where id = $1::uuid", product
        ) in ("error", "needs_review")
    finally:
        await pool.close()
        await conn.close()


async def test_retention_removes_old_done_jobs_and_automatic_events_only(db: MigratedDatabase) -> None:
    conn = await asyncpg.connect(db.dsn)
    try:
        ids = await insert_products(conn, db.catalogue, [(f"R{i}", ean13(9200 + i)) for i in range(6)])
        jobs = await conn.fetch(
            "select id, product_id::text from public.image_jobs where product_id = any($1::uuid[])"
            " order by product_id",
            ids,
        )
        # Two old done jobs, one recent done job, one old failed job, two still queued.
        await conn.execute(
            """
            update public.image_jobs set status = 'done', finished_at = now() - interval '40 days'
             where id = any($1::uuid[]);
            """,
            [jobs[0]["id"], jobs[1]["id"]],
        )
        await conn.execute(
            "update public.image_jobs set status = 'done', finished_at = now() where id = $1", jobs[2]["id"]
        )
        await conn.execute(
            "update public.image_jobs set status = 'failed', finished_at = now() - interval '400 days',"
            " last_error = 'x' where id = $1",
            jobs[3]["id"],
        )
        await conn.execute(
            """
            insert into public.image_job_events (job_id, product_id, stage, outcome, created_at)
            values ($1, $2::uuid, 'openfoodfacts', 'found', now() - interval '100 days'),
                   ($1, $2::uuid, 'review', 'approved', now() - interval '100 days'),
                   ($1, $2::uuid, 'openfoodfacts', 'found', now() - interval '10 days')
            """,
            jobs[0]["id"],
            jobs[0]["product_id"],
        )
        before = await _progress(conn)

        result = json.loads(await conn.fetchval("select imagefill.sweep_image_queue(30, 90)"))
        assert result["jobs_purged"] == 2 and result["events_purged"] == 1

        remaining = {
            r["id"]
            for r in await conn.fetch(
                "select id from public.image_jobs where id = any($1::uuid[])", [j["id"] for j in jobs]
            )
        }
        assert remaining == {j["id"] for j in jobs[2:]}
        stages = sorted(
            (r["stage"], r["outcome"])
            for r in await conn.fetch(
                "select stage, outcome from public.image_job_events where job_id = $1", jobs[0]["id"]
            )
        )
        assert stages == [("openfoodfacts", "found"), ("review", "approved")]
        # Counters follow the purge; products are untouched.
        assert await _progress(conn) == before

        # 0 days keeps everything; outside the sweep the trail stays append-only.
        kept = json.loads(await conn.fetchval("select imagefill.purge_image_history(0, 0)"))
        assert kept == {"jobs_purged": 0, "events_purged": 0}
        try:
            await conn.execute("delete from public.image_job_events where job_id = $1", jobs[0]["id"])
        except asyncpg.PostgresError as exc:
            assert exc.sqlstate == "IF010"
        else:
            raise AssertionError("events must stay append-only outside the retention policy")
    finally:
        await conn.close()


async def test_one_sweep_at_a_time(db: MigratedDatabase) -> None:
    holder = await asyncpg.connect(db.dsn)
    other = await asyncpg.connect(db.dsn)
    try:
        async with holder.transaction():
            first = json.loads(await holder.fetchval("select imagefill.sweep_image_queue()"))
            second = json.loads(await other.fetchval("select imagefill.sweep_image_queue()"))
        assert first["skipped"] is False and second == {"skipped": True}
    finally:
        await holder.close()
        await other.close()
