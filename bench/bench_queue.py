"""Queue engine: claim → complete of no-op jobs, Imagefill's real run loop against pgqueuer and
procrastinate.

All drain the same number of jobs from the same Postgres cluster, interleaved: Imagefill's
`Runner` at its default settings (WORKER_CONCURRENCY=5, its pool as `open_worker` builds it) with
a pipeline that returns at once; pgqueuer's `QueueManager.run(mode=drain)` with its default batch;
procrastinate's worker with `wait=False` (drain) at the same concurrency 5 (its default is 1).
Imagefill's jobs do more per job by design (the product row shows `fetching`, the result and an
event row are written): the comparison is of what each system needs to move one job. A third,
interleaved Imagefill run in its own database does only a queue's writes (`strip_to_queue_writes`),
to tell what those promises cost from what the engine itself costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import timedelta
from typing import Any

import asyncpg

from bench.common import CpuTime, Report, insert_products, median, migrated_database, quiet_logs
from worker.offline.postgres import LocalPostgres
from worker.queue import ClaimedJob, JobOutcome, JobQueue
from worker.runner import Runner, keep_session_state


class NoOpPipeline:
    """Stands in for the stages: the job is done as soon as it starts."""

    async def run(self, job: ClaimedJob) -> JobOutcome:
        return JobOutcome(image_status="needs_review")


async def imagefill_drain(dsn: str, jobs: int, concurrency: int = 5) -> tuple[float, CpuTime]:
    await _reset_imagefill(dsn)
    await insert_products(dsn, jobs)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=concurrency + 2, reset=keep_session_state)
    try:
        queue = JobQueue(pool, "bench-worker", 120)
        runner = Runner(queue, NoOpPipeline(), concurrency=concurrency, poll_seconds=1.0, grace_seconds=5)  # type: ignore[arg-type]

        async def drained() -> bool:
            return await queue.due_count(runner.kinds) == 0

        cpu = CpuTime.now()
        started = time.perf_counter()
        await runner.run(until_idle=drained)
        elapsed = time.perf_counter() - started
        cpu = CpuTime.now() - cpu
        assert runner.stats.completed == jobs, runner.stats
        return elapsed, cpu
    finally:
        await pool.close()


async def _reset_imagefill(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("truncate public.image_jobs, public.products cascade")
        await conn.execute("select imagefill.compact_image_tally()")
    finally:
        await conn.close()


async def pgqueuer_drain(dsn: str, jobs: int) -> tuple[float, CpuTime]:
    from pgqueuer.adapters.drivers.asyncpg import AsyncpgDriver
    from pgqueuer.core.qm import QueueManager
    from pgqueuer.queries import Queries
    from pgqueuer.types import QueueExecutionMode

    enqueue_conn = await asyncpg.connect(dsn)
    worker_conn = await asyncpg.connect(dsn)
    try:
        queries = Queries(AsyncpgDriver(enqueue_conn))
        await enqueue_conn.execute("truncate pgqueuer")
        await queries.enqueue(["noop"] * jobs, [None] * jobs, [0] * jobs)
        manager = QueueManager(Queries(AsyncpgDriver(worker_conn)))
        done = 0

        @manager.entrypoint("noop")
        async def noop(_job: Any) -> None:
            nonlocal done
            done += 1

        cpu = CpuTime.now()
        started = time.perf_counter()
        await manager.run(mode=QueueExecutionMode.drain, log_aggregation_interval=timedelta(0))
        elapsed = time.perf_counter() - started
        cpu = CpuTime.now() - cpu
        assert done == jobs, (done, jobs)
        return elapsed, cpu
    finally:
        await enqueue_conn.close()
        await worker_conn.close()


def procrastinate_app(dsn: str) -> Any:
    import procrastinate

    return procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=dsn))


async def install_procrastinate(dsn: str) -> None:
    app = procrastinate_app(dsn)
    async with app.open_async():
        await app.schema_manager.apply_schema_async()


async def procrastinate_drain(dsn: str, jobs: int, concurrency: int = 5) -> float:
    app = procrastinate_app(dsn)
    done = 0

    @app.task(name="noop")
    async def noop() -> None:
        nonlocal done
        done += 1

    async with app.open_async():
        await app.connector.execute_query_async("truncate procrastinate_jobs cascade")
        await noop.batch_defer_async(*([{}] * jobs))
        started = time.perf_counter()
        await app.run_worker_async(concurrency=concurrency, wait=False, install_signal_handlers=False)
        elapsed = time.perf_counter() - started
    assert done == jobs, (done, jobs)
    return elapsed


async def install_pgqueuer(dsn: str) -> None:
    from pgqueuer.adapters.drivers.asyncpg import AsyncpgDriver
    from pgqueuer.queries import Queries

    conn = await asyncpg.connect(dsn)
    try:
        await Queries(AsyncpgDriver(conn)).install()
    finally:
        await conn.close()


async def where_the_time_goes(
    pg: LocalPostgres, dsn: str, dbname: str, jobs: int, batch: int = 5
) -> list[tuple[str, float]]:
    """Server time per job inside each SQL function (pg_stat_user_functions, track_functions=all),
    for one connection claiming `batch` jobs and recording them in one call, as the worker does
    at its default concurrency."""
    pg.psql(f"alter database {dbname} set track_functions = 'all'")
    await _reset_imagefill(dsn)
    await insert_products(dsn, jobs)
    pg.psql("select pg_stat_reset()", dbname=dbname)
    conn = await asyncpg.connect(dsn)
    try:
        while rows := await conn.fetch("select * from imagefill.claim_image_jobs('profile', $1, 120)", batch):
            items = [
                {
                    "job_id": str(r["job_id"]),
                    "image_status": "needs_review",
                    "payload": json.loads(r["payload"]),
                }
                for r in rows
            ]
            await conn.execute(
                "select * from imagefill.complete_image_jobs('profile', $1::jsonb)", json.dumps(items)
            )
        await conn.execute("select pg_stat_force_next_flush()")  # this backend's counters, now
        stats = await conn.fetch(
            "select schemaname || '.' || funcname as name, self_time from pg_stat_user_functions"
            " where calls > 0 order by self_time desc limit 8"
        )
    finally:
        await conn.close()
        pg.psql(f"alter database {dbname} reset track_functions")
    return [(r["name"], r["self_time"] / jobs) for r in stats]


async def strip_to_queue_writes(dsn: str) -> None:
    """An experiment, in a database of its own: the same engine doing only a queue's writes (the
    job row claimed, then finished). The claim no longer marks the product `fetching`, the
    completion writes neither the product nor an event row, and the counters' update triggers are
    off. What the full run costs more is what those promises cost; the rest of the gap to
    pgqueuer is the engine's own (Python and the functions' overhead)."""
    conn = await asyncpg.connect(dsn)

    async def patched(signature: str, *edits: tuple[str, str]) -> None:
        definition = await conn.fetchval("select pg_get_functiondef($1::regprocedure)", signature)
        for before, after in edits:
            assert definition.count(before) == 1, f"{signature}: {before!r} not found once"
            definition = definition.replace(before, after)
        await conn.execute(definition)

    try:
        await patched(
            "imagefill.claim_image_jobs(text, integer, integer, public.image_job_kind[], uuid)",
            ("and c.kind = 'enrich' and p.image_status <> 'fetching'", "and false"),
        )
        await patched(
            "imagefill.complete_image_jobs(text, jsonb)",
            ("where p.id = i.product_id\n    ),", "where false\n    ),"),
            ("order by i.job_id, e.ordinality", "where false"),
        )
        await conn.execute("alter table public.image_jobs disable trigger image_jobs_tally_update")
    finally:
        await conn.close()


async def hot_updates(dsn: str, jobs: int) -> tuple[str, str, str, str, str]:
    """Why image_jobs keeps fillfactor 100: how many of the drain's updates were HOT."""
    conn = await asyncpg.connect(dsn)
    try:
        await asyncio.sleep(0.7)  # table statistics are flushed at most once per 500 ms
        rows = {
            r["relname"]: r
            for r in await conn.fetch(
                "select relname, n_tup_upd, n_tup_hot_upd, n_dead_tup, autovacuum_count"
                " from pg_stat_user_tables where relname in ('image_jobs', 'products')"
            )
        }
    finally:
        await conn.close()
    jobs_row, products_row = rows["image_jobs"], rows["products"]
    return (
        f"HOT updates during {jobs:,} claim→complete cycles",
        f"image_jobs {jobs_row['n_tup_hot_upd']:,} of {jobs_row['n_tup_upd']:,};"
        f" products {products_row['n_tup_hot_upd']:,} of {products_row['n_tup_upd']:,}",
        "",
        "",
        "every transition changes `status`, a column of the partial indexes' predicates: never HOT,"
        " so fillfactor stays 100",
    )


