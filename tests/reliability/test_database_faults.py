"""Postgres restarts, outages and a killed LISTEN connection: the worker carries on by itself,
nothing is lost, and a result finished while the database was away is recorded after it."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from tests.harness import MigratedDatabase, ean13, insert_products, wait_until
from tests.reliability.conftest import HEAVY, SpawnWorker, log_events, non_json_lines, report
from worker.offline.services import OfflineServices

OUTAGE_SECONDS = 20.0 if HEAVY else 4.0


async def _connect(db: MigratedDatabase) -> asyncpg.Connection:
    return await asyncpg.connect(db.dsn)


async def test_a_result_finished_during_an_outage_is_recorded_after_it(
    own_db: MigratedDatabase, services: OfflineServices, spawn_worker: SpawnWorker
) -> None:
    """Defect 4: the completion is retried while the lease lasts; nothing is downloaded twice."""
    assert services.off is not None
    code = "5601077161035"
    services.off.delays[code] = 3.0  # the job is in flight when the database goes away
    worker = spawn_worker(own_db.dsn, WORKER_LEASE_SECONDS="60")
    conn = await _connect(own_db)
    [product_id] = await insert_products(conn, own_db.catalogue, [("Porto", code)])
    await wait_until(lambda: asyncio.sleep(0, services.off.requests_for(code)), within=30)  # type: ignore[union-attr]
    await conn.close()

    own_db.cluster.stop_server("fast")
    started = time.monotonic()
    try:
        await wait_until(lambda: asyncio.sleep(0, "record_retry" in worker.log()), within=60)
    except TimeoutError:
        raise AssertionError("no retried completion:\n" + worker.log()[-4000:]) from None
    await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - started)))
    own_db.cluster.start_server()

    conn = await _connect(own_db)
    try:
        job = await wait_until(
            lambda: conn.fetchrow(
                "select * from public.image_jobs where product_id = $1::uuid and status = 'done'", product_id
            ),
            within=60,
        )
        assert job["attempts"] == 1, "no attempt was spent on the outage"
        assert len(services.off.requests_for(code)) == 1, "the finished work was not redone"
        status = await conn.fetchval(
            "select image_status::text from public.products where id = $1::uuid", product_id
        )
        assert status == "needs_review"
        fails = await conn.fetchval(
            "select count(*) from public.image_job_events where job_id = $1 and stage = 'fail'", job["id"]
        )
        assert fails == 0
    finally:
        await conn.close()
    # `job_done` is logged once the completion's commit returns, a moment after the row reads done.
    await wait_until(lambda: asyncio.sleep(0, '"job_done"' in worker.log()), within=30)
    events = [e["event"] for e in log_events(worker)]
    assert "record_retry" in events and "job_done" in events
    report(
        "database_outage",
        outage_seconds=OUTAGE_SECONDS,
        jobs=1,
        attempts=job["attempts"],
        completion_retries=events.count("record_retry"),
        off_requests=len(services.off.requests_for(code)),
    )
    assert "fail_not_recorded" not in events and "complete_not_recorded" not in events
    assert not non_json_lines(worker), "JSON log mode stays JSON through the outage"


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_restarts_lose_nothing(
    own_db: MigratedDatabase, services: OfflineServices, spawn_worker: SpawnWorker, mode: str
) -> None:
    assert services.off is not None
    for code in ("22007377", "4000539770708", "8424259826051"):
        services.off.delays[code] = 0.5
    workers = [spawn_worker(own_db.dsn, WORKER_LEASE_SECONDS="10") for _ in range(2)]
    conn = await _connect(own_db)
    codes = ["22007377", "4000539770708", "8424259826051"] + [ean13(i) for i in range(1, 28)]
    ids = await insert_products(conn, own_db.catalogue, [(f"P{i}", c) for i, c in enumerate(codes)])
    await conn.close()

    for worker in workers:
        await wait_until(lambda w=worker: asyncio.sleep(0, "listener_connected" in w.log()), within=30)
    started = time.monotonic()
    own_db.cluster.restart(mode)
    await asyncio.sleep(1.0)
    own_db.cluster.restart(mode)

    conn = await _connect(own_db)
    try:

        async def settled() -> bool:
            left = await conn.fetchval(
                "select count(*) from public.products where id = any($1::uuid[])"
                " and image_status not in ('needs_review', 'ok', 'error')",
                ids,
            )
            return left == 0

        try:
            await wait_until(settled, within=120, interval=0.2)
        except TimeoutError:
            rows = await conn.fetch(
                "select p.image_status::text, j.status::text, j.attempts, j.locked_by, j.locked_until,"
                " j.last_error, j.run_after, now()"
                " from public.products p left join public.image_jobs j on j.product_id = p.id"
                " where p.image_status not in ('needs_review', 'ok', 'error')"
            )
            raise AssertionError(
                f"not settled: {[dict(r) for r in rows][:5]}\n" + workers[0].log()[-6000:]
            ) from None
        drain_seconds = time.monotonic() - started
        jobs = await conn.fetch("select status::text, attempts from public.image_jobs")
        assert {j["status"] for j in jobs} == {"done"}
        done_twice = await conn.fetchval(
            "select count(*) from (select job_id from public.image_job_events where stage = 'complete'"
            " group by job_id having count(*) > 1) x"
        )
        assert done_twice == 0
        report(
            f"database_restart_{mode}",
            jobs=len(jobs),
            restarts=2,
            duplicates=done_twice,
            drain_seconds=round(drain_seconds, 1),
            max_attempts_used=max(j["attempts"] for j in jobs),
        )
    finally:
        await conn.close()
    assert all(w.proc.poll() is None for w in workers), "the workers carried on by themselves:\n" + "\n".join(
        w.log()[-3000:] for w in workers if w.proc.poll() is not None
    )
    assert not non_json_lines(*workers)


async def test_a_terminated_listen_connection_comes_back(
    fresh_db: MigratedDatabase, services: OfflineServices, spawn_worker: SpawnWorker
) -> None:
    """With polling every 60 s, only a live LISTEN picks up new work within seconds."""
    worker = spawn_worker(fresh_db.dsn, WORKER_POLL_SECONDS="60")
    conn = await _connect(fresh_db)
    try:
        await wait_until(lambda: asyncio.sleep(0, "listener_connected" in worker.log()), within=30)
        killed = await conn.fetchval(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity"
            " where application_name = 'imagefill listener' and datname = current_database()"
        )
        assert killed == 1
        await wait_until(lambda: asyncio.sleep(0, worker.log().count('"listener_connected"') >= 2), within=30)
        [product_id] = await insert_products(conn, fresh_db.catalogue, [("Soja", "8424259826051")])
        await wait_until(
            lambda: conn.fetchval(
                "select image_status::text = 'needs_review' from public.products where id = $1::uuid",
                product_id,
            ),
            within=20,
        )
    finally:
        await conn.close()
