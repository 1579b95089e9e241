"""Shared pieces of the benchmarks: a throwaway cluster, migrated databases, the results table.

Every benchmark compares against a baseline measured in the same run, interleaved, so that the
noise of a shared machine hits both sides alike: read the ratios, not the absolute numbers.
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from worker.logs import JsonLineSink
from worker.migrate import apply_migrations
from worker.offline.postgres import LocalPostgres
from worker.offline.system_deps import system_file


@dataclass
class Row:
    """One line of bench/RESULTS.md."""

    section: str
    what: str
    measured: str
    against: str = ""
    ratio: str = ""
    note: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)

    def add(self, *args: str, **kwargs: str) -> None:
        row = Row(*args, **kwargs)
        self.rows.append(row)
        print(
            f"[{row.section}] {row.what}: {row.measured} | {row.against} | {row.ratio} {row.note}", flush=True
        )


async def migrated_database(pg: LocalPostgres, name: str) -> str:
    """A fresh database with the platform stand-in and every migration; returns the worker's DSN."""
    pg.psql(f"drop database if exists {name}")
    pg.psql(f"create database {name}")
    pg.install_platform_standin(name)
    dsn = pg.dsn(name, user="postgres")
    await apply_migrations(dsn)
    return dsn


def ean13(seed: int, prefix: str = "789") -> str:
    body = f"{prefix}{seed:0{12 - len(prefix)}d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


async def insert_products(dsn: str, count: int, offset: int = 0) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "insert into public.products (name, ean) select * from unnest($1::text[], $2::text[])",
            [f"Produto {i}" for i in range(offset, offset + count)],
            [ean13(i) for i in range(offset, offset + count)],
        )
    finally:
        await conn.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(round(q * (len(ordered) - 1)), len(ordered) - 1)
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values)


async def timed(call: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


@dataclass(frozen=True)
class CpuTime:
    """CPU seconds used so far: by the whole machine (every core's busy time, so the database's
    backends count too) and by this Python process."""

    machine: float
    process: float

    @staticmethod
    def now() -> CpuTime:
        ticks = os.sysconf("SC_CLK_TCK")
        # steal is time the hypervisor gave to someone else: not ours
        user, nice, system, _idle, _iowait, irq, softirq = (
            int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]
        )
        own = os.times()
        return CpuTime((user + nice + system + irq + softirq) / ticks, own.user + own.system)

    def __sub__(self, earlier: CpuTime) -> CpuTime:
        return CpuTime(self.machine - earlier.machine, self.process - earlier.process)


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0))
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    try:
        pg = subprocess.run(
            [str(system_file("postgres")), "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        pg = "?"
    return (
        f"{cpu}, {cores} cores usable, load average at start {load}; Python {platform.python_version()};"
        f" {pg}; {platform.platform()}"
    )


@contextlib.asynccontextmanager
async def quiet_logs() -> AsyncIterator[None]:
    """The worker logs as in production (one JSON line per event), into /dev/null."""
    from loguru import logger

    with Path(os.devnull).open("w") as sink:  # noqa: ASYNC230 -- opening /dev/null never blocks
        logger.remove()
        logger.add(JsonLineSink(sink), level="INFO", diagnose=False)
        yield