async def run(pg: LocalPostgres, report: Report, jobs: int, repeat: int) -> None:
    ours_dsn = await migrated_database(pg, "bench_queue_imagefill")
    stripped_dsn = await migrated_database(pg, "bench_queue_stripped")
    await strip_to_queue_writes(stripped_dsn)
    pg.psql("drop database if exists bench_queue_pgqueuer")
    pg.psql("create database bench_queue_pgqueuer")
    theirs_dsn = pg.dsn("bench_queue_pgqueuer")
    await install_pgqueuer(theirs_dsn)
    pg.psql("drop database if exists bench_queue_procrastinate")
    pg.psql("create database bench_queue_procrastinate")
    procrastinate_dsn = pg.dsn("bench_queue_procrastinate")
    await install_procrastinate(procrastinate_dsn)
    ours: list[float] = []
    theirs: list[float] = []
    procrastinate: list[float] = []
    stripped: list[float] = []
    ours_cpu: list[CpuTime] = []
    theirs_cpu: list[CpuTime] = []
    async with quiet_logs():  # our worker logs each job as in production (JSON, to /dev/null)
        for _ in range(repeat):  # interleaved: the machine's noise hits all alike
            elapsed, cpu = await imagefill_drain(ours_dsn, jobs)
            ours.append(elapsed)
            ours_cpu.append(cpu)
            stripped.append((await imagefill_drain(stripped_dsn, jobs))[0])
            elapsed, cpu = await pgqueuer_drain(theirs_dsn, jobs)
            theirs.append(elapsed)
            theirs_cpu.append(cpu)
            procrastinate.append(await procrastinate_drain(procrastinate_dsn, jobs))
    ours_rate = jobs / median(ours)
    theirs_rate = jobs / median(theirs)
    procrastinate_rate = jobs / median(procrastinate)
    report.add(
        "queue",
        f"claim→complete, no-op jobs, default settings ({jobs} jobs, median of {repeat})",
        f"{ours_rate:,.0f} jobs/s",
        f"pgqueuer {theirs_rate:,.0f} jobs/s",
        f"{ours_rate / theirs_rate:.2f}×",
        "Imagefill: concurrency 5; pgqueuer: batch_size 10, drain mode",
    )
    report.add(
        "queue",
        f"same, against procrastinate ({jobs} jobs, median of {repeat})",
        f"{ours_rate:,.0f} jobs/s",
        f"procrastinate {procrastinate_rate:,.0f} jobs/s",
        f"{ours_rate / procrastinate_rate:.2f}×",
        "procrastinate 3.10: concurrency 5 (its default is 1), wait=False, LISTEN/NOTIFY on",
    )
    stripped_rate = jobs / median(stripped)
    report.add(
        "queue",
        "same engine doing only a queue's writes (experiment: no `fetching`, no product result,"
        " no event row, no job counters)",
        f"{stripped_rate:,.0f} jobs/s",
        f"pgqueuer {theirs_rate:,.0f} jobs/s",
        f"{stripped_rate / theirs_rate:.2f}×",
        f"the full job runs at {ours_rate / stripped_rate:.2f}× this: that is what those writes cost;"
        " the rest of the gap is the engine's own (Python per job, the SQL functions' overhead)",
    )
    ours_ms = median([c.machine for c in ours_cpu]) / jobs * 1000
    theirs_ms = median([c.machine for c in theirs_cpu]) / jobs * 1000
    report.add(
        "queue",
        "CPU per job while draining: whole machine (Python and the database) / the Python process",
        f"{ours_ms:.2f} / {median([c.process for c in ours_cpu]) / jobs * 1000:.2f} ms",
        f"pgqueuer {theirs_ms:.2f} / {median([c.process for c in theirs_cpu]) / jobs * 1000:.2f} ms",
        f"{ours_ms / theirs_ms:.2f}× the CPU",
        "machine-wide busy time over the drain (other load on a shared machine counts too); the"
        " throughput gap follows this CPU gap. Here a job also writes its product twice (`fetching`,"
        " then the result), one event row and the panel's counters",
    )
    report.add("queue", *await hot_updates(ours_dsn, jobs * repeat))
    profile = await where_the_time_goes(pg, ours_dsn, "bench_queue_imagefill", min(jobs, 1000))
    report.add(
        "queue",
        "where a job's server time goes (self time per job, ms)",
        "; ".join(f"{name.split('.', 1)[1]} {ms:.3f}" for name, ms in profile),
        note="one connection, claim 5 + complete_image_jobs of those 5 (the worker's shape at concurrency 5)",
    )


async def main(jobs: int, repeat: int) -> None:
    report = Report()
    with LocalPostgres() as pg:
        await run(pg, report, jobs, repeat)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.jobs, args.repeat))
