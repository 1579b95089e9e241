"""Real `imagefill run` processes against a real Postgres and the offline stand-ins."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.harness import MigratedDatabase
from worker.offline.postgres import free_port
from worker.offline.services import OfflineServices

IMAGEFILL = str(Path(sys.executable).parent / "imagefill")


@dataclass
class WorkerProcess:
    proc: subprocess.Popen[bytes]
    log_path: Path
    health_port: int

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/health", timeout=2) as response:
            data: dict[str, Any] = json.loads(response.read())
            return data

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/metrics", timeout=2) as response:
            return str(response.read().decode())

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


@pytest.fixture
async def db_conn(fresh_db: MigratedDatabase) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(fresh_db.dsn)
    try:
        yield conn
    finally:
        await conn.close()


def worker_env(
    services: OfflineServices,
    database_url: str,
    tmp_path: Path,
    *,
    judge: bool = False,
    search: bool = False,
    **overrides: str,
) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OFF_", "WORKER_", "STORAGE_", "IMAGE_", "OPENAI_"))
    }
    env.update(services.worker_env(database_url, judge=judge, search=search))
    env.update(
        {
            "RATE_LIMIT_DIR": str(tmp_path / "ratelimit"),
            "WORKER_POLL_SECONDS": "0.5",
            "WORKER_CONCURRENCY": "3",
            "WORKER_RETRY_BACKOFF_SECONDS": "0",
            "WORKER_SHUTDOWN_GRACE_SECONDS": "2",
            "OFF_RETRY_BACKOFF_SECONDS": "0.05",
            "OFF_MAX_RETRIES": "1",
            # The plans' pace is its own test (test_provider_pacing_across_processes.py).
            "IMAGE_SEARCH_RATE_PER_SECOND": "1000",
            "OPENAI_REQUESTS_PER_MINUTE": "600000",
            "LOG_JSON": "true",
        }
    )
    env.update(overrides)
    return env


class WorkerFleet:
    """`imagefill run` processes started in `tmp_path` (one log file each, a free health port),
    and killed at the end if a test left them running."""

    def __init__(self, services: OfflineServices, tmp_path: Path) -> None:
        self.services = services
        self.tmp_path = tmp_path
        self.started: list[WorkerProcess] = []

    def spawn(self, database_url: str, **env_options: Any) -> WorkerProcess:
        port = free_port()
        env = worker_env(
            self.services, database_url, self.tmp_path, WORKER_HEALTH_PORT=str(port), **env_options
        )
        log_path = self.tmp_path / f"worker-{len(self.started)}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [IMAGEFILL, "run"], env=env, cwd=self.tmp_path, stdout=log, stderr=subprocess.STDOUT
            )
        worker = WorkerProcess(proc, log_path, port)
        self.started.append(worker)
        return worker

    def kill_leftovers(self) -> None:
        for worker in self.started:
            if worker.proc.poll() is None:
                worker.proc.kill()
                worker.proc.wait(timeout=10)


@pytest.fixture
def start_worker(
    services: OfflineServices, fresh_db: MigratedDatabase, tmp_path: Path
) -> Iterator[Callable[..., WorkerProcess]]:
    fleet = WorkerFleet(services, tmp_path)

    def start(
        database_url: str | None = None, *, judge: bool = False, search: bool = False, **overrides: str
    ) -> WorkerProcess:
        return fleet.spawn(database_url or fresh_db.dsn, judge=judge, search=search, **overrides)

    yield start
    fleet.kill_leftovers()


async def reviewed(conn: asyncpg.Connection, product_id: object) -> bool:
    """The product is waiting for a person on the review panel."""
    status = await conn.fetchval("select image_status::text from public.products where id = $1", product_id)
    return status == "needs_review"


async def health_says(worker: WorkerProcess, **expected: object) -> bool:
    """The worker's /health answers with these values (False while it is not up yet)."""
    try:
        health = await asyncio.to_thread(worker.health)
    except OSError:
        return False
    return all(health.get(key) == value for key, value in expected.items())


@pytest.fixture
async def transaction_pooler_port(fresh_db: MigratedDatabase) -> AsyncIterator[int]:
    """Port 6543 on loopback forwarding to the test cluster: the worker takes it for Supabase's
    transaction pooler (no LISTEN, no statement cache), as it takes any DATABASE_URL on 6543."""
    upstream_port = fresh_db.cluster.port

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def proxy(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))

    try:
        server = await asyncio.start_server(proxy, "127.0.0.1", 6543)
    except OSError:
        pytest.skip("port 6543 is busy on this machine")
    async with server:
        yield 6543
