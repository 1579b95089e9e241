"""Every job belongs to an existing product, as the foreign key it replaces promised, now checked
once per statement: a job for a missing product is refused with a clear error, deleting or
truncating products deletes their jobs, a product with jobs keeps its key, a concurrent delete
waits for the job's transaction (and the other way round). A bulk insert of products enqueues
without locking any product row, the per-row cost the foreign key had. Both renderings."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.harness import MigratedDatabase, ean13, insert_products, wait_until


@pytest.fixture
async def conn(catalogue_db: MigratedDatabase) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(catalogue_db.dsn)
    c = catalogue_db.catalogue
    try:
        yield connection
    finally:
        await connection.execute(f"delete from {c.qualified} where {c.name} like 'FK %'")
        await connection.close()


def _other_key(db: MigratedDatabase) -> str:
    """A key no product has."""
    return "987654321" if db.catalogue.table.id_type == "bigint" else "99999999-0000-0000-0000-00000000dead"


def _insert_job(db: MigratedDatabase, count: int = 1) -> str:
    keys = ", ".join(f"(${i + 1}::text::{db.catalogue.table.id_type}, 'enrich')" for i in range(count))
    return f"insert into public.image_jobs (product_id, kind) values {keys}"


async def _jobs(conn: asyncpg.Connection, product: str) -> int:
    return int(
        await conn.fetchval("select count(*) from public.image_jobs where product_id::text = $1", product)
    )


async def _blocked_on_a_lock(watcher: asyncpg.Connection, blocked: asyncpg.Connection) -> None:
    async def check() -> bool:
        return bool(
            await watcher.fetchval(
                "select count(*) from pg_stat_activity where pid = $1 and wait_event_type = 'Lock'",
                blocked.get_server_pid(),
            )
        )

    await wait_until(check, within=10)


async def test_bulk_insert_enqueues_without_locking_products(
    catalogue_db: MigratedDatabase, conn: asyncpg.Connection
) -> None:
    c = catalogue_db.catalogue
    ids = await insert_products(conn, c, [(f"FK lote {i}", ean13(7000 + i)) for i in range(300)])
    jobs = await conn.fetchval(
        "select count(*) from public.image_jobs where product_id::text = any ($1::text[])", ids
    )
    assert jobs == 300
    # A foreign key check (FOR KEY SHARE) leaves its transaction's xid in each product's xmax.
    locked = await conn.fetchval(
        f"select count(*) from {c.qualified} where {c.id}::text = any ($1::text[]) and xmax <> '0'::xid", ids
    )
    assert locked == 0


async def test_a_job_for_a_missing_product_is_refused(
    catalogue_db: MigratedDatabase, conn: asyncpg.Connection
) -> None:
    [product] = await insert_products(conn, catalogue_db.catalogue, [("FK existe", None)])
    missing = _other_key(catalogue_db)
    with pytest.raises(asyncpg.ForeignKeyViolationError, match=f"o produto {missing} não existe"):
        await conn.execute(_insert_job(catalogue_db, 2), product, missing)
    assert await _jobs(conn, product) == 0, "the whole statement is refused"

    await conn.execute(_insert_job(catalogue_db), product)
    assert await _jobs(conn, product) == 1, "a job for an existing product is accepted"
    with pytest.raises(asyncpg.ForeignKeyViolationError, match="não existe"):
        await conn.execute(
            f"update public.image_jobs set product_id = $2::text::{catalogue_db.catalogue.table.id_type}"
            " where product_id::text = $1",
            product,
            missing,
        )
    assert await _jobs(conn, product) == 1


async def test_deleting_or_truncating_products_deletes_their_jobs(
    catalogue_db: MigratedDatabase, conn: asyncpg.Connection
) -> None:
    c = catalogue_db.catalogue
    ids = await insert_products(conn, c, [(f"FK apagar {i}", ean13(7500 + i)) for i in range(5)])
    # The first product gets a job in every status there is (queued came from the insert).
    await conn.execute(
        "insert into public.image_jobs (product_id, kind, status, locked_by, locked_until, finished_at)"
        f" select $1::text::{c.table.id_type}, k::public.image_job_kind, s::public.image_job_status,"
        " 'w', now(), now()"
        " from (values ('approve', 'running'), ('enrich', 'done'), ('enrich', 'failed')) v(k, s)",
        ids[0],
    )
    statuses = await conn.fetchval(
        "select count(distinct status) = cardinality(enum_range(null::public.image_job_status))"
        " from public.image_jobs where product_id::text = $1",
        ids[0],
    )
    assert statuses, "every job status is covered"
    await conn.execute(f"delete from {c.qualified} where {c.id}::text = any ($1::text[])", ids[:2])
    assert [await _jobs(conn, i) for i in ids] == [0, 0, 1, 1, 1], "jobs in every status go with the product"
    # The panel's job counters followed the deletion.
    counted = json.loads(await conn.fetchval("select imagefill.image_counters()"))
    actual = await conn.fetch(
        "select 'jobs:' || status as counter, count(*) as n from public.image_jobs group by 1"
    )
    assert {r["counter"]: r["n"] for r in actual} == {
        k: v for k, v in counted.items() if k.startswith("jobs:") and v
    }

    transaction = conn.transaction()
    await transaction.start()
    try:
        await conn.execute(f"truncate {c.qualified} cascade")
        assert await conn.fetchval("select count(*) from public.image_jobs") == 0
    finally:
        await transaction.rollback()
    assert await _jobs(conn, ids[2]) == 1


async def test_a_product_with_jobs_keeps_its_key(
    catalogue_db: MigratedDatabase, conn: asyncpg.Connection
) -> None:
    c = catalogue_db.catalogue
    [with_job, without_job] = await insert_products(
        conn, c, [("FK chave", ean13(7600)), ("FK chave 2", None)]
    )
    rekey = f"update {c.qualified} set {c.id} = $2::text::{c.table.id_type} where {c.id}::text = $1"
    with pytest.raises(asyncpg.ForeignKeyViolationError, match="não pode mudar"):
        await conn.execute(rekey, with_job, _other_key(catalogue_db))
    await conn.execute(rekey, without_job, _other_key(catalogue_db))
    assert await _jobs(conn, with_job) == 1


async def test_a_concurrent_delete_waits_for_the_new_job_and_takes_it_along(
    catalogue_db: MigratedDatabase, conn: asyncpg.Connection
) -> None:
    c = catalogue_db.catalogue
    [product] = await insert_products(conn, c, [("FK corrida", None)])
    enqueuer = await asyncpg.connect(catalogue_db.dsn)
    deleter = await asyncpg.connect(catalogue_db.dsn)
    try:
        transaction = enqueuer.transaction()
        await transaction.start()
        await enqueuer.execute(_insert_job(catalogue_db), product)
        delete = asyncio.ensure_future(
            deleter.execute(f"delete from {c.qualified} where {c.id}::text = $1", product)
        )
        await _blocked_on_a_lock(conn, deleter)
        assert not delete.done()
        await transaction.commit()
        assert await asyncio.wait_for(delete, 10) == "DELETE 1"
        assert await _jobs(conn, product) == 0
    finally:
        await enqueuer.close()
        await deleter.close()


async def test_the_sweep_deletes_a_job_a_repeatable_read_delete_left_behind(
    catalogue_db: MigratedDatabase, conn: asyncpg.Connection
) -> None:
    """The documented limit: a REPEATABLE READ delete racing a job insert misses the new job.
    That job must not keep the product's key from coming back: the sweep deletes it."""
    c = catalogue_db.catalogue
    [product] = await insert_products(conn, c, [("FK repetível", None)])
    enqueuer = await asyncpg.connect(catalogue_db.dsn)
    deleter = await asyncpg.connect(catalogue_db.dsn)
    try:
        adding = enqueuer.transaction()
        await adding.start()
        await enqueuer.execute(_insert_job(catalogue_db), product)
        deleting = deleter.transaction(isolation="repeatable_read")
        await deleting.start()
        await deleter.execute("select 1")  # the snapshot, taken before the job commits
        delete = asyncio.ensure_future(
            deleter.execute(f"delete from {c.qualified} where {c.id}::text = $1", product)
        )
        await _blocked_on_a_lock(conn, deleter)
        await adding.commit()
        await asyncio.wait_for(delete, 10)
        await deleting.commit()
        assert await _jobs(conn, product) == 1, "the limit happened (the case tested)"

        insert_same_key = (
            f"insert into {c.qualified} ({c.id}, {c.name}, {c.ean})"
            f" values ($1::text::{c.table.id_type}, 'FK de volta', $2)"
        )
        with pytest.raises(asyncpg.UniqueViolationError):  # the orphan holds the active-job slot
            await conn.execute(insert_same_key, product, ean13(77_001))
        swept = json.loads(await conn.fetchval("select imagefill.sweep_image_queue()"))
        assert swept["orphans_deleted"] == 1
        await conn.execute(insert_same_key, product, ean13(77_001))
        assert await _jobs(conn, product) == 1, "the product is back, with a job of its own"
    finally:
        await enqueuer.close()
        await deleter.close()


