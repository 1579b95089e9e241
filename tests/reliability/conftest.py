"""The proof suite's shared pieces: real `imagefill run` processes, dedicated clusters for tests
that restart Postgres, the stand-ins, and readers for what the workers and the database say.

`IMAGEFILL_HEAVY=1` selects the heavier variants (more jobs, more kills, longer outages)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.acceptance.conftest import WorkerFleet, WorkerProcess
from tests.harness import ROOT, MigratedDatabase, Templates
from worker.offline.postgres import LocalPostgres
from worker.offline.services import OfflineServices

HEAVY = os.environ.get("IMAGEFILL_HEAVY") == "1"


@pytest.fixture
def own_db() -> Iterator[MigratedDatabase]:
    """A migrated database on a cluster of its own, so a test may stop and restart the server."""
    cluster = LocalPostgres().start()
    try:
        yield Templates(cluster).fresh_database()
    finally:
        cluster.stop()


SpawnWorker = Callable[..., WorkerProcess]


@pytest.fixture
def spawn_worker(services: OfflineServices, tmp_path: Path) -> Iterator[SpawnWorker]:
    """Starts `imagefill run` against `database_url` with the stand-ins; kills leftovers at the end."""
    fleet = WorkerFleet(services, tmp_path)
    yield fleet.spawn
    fleet.kill_leftovers()


def log_events(*workers: WorkerProcess) -> list[dict[str, Any]]:
    """Every JSON log line of the workers: `{"time", "level", "event", ...fields}`."""
    events: list[dict[str, Any]] = []
    for worker in workers:
        events.extend(json.loads(line) for line in worker.log().splitlines() if line.strip())
    return events


def non_json_lines(*workers: WorkerProcess) -> list[str]:
    bad = []
    for worker in workers:
        for line in worker.log().splitlines():
            try:
                json.loads(line)
            except ValueError:
                bad.append(line)
    return bad


async def job_rows(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return list(await conn.fetch("select * from public.image_jobs order by created_at"))


REPORT = ROOT / ".reliability" / "report.jsonl"


def report(scenario: str, **figures: object) -> None:
    """Appends a scenario's figures to .reliability/report.jsonl (and prints them with -s)."""
    REPORT.parent.mkdir(exist_ok=True)
    line = json.dumps({"scenario": scenario, "heavy": HEAVY, **figures}, ensure_ascii=False)
    with REPORT.open("a") as out:
        out.write(line + "\n")
    print(line)


def peak_rss_mib(pid: int) -> float:
    """VmHWM: the process's peak resident set, as the kernel counts it."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("VmHWM not found")
