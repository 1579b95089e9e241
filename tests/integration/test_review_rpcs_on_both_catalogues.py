"""The review RPCs behave the same on the default table and on the user's own `produtos(id bigint)`."""

from __future__ import annotations

import json

import asyncpg
import pytest

from tests.harness import MigratedDatabase, ean13, insert_products

OPERATOR = json.dumps({"sub": "99999999-0000-0000-0000-00000000abcd", "role": "authenticated"})


async def as_operator(conn: asyncpg.Connection) -> None:
    """What PostgREST does for a signed-in user's supabase.rpc(...) call."""
    await conn.execute("set role authenticated")
    await conn.execute("select set_config('request.jwt.claims', $1, false)", OPERATOR)


async def test_backfill_review_and_approve_flow(catalogue_db: MigratedDatabase) -> None:
    worker = await asyncpg.connect(catalogue_db.dsn)
    panel = await asyncpg.connect(catalogue_db.dsn)
    try:
        ids = await insert_products(
            worker, catalogue_db.catalogue, [("Suco de uva 1L", ean13(501)), ("Biscoito", ean13(502))]
        )
        await as_operator(panel)

        batch = json.loads(await panel.fetchval("select public.enqueue_image_backfill(10)"))
        assert batch["enqueued"] == 2 and batch["adopted"] == 2

        # The worker sends the first product to review with one candidate.
        claimed = await worker.fetch("select * from imagefill.claim_image_jobs('w', 1, 60)")
        await worker.execute(
            "select imagefill.complete_image_job($1, 'w', 'needs_review', p_candidates => $2::jsonb)",
            claimed[0]["job_id"],
            json.dumps([{"url": "https://img.example/x.jpg", "source": "search_api", "confidence": 0.61}]),
        )
        progress = json.loads(
            await panel.fetchval("select public.image_backfill_progress($1)", batch["batch_id"])
        )
        assert progress == {**progress, "total": 2, "needs_review": 1, "queued": 1, "running": 0}

        queue = await panel.fetch("select * from public.image_review_queue(10, 0)")
        assert [r["product_id"] for r in queue] == [type(queue[0]["product_id"])(claimed[0]["product_id"])]
        assert json.loads(queue[0]["candidates"])[0]["url"] == "https://img.example/x.jpg"

        approved = json.loads(
            await panel.fetchval(
                "select public.approve_product_image($1, 'https://img.example/x.jpg')", queue[0]["product_id"]
            )
        )
        assert approved["source"] == "search_api"
        job = await worker.fetchrow(
            "select kind::text, status::text from public.image_jobs where id = $1::uuid", approved["job_id"]
        )
        assert tuple(job) == ("approve", "queued")
        reviewer = await worker.fetchval(
            f"select image_reviewed_by::text from {catalogue_db.catalogue.qualified}"
            f" where {catalogue_db.catalogue.id}::text = $1",
            claimed[0]["product_id"],
        )
        assert reviewer == "99999999-0000-0000-0000-00000000abcd"
        assert ids
    finally:
        await worker.close()
        await panel.close()


async def test_review_rpcs_refuse_anon(catalogue_db: MigratedDatabase) -> None:
    conn = await asyncpg.connect(catalogue_db.dsn)
    try:
        await conn.execute("set role anon")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetchval("select public.enqueue_image_backfill(10)")
    finally:
        await conn.close()