async def test_a_job_for_a_product_being_deleted_waits_and_is_refused(
    catalogue_db: MigratedDatabase, conn: asyncpg.Connection
) -> None:
    c = catalogue_db.catalogue
    [product] = await insert_products(conn, c, [("FK corrida 2", None)])
    deleter = await asyncpg.connect(catalogue_db.dsn)
    enqueuer = await asyncpg.connect(catalogue_db.dsn)
    try:
        transaction = deleter.transaction()
        await transaction.start()
        await deleter.execute(f"delete from {c.qualified} where {c.id}::text = $1", product)
        insert = asyncio.ensure_future(enqueuer.execute(_insert_job(catalogue_db), product))
        await _blocked_on_a_lock(conn, enqueuer)
        await transaction.commit()
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await asyncio.wait_for(insert, 10)
        assert await _jobs(conn, product) == 0
    finally:
        await enqueuer.close()
        await deleter.close()


async def test_deleting_a_product_finds_its_jobs_by_index(
    catalogue_db: MigratedDatabase, conn: asyncpg.Connection
) -> None:
    """The delete trigger's statement reaches a product's jobs through image_jobs_product_idx,
    never by reading every job."""
    c = catalogue_db.catalogue
    await conn.execute("set enable_seqscan = off")
    try:
        plan = await conn.fetchval(
            "explain (format json) delete from public.image_jobs j"
            f" where j.product_id = $1::text::{c.table.id_type}",
            _other_key(catalogue_db),
        )
        assert '"Index Name": "image_jobs_product_idx"' in plan, plan
    finally:
        await conn.execute("reset enable_seqscan")


async def test_rejected_candidates_belong_to_existing_products(
    catalogue_db: MigratedDatabase, conn: asyncpg.Connection
) -> None:
    """A rejection is rare, so it keeps its plain foreign key: it goes with its product, and one
    for a product that does not exist is refused."""
    c = catalogue_db.catalogue
    (product,) = await insert_products(conn, c, [("FK rejeitada", ean13(4410))])
    insert = (
        "insert into public.image_rejected_candidates (product_id, url)"
        f" values ($1::text::{c.table.id_type}, 'https://cdn.example/ruim.jpg')"
    )
    await conn.execute(insert, product)
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await conn.execute(insert, _other_key(catalogue_db))
    await conn.execute(f"delete from {c.qualified} where {c.id}::text = $1", product)
    left = await conn.fetchval(
        "select count(*) from public.image_rejected_candidates where product_id::text = $1", product
    )
    assert left == 0
