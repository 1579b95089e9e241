"""Wake-up latency: from the INSERT of one product to its job starting in an idle worker, with
LISTEN/NOTIFY, with Supabase Realtime (WORKER_WAKEUP=realtime, against the Realtime stand-in on
loopback: it adds a NOTIFY and a websocket hop, as the real service adds logical replication and
its own hops) and with polling only (what the transaction pooler forces without Realtime).

The worker is the real run loop and listener with a pipeline that records when a job starts.
Polling runs at 1 s here to keep the benchmark short; the default WORKER_POLL_SECONDS is 5 s, so
polling's real numbers are five times these.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

import asyncpg

from bench.common import Report, ean13, migrated_database, percentile, quiet_logs
from worker.listener import JobListener
from worker.offline.panel import serve
from worker.offline.postgres import LocalPostgres
from worker.offline.postgrest import PostgrestStandIn, mint_jwt
from worker.offline.realtime_server import RealtimeStandIn
from worker.queue import ClaimedJob, JobOutcome, JobQueue
from worker.realtime_wakeup import RealtimeWakeup
from worker.runner import Runner, keep_session_state

SERVICE_KEY = mint_jwt({"role": "service_role", "exp": 4_102_444_800})


class StartRecorder:
    def __init__(self) -> None:
        self.started: asyncio.Queue[float] = asyncio.Queue()

    async def run(self, job: ClaimedJob) -> JobOutcome:
        self.started.put_nowait(time.perf_counter())
        return JobOutcome(image_status="needs_review")


async def latencies(
    dsn: str, samples: int, *, listen: bool, poll_seconds: float, realtime_url: str | None = None
) -> list[float]:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4, reset=keep_session_state)
    writer = await asyncpg.connect(dsn)
    recorder = StartRecorder()
    runner = Runner(
        JobQueue(pool, "bench-wakeup", 60),
        recorder,
        concurrency=5,
        poll_seconds=poll_seconds,
        grace_seconds=1,
    )  # type: ignore[arg-type]
    out: list[float] = []
    try:
        wakeup: JobListener | RealtimeWakeup = (
            RealtimeWakeup(realtime_url, SERVICE_KEY, runner.wake)
            if realtime_url
            else JobListener(dsn, runner.wake, listen_supported=listen)
        )
        async with wakeup as listener:
            task = asyncio.create_task(runner.run())
            while listen and not listener.connected:  # noqa: ASYNC110 -- a plain attribute, no event
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)
            for i in range(samples):
                # A random moment relative to the poll cycle, as real arrivals are.
                await asyncio.sleep(random.uniform(0.05, 0.25 if listen else poll_seconds + 0.05))
                sent = time.perf_counter()
                await writer.execute(
                    "insert into public.products (name, ean) values ($1, $2)",
                    f"W{i}",
                    ean13(10_000_000 + i + (0 if listen else 500_000) + (250_000 if realtime_url else 0)),
                )
                out.append(await asyncio.wait_for(recorder.started.get(), 30) - sent)
            runner.stop()
            await task
    finally:
        await writer.close()
        await pool.close()
    return out


async def run(pg: LocalPostgres, report: Report, samples: int = 40) -> None:
    dsn = await migrated_database(pg, "bench_wakeup")
    postgrest = PostgrestStandIn(dsn)
    runner, url = await serve(RealtimeStandIn(dsn).attach(postgrest.app))
    try:
        async with quiet_logs():
            listen = await latencies(dsn, samples, listen=True, poll_seconds=5.0)
            realtime = await latencies(dsn, samples, listen=True, poll_seconds=5.0, realtime_url=url)
            polling = await latencies(dsn, max(samples // 2, 5), listen=False, poll_seconds=1.0)
    finally:
        await runner.cleanup()
    p50, p95, p99 = (percentile(realtime, q) * 1000 for q in (0.5, 0.95, 0.99))
    report.add(
        "wake-up",
        f"insert → job starts, WORKER_WAKEUP=realtime via the stand-in ({len(realtime)} samples)",
        f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms",
        "LISTEN/NOTIFY",
        f"{percentile(realtime, 0.5) / percentile(listen, 0.5):.1f}× LISTEN's p50",
    )
    for name, values in (("LISTEN/NOTIFY", listen), ("polling only, every 1 s", polling)):
        p50, p95, p99 = (percentile(values, q) * 1000 for q in (0.5, 0.95, 0.99))
        report.add(
            "wake-up",
            f"insert → job starts, {name} ({len(values)} samples)",
            f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms",
            "polling" if name.startswith("LISTEN") else "",
            f"{percentile(polling, 0.5) / percentile(listen, 0.5):.0f}× faster (p50)"
            if name.startswith("LISTEN")
            else "",
        )


async def main(samples: int) -> None:
    report = Report()
    with LocalPostgres() as pg:
        await run(pg, report, samples)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=40)
    args = parser.parse_args()
    asyncio.run(main(args.samples))
