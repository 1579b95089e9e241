"""The BEFORE UPDATE row trigger that resets a product's image state on a new EAN runs its
function only when the EAN text changed: never for the worker's own claim/complete updates, nor
for an app that writes back every column unchanged. A real EAN change still resets the state and
enqueues. Counted with track_functions (pg_stat_xact_user_functions), in both renderings."""

from __future__ import annotations

import asyncpg

from tests.harness import MigratedDatabase, ean13

CALLS = (
    "select coalesce(sum(calls), 0)::int from pg_stat_xact_user_functions"
    " where schemaname = 'imagefill' and funcname = 'reset_image_state_on_ean_change'"
)


async def test_worker_and_unchanged_writes_never_call_it_an_ean_change_does(
    catalogue_db: MigratedDatabase,
) -> None:
    c = catalogue_db.catalogue
    # The superuser may turn on function statistics for its own session.
    conn = await asyncpg.connect(catalogue_db.superuser_dsn)
    transaction = conn.transaction()  # rolled back at the end: the module's database stays as it was
    await transaction.start()
    try:
        await conn.execute("set local track_functions = 'all'")
        product = await conn.fetchval(
            f"insert into {c.qualified} ({c.name}, {c.brand}, {c.ean})"
            f" values ('Café 500g', 'Marca', $1) returning {c.id}::text",
            ean13(4242),
        )
        where = f"where {c.id}::text = $1"

        # The worker's own updates: claim (product -> fetching), complete (-> needs_review).
        claimed = await conn.fetch("select * from imagefill.claim_image_jobs('w-ean', 10, 60)")
        assert [r["product_id"] for r in claimed] == [product]
        await conn.execute(
            "select imagefill.complete_image_job($1, 'w-ean', 'needs_review')", claimed[0]["job_id"]
        )
        status = await conn.fetchval(f"select image_status::text from {c.qualified} {where}", product)
        assert status == "needs_review"
        # An app or ORM that writes back every column, the EAN unchanged.
        await conn.execute(
            f"update {c.qualified} set {c.name} = {c.name} || ' ', {c.brand} = {c.brand},"
            f" {c.ean} = {c.ean} {where}",
            product,
        )
        assert await conn.fetchval(CALLS) == 0, "the reset function ran without an EAN change"

        # A person types a new EAN: the state goes back to missing and a job is queued.
        await conn.execute(f"update {c.qualified} set {c.ean} = $2 {where}", product, ean13(4343))
        assert await conn.fetchval(CALLS) == 1
        status = await conn.fetchval(f"select image_status::text from {c.qualified} {where}", product)
        assert status == "missing"
        queued = await conn.fetchval(
            "select count(*) from public.image_jobs where product_id::text = $1 and status = 'queued'",
            product,
        )
        assert queued == 1

        # Same digits, typed differently: the function runs (the text changed) and keeps the state.
        await conn.execute(f"update {c.qualified} set image_status = 'needs_review' {where}", product)
        await conn.execute(f"update {c.qualified} set {c.ean} = ' ' || {c.ean} || ' ' {where}", product)
        assert await conn.fetchval(CALLS) == 2
        status = await conn.fetchval(f"select image_status::text from {c.qualified} {where}", product)
        assert status == "needs_review"
    finally:
        await transaction.rollback()
        await conn.close()
