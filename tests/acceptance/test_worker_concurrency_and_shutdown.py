"""Several workers on one queue, SIGTERM mid-job, and the LISTEN connection killed under the worker."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Callable

import asyncpg

from tests.acceptance.conftest import WorkerProcess, health_says, reviewed
from tests.harness import MigratedDatabase, ean13, wait_until
from worker.offline.services import OfflineServices


async def count_status(conn: asyncpg.Connection, status: str) -> int:
    return int(await conn.fetchval("select count(*) from public.products where image_status = $1", status))


async def test_two_workers_never_process_one_job_twice(
    start_worker: Callable[..., WorkerProcess], db_conn: asyncpg.Connection, services: OfflineServices
) -> None:
    assert services.off is not None
    codes = [ean13(9000 + i) for i in range(30)]
    for code in codes:
        services.off.delays[code] = 0.1
    workers = [start_worker(), start_worker()]
    for worker in workers:  # both must be listening before the work arrives, or one may take it all
        await wait_until(lambda w=worker: health_says(w, listener_connected=True), within=60)
    await db_conn.executemany(
        "insert into public.products (name, ean) values ($1, $2)", [(f"Produto {c}", c) for c in codes]
    )

    async def all_reviewed() -> bool:
        return await count_status(db_conn, "needs_review") == 30

    await wait_until(all_reviewed, within=60)
    completions = await db_conn.fetch(
        "select job_id, count(*) as n from public.image_job_events where stage = 'complete' group by job_id"
    )
    assert len(completions) == 30 and all(r["n"] == 1 for r in completions)
    assert await db_conn.fetchval("select max(attempts) from public.image_jobs") == 1
    assert sorted(len(services.off.requests_for(c)) for c in codes) == [1] * 30, "one OFF read per product"

    # A worker counts a completion once its commit returns, a moment after the row reads done.
    async def counted() -> list[int] | None:
        done = [(await asyncio.to_thread(w.health))["completed"] for w in workers]
        return done if sum(done) == 30 else None

    done = await wait_until(counted)
    assert min(done) > 0, f"both workers should have worked: {done}"


async def test_sigterm_mid_job_hands_the_job_back(
    start_worker: Callable[..., WorkerProcess], db_conn: asyncpg.Connection, services: OfflineServices
) -> None:
    assert services.off is not None
    services.off.delays["5601077161035"] = 60  # the job will still be waiting on OFF
    worker = start_worker(WORKER_SHUTDOWN_GRACE_SECONDS="0.5")
    product_id = await db_conn.fetchval(
        "insert into public.products (name, ean) values ('Porto', '5601077161035') returning id"
    )

    async def running() -> bool:
        return (
            await db_conn.fetchval(
                "select status = 'running' from public.image_jobs where product_id = $1", product_id
            )
            is True
        )

    await wait_until(running)
    assert worker.stop(signal.SIGTERM, timeout=30) == 0
    job = await db_conn.fetchrow("select * from public.image_jobs where product_id = $1", product_id)
    assert (job["status"], job["attempts"], job["locked_by"]) == ("queued", 0, None)
    release = await db_conn.fetchval(
        "select detail ->> 'reason' from public.image_job_events where job_id = $1 and stage = 'release'",
        job["id"],
    )
    assert release is not None
    assert (
        await db_conn.fetchval("select image_status::text from public.products where id = $1", product_id)
        == "missing"
    )

    # Another worker picks the handed-back job up and finishes it.
    services.off.delays.pop("5601077161035")
    start_worker()

    await wait_until(lambda: reviewed(db_conn, product_id))


async def test_listener_comes_back_after_pg_terminate_backend(
    start_worker: Callable[..., WorkerProcess], db_conn: asyncpg.Connection, fresh_db: MigratedDatabase
) -> None:
    # Polling every 10 minutes: only NOTIFY (or the scan after a reconnect) can wake this worker.
    worker = start_worker(WORKER_POLL_SECONDS="600")
    await wait_until(lambda: health_says(worker, listener_connections=1, listener_connected=True))

    first = await db_conn.fetchval(
        "insert into public.products (name, ean) values ('A', $1) returning id", ean13(1)
    )
    await wait_until(lambda: reviewed(db_conn, first))

    admin = await asyncpg.connect(fresh_db.superuser_dsn)
    try:
        killed = await admin.fetchval(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity"
            " where application_name = 'imagefill listener' and datname = current_database()"
        )
        assert killed == 1
    finally:
        await admin.close()

    await wait_until(lambda: health_says(worker, listener_connections=2, listener_connected=True))
    second = await db_conn.fetchval(
        "insert into public.products (name, ean) values ('B', $1) returning id", ean13(2)
    )
    await wait_until(lambda: reviewed(db_conn, second), within=60)


async def test_transaction_pooler_falls_back_to_polling(
    start_worker: Callable[..., WorkerProcess],
    db_conn: asyncpg.Connection,
    fresh_db: MigratedDatabase,
    transaction_pooler_port: int,
) -> None:
    """A DATABASE_URL on port 6543 (Supabase's transaction pooler) cannot LISTEN: warn and poll."""
    worker = start_worker(
        database_url=f"postgresql://postgres@127.0.0.1:{transaction_pooler_port}/{fresh_db.name}"
    )
    product_id = await db_conn.fetchval(
        "insert into public.products (name, ean) values ('C', $1) returning id", ean13(3)
    )
    await wait_until(lambda: reviewed(db_conn, product_id), within=60)
    assert worker.health()["listener_connected"] is False
    warning = next(json.loads(line) for line in worker.log().splitlines() if "listen_unavailable" in line)
    assert "6543" in warning["event"] and warning["level"] == "WARNING"
    assert await asyncio.to_thread(worker.stop) == 0


async def test_a_job_longer_than_its_lease_keeps_it(
    start_worker: Callable[..., WorkerProcess], db_conn: asyncpg.Connection, services: OfflineServices
) -> None:
    """The lease keeper renews the lease: a second worker never reclaims a job that is alive."""
    assert services.off is not None
    services.off.delays["8424259826051"] = 14  # longer than the 10 s lease
    first = start_worker(WORKER_LEASE_SECONDS="10", OFF_TIMEOUT_SECONDS="30")
    second = start_worker(WORKER_LEASE_SECONDS="10", OFF_TIMEOUT_SECONDS="30", WORKER_POLL_SECONDS="0.2")
    for worker in (first, second):
        await wait_until(lambda w=worker: health_says(w, listener_connected=True), within=60)
    product_id = await db_conn.fetchval(
        "insert into public.products (name, ean) values ('Soja', '8424259826051') returning id"
    )
    await wait_until(lambda: reviewed(db_conn, product_id), within=60)
    job = await db_conn.fetchrow(
        "select attempts, status::text from public.image_jobs where product_id = $1", product_id
    )
    assert (job["attempts"], job["status"]) == (1, "done")
    assert len(services.off.requests_for("8424259826051")) == 1, "nobody else started the same job"
    assert sum(w.health()["leases_lost"] for w in (first, second)) == 0  # whichever took the job
