"""WORKER_SWEEP_SECONDS=0 (the sweep runs in pg_cron instead): the worker works as usual and
never sweeps; its start-up sweep would otherwise fail an exhausted lease at once."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

import asyncpg

from tests.acceptance.conftest import WorkerProcess
from tests.harness import MigratedDatabase, ean13, wait_until


async def exhausted_and_fresh_job(conn: asyncpg.Connection) -> tuple[str, str]:
    """One job that crashed a worker on every attempt (lease expired, no attempt left) and one
    ordinary queued job."""
    await conn.execute(
        "insert into public.products (name, ean) values ('Esgotado', $1), ('Novo', $2)",
        ean13(811),
        ean13(812),
    )
    exhausted = await conn.fetchval(
        "update public.image_jobs j set status = 'running', attempts = max_attempts, locked_by = 'morto',"
        " locked_until = now() - interval '1 minute' from public.products p"
        " where p.id = j.product_id and p.name = 'Esgotado' returning j.id::text"
    )
    fresh = await conn.fetchval(
        "select j.id::text from public.image_jobs j join public.products p on p.id = j.product_id"
        " where p.name = 'Novo'"
    )
    return exhausted, fresh


async def job_status(conn: asyncpg.Connection, job_id: str) -> str:
    return str(await conn.fetchval("select status::text from public.image_jobs where id = $1::uuid", job_id))


async def test_a_worker_without_the_sweep_leaves_it_to_pg_cron(
    start_worker: Callable[..., WorkerProcess], fresh_db: MigratedDatabase, db_conn: asyncpg.Connection
) -> None:
    exhausted, fresh = await exhausted_and_fresh_job(db_conn)
    worker = start_worker(WORKER_SWEEP_SECONDS="0")
    try:
        await wait_until(lambda: _done(db_conn, fresh), within=60)
        assert await job_status(db_conn, exhausted) == "running", "the worker swept"
        assert '"event":"queue_sweep_off"' in worker.log()
        # What pg_cron runs every minute:
        await db_conn.fetchval("select imagefill.sweep_image_queue(30, 90, 5000)")
        assert await job_status(db_conn, exhausted) == "failed"
    finally:
        assert await asyncio.to_thread(worker.stop, signal.SIGTERM) == 0


async def test_a_worker_with_the_sweep_fails_the_exhausted_lease_at_start(
    start_worker: Callable[..., WorkerProcess], fresh_db: MigratedDatabase, db_conn: asyncpg.Connection
) -> None:
    exhausted, fresh = await exhausted_and_fresh_job(db_conn)
    worker = start_worker()
    try:
        await wait_until(lambda: _done(db_conn, fresh), within=60)
        await wait_until(lambda: _failed(db_conn, exhausted), within=60)
        assert '"event":"queue_sweep_off"' not in worker.log()
    finally:
        assert await asyncio.to_thread(worker.stop, signal.SIGTERM) == 0


async def _done(conn: asyncpg.Connection, job_id: str) -> bool:
    return await job_status(conn, job_id) == "done"


async def _failed(conn: asyncpg.Connection, job_id: str) -> bool:
    return await job_status(conn, job_id) == "failed"
