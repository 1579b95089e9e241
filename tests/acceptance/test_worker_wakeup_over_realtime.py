"""WORKER_WAKEUP=realtime: a worker whose DATABASE_URL is the transaction pooler (port 6543, no
LISTEN) joins the private `imagefill:jobs` channel of the Realtime stand-in with the service-role key
and picks up each job as it is queued, long before its poll (5 minutes here) would; when Realtime
drops it says so on /health and rejoins when it is back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg

from tests.acceptance.conftest import WorkerProcess, health_says, reviewed, worker_env
from tests.acceptance.test_cli_commands import imagefill
from tests.harness import MigratedDatabase, ean13, wait_until
from worker.offline.panel import serve
from worker.offline.postgrest import PostgrestStandIn, mint_jwt
from worker.offline.realtime_server import RealtimeStandIn
from worker.offline.services import OfflineServices


async def test_a_worker_without_listen_wakes_up_on_realtime_and_rejoins(
    start_worker: Callable[..., WorkerProcess],
    db_conn: asyncpg.Connection,
    fresh_db: MigratedDatabase,
    transaction_pooler_port: int,
    services: OfflineServices,
    tmp_path: Path,
) -> None:
    postgrest = PostgrestStandIn(fresh_db.cluster.dsn(fresh_db.name, user="authenticator"))
    realtime = RealtimeStandIn(fresh_db.dsn)
    runner, supabase_url = await serve(realtime.attach(postgrest.app))
    service_key = mint_jwt(
        {"role": "service_role", "iss": "supabase-standin", "exp": int(time.time()) + 3600}
    )
    try:
        worker = start_worker(
            database_url=f"postgresql://postgres@127.0.0.1:{transaction_pooler_port}/{fresh_db.name}",
            WORKER_WAKEUP="realtime",
            WORKER_POLL_SECONDS="300",  # the safety net cannot explain a pick-up within seconds
            STORAGE_BACKEND="local",
            SUPABASE_URL=supabase_url,
            SUPABASE_SERVICE_ROLE_KEY=service_key,
        )
        await wait_until(lambda: health_says(worker, wakeup="realtime", wakeup_live="realtime"), within=60)
        assert ("realtime:imagefill:jobs", "ok") in realtime.joins

        product_id = await db_conn.fetchval(
            "insert into public.products (name, ean) values ('Café', $1) returning id", ean13(31)
        )
        await wait_until(lambda: reviewed(db_conn, product_id), within=20)
        listeners = await db_conn.fetchval(
            "select count(*) from pg_stat_activity where application_name = 'imagefill listener'"
            " and datname = current_database()"
        )
        assert listeners == 0

        # Realtime drops: /health says the worker only polls; it rejoins (with backoff) once back.
        await realtime.stop_serving()
        await wait_until(lambda: health_says(worker, wakeup_live="poll", listener_connected=False), within=30)
        realtime.resume_serving()
        await wait_until(
            lambda: health_says(worker, wakeup_live="realtime", listener_connections=2), within=60
        )
        product_id = await db_conn.fetchval(
            "insert into public.products (name, ean) values ('Chá', $1) returning id", ean13(32)
        )
        await wait_until(lambda: reviewed(db_conn, product_id), within=20)
        assert await asyncio.to_thread(worker.stop) == 0

        env = worker_env(
            services,
            f"postgresql://postgres@127.0.0.1:{transaction_pooler_port}/{fresh_db.name}",
            tmp_path,
            WORKER_WAKEUP="realtime",
            STORAGE_BACKEND="local",
            SUPABASE_URL=supabase_url,
            SUPABASE_SERVICE_ROLE_KEY=service_key,
        )
        status = await imagefill(env, tmp_path, "status")
        assert status.returncode == 0, status.stderr
        assert "worker acorda por: realtime — Supabase Realtime" in status.stdout, status.stdout
    finally:
        await runner.cleanup()
