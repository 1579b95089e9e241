"""End to end: the whole worker (OFF request, image download, normalize, store, complete) against
stand-ins that take 300 ms per request, at concurrency 5, 20 and 50, and with 3 worker processes;
and the per-picture CPU behind it.

The bound is what the external services allow: every job needs two requests (OFF, then the
image), so N jobs at concurrency C cannot take less than N × 2 × latency / C. Efficiency =
bound / measured (1.0 = the worker adds nothing). Every setting runs REPEAT times, interleaved
(round after round of all settings), and the row shows the median. Baselines in the same run: the
same worker with image work on the event loop (as before the image pool), and the same worker with
the picture code as it was before issue 11 (`bench/images_before.py`: a pure-Python flood fill,
progressive JPEGs, the judge's copy always made), both at concurrency 20.

Per picture: CPU time (thread time) of normalize + cutout, new code against the old in the same
run, interleaved; and the event loop's lag while the image pool works through pictures (what the
GIL held by the picture code costs everything else the worker does).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from bench import images_before
from bench.common import Report, insert_products, median, migrated_database, percentile, quiet_logs
from worker.images import JUDGE_SIDE, ImagePool, NormalizedImage, cutout_png, normalize_image
from worker.offline.image_host import synthesize_product_image
from worker.offline.postgres import LocalPostgres
from worker.runner import open_worker
from worker.settings import load_settings
from worker.stats import LoopLagMonitor

LATENCY = 0.3
REPEAT = 3
PICTURE_ROUNDS = 15  # per-picture CPU: interleaved calls of the old and the new code, median
LAG_PICTURES = 24  # pictures the pool works through while the loop's lag is measured


@contextlib.contextmanager
def standins(latency: float, not_found: float = 0.0) -> Iterator[dict[str, str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.standins", "--latency", str(latency), "--not-found", str(not_found)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        urls: dict[str, str] = json.loads(process.stdout.readline())
        yield urls
    finally:
        process.terminate()
        process.wait(10)


def worker_env(dsn: str, urls: dict[str, str], storage_dir: str, concurrency: int) -> dict[str, str]:
    return {
        "DATABASE_URL": dsn,
        "OFF_BASE_URL": urls["off"],
        "OFF_RATE_LIMIT_PER_MINUTE": "100000",
        "OFF_MAX_RETRIES": "0",
        "IMAGE_FETCH_ALLOW_HOSTS": "127.0.0.1",
        "STORAGE_BACKEND": "local",
        "LOCAL_STORAGE_DIR": storage_dir,
        "RATE_LIMIT_DIR": str(Path(storage_dir) / "ratelimit"),
        "WORKER_CONCURRENCY": str(concurrency),
        "LOG_JSON": "true",
    }


class OnTheLoop:
    """Baseline: Pillow work on the event loop, as the worker did before the image pool."""

    async def normalize(
        self, data: bytes, max_side: int = 1200, judge_side: int | None = JUDGE_SIDE
    ) -> NormalizedImage:
        return normalize_image(data, max_side, judge_side)


class OldPictures:
    """Baseline: the picture code from before issue 11, in the worker's own image pool."""

    def __init__(self, pool: ImagePool) -> None:
        self.pool = pool

    async def normalize(
        self, data: bytes, max_side: int = 1200, judge_side: int | None = JUDGE_SIDE
    ) -> NormalizedImage:
        return await self.pool.run(images_before.normalize_image, data, max_side)


@dataclass(frozen=True)
class Setting:
    what: str
    jobs: int
    concurrency: int
    processes: int = 1
    baseline: str = ""  # "on_loop" | "old_pictures"

    @property
    def bound(self) -> float:
        return self.jobs * 2 * LATENCY / (self.concurrency * self.processes)


