"""`imagefill backfill` processes exactly its batch, and a stopped backfill hands its claimed jobs
back at once (no job is left `running` until its lease expires)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import asyncpg
import pytest

from tests.acceptance.conftest import IMAGEFILL, worker_env
from tests.acceptance.test_cli_commands import imagefill
from tests.harness import MigratedDatabase, ean13, wait_until
from worker.offline.services import OfflineServices


async def test_backfill_limit_touches_exactly_its_batch(
    services: OfflineServices, fresh_db: MigratedDatabase, db_conn: asyncpg.Connection, tmp_path: Path
) -> None:
    # Eight products queued by the triggers (no batch): the backfill adopts three of them.
    await db_conn.executemany(
        "insert into public.products (name, ean) values ($1, $2)",
        [(f"P{i}", ean13(900 + i)) for i in range(8)],
    )
    assert await db_conn.fetchval("select count(*) from public.image_jobs where status = 'queued'") == 8
    env = worker_env(services, fresh_db.dsn, tmp_path)

    result = await imagefill(env, tmp_path, "backfill", "--limit", "3", "--in-process")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "processados: 3 |" in result.stdout, result.stdout

    by_batch = await db_conn.fetch(
        "select batch_id is not null as in_batch, status::text, count(*) as n, sum(attempts) as attempts"
        " from public.image_jobs group by 1, 2 order by 1, 2"
    )
    assert [tuple(r) for r in by_batch] == [(False, "queued", 5, 0), (True, "done", 3, 3)]


async def _jobs_by_status(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch("select status::text, count(*) as n from public.image_jobs group by 1")
    return {r["status"]: r["n"] for r in rows}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_a_stopped_backfill_leaves_no_running_job(
    services: OfflineServices,
    fresh_db: MigratedDatabase,
    db_conn: asyncpg.Connection,
    tmp_path: Path,
    sig: signal.Signals,
) -> None:
    codes = [ean13(950 + i) for i in range(5)]
    assert services.off is not None
    for code in codes:
        services.off.delays[code] = 60.0  # Open Food Facts hangs: the jobs stay in flight
    await db_conn.executemany(
        "insert into public.products (name, ean) values ($1, $2)", [(f"Lento {c}", c) for c in codes]
    )
    env = worker_env(
        services, fresh_db.dsn, tmp_path, WORKER_CONCURRENCY="3", WORKER_SHUTDOWN_GRACE_SECONDS="1"
    )
    proc = await asyncio.create_subprocess_exec(
        IMAGEFILL,
        "backfill",
        "--limit",
        "5",
        "--in-process",
        env={**env, "COLUMNS": "200"},
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await wait_until(lambda: _running(db_conn, 3), within=60)
        proc.send_signal(sig)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    stdout, stderr = out.decode(), err.decode()

    assert proc.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr
    assert "erro: interrompido: 3 jobs devolvidos à fila" in stderr, stderr
    statuses = await _jobs_by_status(db_conn)
    assert statuses == {"queued": 5}, statuses
    # Handed back, not failed: the attempt does not count, and it is due again now.
    assert await db_conn.fetchval("select max(attempts) from public.image_jobs") == 0
    assert await db_conn.fetchval("select count(*) from public.image_jobs where run_after <= now()") == 5
    released = await db_conn.fetchval(
        "select count(*) from public.image_job_events where stage = 'release' and outcome = 'requeued'"
    )
    assert released == 3


async def _running(conn: asyncpg.Connection, n: int) -> bool:
    return (await _jobs_by_status(conn)).get("running", 0) >= n