async def reset(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("truncate public.image_jobs, public.products cascade")
        await conn.execute("select imagefill.compact_image_tally()")
    finally:
        await conn.close()


async def pending(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("select count(*) from public.image_jobs where status <> 'done'"))
    finally:
        await conn.close()


async def in_process_run(
    dsn: str, urls: dict[str, str], jobs: int, concurrency: int, *, baseline: str = ""
) -> tuple[float, float]:
    """Seconds to drain `jobs`, and the worst event-loop lag seen meanwhile."""
    await reset(dsn)
    await insert_products(dsn, jobs)
    with tempfile.TemporaryDirectory() as storage_dir:
        os.environ.update(worker_env(dsn, urls, storage_dir, concurrency))
        settings = load_settings()
        async with open_worker(settings) as runner, LoopLagMonitor(interval=0.01) as lag:
            if baseline == "on_loop":
                runner.pipeline.image_pool = OnTheLoop()  # type: ignore[assignment]
            elif baseline == "old_pictures":
                runner.pipeline.image_pool = OldPictures(runner.pipeline.image_pool)  # type: ignore[assignment]
            started = time.perf_counter()
            await runner.run(until_idle=lambda: _drained(runner))
            elapsed = time.perf_counter() - started
    left = await pending(dsn)
    assert left == 0, f"{left} jobs not done"
    return elapsed, lag.max_lag


async def _drained(runner: object) -> bool:
    queue = runner.queue  # type: ignore[attr-defined]
    return bool(await queue.due_count(runner.kinds) == 0)  # type: ignore[attr-defined]


async def processes_run(dsn: str, urls: dict[str, str], jobs: int, processes: int, concurrency: int) -> float:
    await reset(dsn)
    with tempfile.TemporaryDirectory() as storage_dir:
        env = {**os.environ, **worker_env(dsn, urls, storage_dir, concurrency)}
        workers = [spawn_worker(env) for _ in range(processes)]
        try:
            await _wait_for_listeners(dsn, processes)
            started = time.perf_counter()
            await insert_products(dsn, jobs)
            while await pending(dsn):  # noqa: ASYNC110 -- the state lives in the database
                await asyncio.sleep(0.05)
            return time.perf_counter() - started
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                worker.wait(30)


def spawn_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """One `imagefill run` process, its logs discarded."""
    return subprocess.Popen([sys.executable, "-m", "worker.cli", "run"], env=env, stderr=subprocess.DEVNULL)


async def _wait_for_listeners(dsn: str, count: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for _ in range(600):
            listening = await conn.fetchval(
                "select count(*) from pg_stat_activity where application_name = 'imagefill listener'"
                " and datname = current_database()"
            )
            if listening >= count:
                return
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    raise TimeoutError("workers did not start listening")


def cpu_ms(work: Callable[..., Any], *args: Any) -> float:
    started = time.thread_time()
    work(*args)
    return (time.thread_time() - started) * 1000


def picture_cpu(report: Report) -> None:
    """CPU per picture, new code against the old, interleaved call by call."""
    for label, size in (("600×840 (the end-to-end runs' picture)", (600, 840)), ("1600×1200", (1600, 1200))):
        data = synthesize_product_image("bench", size)
        new_image, old_image = normalize_image(data), images_before.normalize_image(data)
        times: dict[str, list[float]] = {
            key: [] for key in ("new", "new_no_judge", "old", "new_cut", "old_cut")
        }
        for _ in range(PICTURE_ROUNDS):
            times["old"].append(cpu_ms(images_before.normalize_image, data))
            times["new"].append(cpu_ms(normalize_image, data))
            times["new_no_judge"].append(cpu_ms(normalize_image, data, 1200, None))
            times["old_cut"].append(cpu_ms(images_before.cutout_png, old_image))
            times["new_cut"].append(cpu_ms(cutout_png, new_image))
        ms = {key: median(values) for key, values in times.items()}
        new, old = ms["new"] + ms["new_cut"], ms["old"] + ms["old_cut"]
        report.add(
            "end-to-end",
            f"per-picture CPU, {label} packshot: normalize + cutout (judge configured)",
            f"{new:.1f} ms ({ms['new']:.1f} + {ms['new_cut']:.1f})",
            f"old code {old:.1f} ms ({ms['old']:.1f} + {ms['old_cut']:.1f})",
            f"{old / new:.2f}× less CPU",
            f"median of {PICTURE_ROUNDS} interleaved calls (thread CPU time); bench/images_before.py",
        )
        report.add(
            "end-to-end",
            f"per-picture CPU, {label}: normalize without a judge (no judge's copy; the e2e runs)",
            f"{ms['new_no_judge']:.1f} ms",
            f"old code {ms['old']:.1f} ms",
            f"{ms['old'] / ms['new_no_judge']:.2f}× less CPU",
        )


async def loop_lags(work: Callable[[ImagePool], Awaitable[object]]) -> list[float]:
    """Every lag (ms) of a 2 ms timer on the event loop while `work` keeps the image pool busy."""
    lags: list[float] = []
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.002)
            lags.append(max(time.perf_counter() - before - 0.002, 0.0) * 1000)

    async with ImagePool() as pool:
        sampler = asyncio.create_task(sample())
        await work(pool)
        done.set()
        await sampler
    return lags


def pictures(normalize: Callable[..., NormalizedImage], cutout: Callable[..., object]) -> Any:
    """LAG_PICTURES pictures normalized and cut out in the pool, as the worker does them."""
    data = synthesize_product_image("bench", (600, 840))

    async def one(pool: ImagePool) -> None:
        await pool.run(cutout, await pool.run(normalize, data))

    async def work(pool: ImagePool) -> None:
        await asyncio.gather(*(one(pool) for _ in range(LAG_PICTURES)))

    return work


async def busy_pool(pool: ImagePool) -> None:
    """The control: the pool's threads burn CPU without the GIL (hashlib releases it), so what
    remains is the machine's own scheduling noise with two busy threads."""
    block = bytes(8 * 1024 * 1024)
    await asyncio.gather(*(pool.run(hashlib.sha256, block) for _ in range(2 * LAG_PICTURES)))


async def picture_loop_lag(report: Report, repeat: int) -> None:
    lags: dict[str, list[list[float]]] = {"new": [], "old": [], "control": []}
    for _ in range(repeat):
        lags["old"].append(await loop_lags(pictures(images_before.normalize_image, images_before.cutout_png)))
        lags["new"].append(await loop_lags(pictures(normalize_image, cutout_png)))
        lags["control"].append(await loop_lags(busy_pool))

    def summary(key: str) -> str:
        mean = median([sum(run) / len(run) for run in lags[key]])
        p99 = median([percentile(run, 0.99) for run in lags[key]])
        worst = median([max(run) for run in lags[key]])
        return f"mean {mean:.2f} ms, p99 {p99:.1f} ms, worst {worst:.1f} ms"

    report.add(
        "end-to-end",
        f"event-loop lag (2 ms timer) while the image pool normalizes and cuts out {LAG_PICTURES} pictures",
        summary("new"),
        f"old code: {summary('old')}",
        "",
        f"control, the pool busy without the GIL: {summary('control')}; median of {repeat} interleaved runs",
    )


async def run(pg: LocalPostgres, report: Report, scale: float = 1.0, repeat: int = REPEAT) -> None:
    picture_cpu(report)
    await picture_loop_lag(report, repeat)
    dsn = await migrated_database(pg, "bench_e2e")
    c5, c20, c50 = int(200 * scale), int(500 * scale), int(500 * scale)
    baseline = c20  # the same work as the concurrency-20 row, so the ratios compare like with like
    processes = int(300 * scale)
    settings = [
        Setting(f"{c5} products, 300 ms per request, concurrency 5", c5, 5),
        Setting(f"{c20} products, 300 ms per request, concurrency 20", c20, 20),
        Setting(
            f"{baseline} products, concurrency 20, image work ON the loop (before the pool)",
            baseline,
            20,
            baseline="on_loop",
        ),
        Setting(
            f"{baseline} products, concurrency 20, the picture code before issue 11 (in the pool)",
            baseline,
            20,
            baseline="old_pictures",
        ),
        Setting(f"{c50} products, 300 ms per request, concurrency 50", c50, 50),
        Setting(f"{processes} products, 3 worker processes × concurrency 5", processes, 5, processes=3),
    ]
    runs: dict[Setting, list[tuple[float, float]]] = {setting: [] for setting in settings}
    async with quiet_logs():
        with standins(LATENCY) as urls:
            for _ in range(repeat):  # interleaved: each round runs every setting once
                for setting in settings:
                    if setting.processes > 1:
                        elapsed = await processes_run(dsn, urls, setting.jobs, setting.processes, 5)
                        runs[setting].append((elapsed, float("nan")))
                    else:
                        runs[setting].append(
                            await in_process_run(
                                dsn, urls, setting.jobs, setting.concurrency, baseline=setting.baseline
                            )
                        )
    efficiency = {s: s.bound / median([elapsed for elapsed, _ in runs[s]]) for s in settings}
    with_pool = efficiency[settings[1]]
    for setting in settings:
        times = sorted(elapsed for elapsed, _ in runs[setting])
        lags = [lag for _, lag in runs[setting] if lag == lag]  # NaN: lag not measured (processes)
        note = f"median of {len(times)} interleaved runs ({times[0]:.1f}–{times[-1]:.1f} s)"
        if lags:
            note += f"; worst event-loop lag {median(lags) * 1000:.0f} ms (median of runs)"
        if setting.baseline:
            ratio = with_pool / efficiency[setting]
            note += f"; the current worker at concurrency 20 is {ratio:.2f}× as efficient"
        if setting.processes > 1:
            note += "; timed from the bulk insert (LISTEN wake-up included)"
        report.add(
            "end-to-end",
            setting.what,
            f"{median(times):.1f} s",
            f"bound {setting.bound:.1f} s",
            f"efficiency {efficiency[setting]:.2f}",
            note,
        )


async def main(scale: float, repeat: int) -> None:
    report = Report()
    with LocalPostgres() as pg:
        await run(pg, report, scale, repeat)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the number of products")
    parser.add_argument("--repeat", type=int, default=REPEAT, help="interleaved runs per setting")
    args = parser.parse_args()
    asyncio.run(main(args.scale, args.repeat))
