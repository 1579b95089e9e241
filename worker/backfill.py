"""`imagefill backfill` and `imagefill status`: a batch through `enqueue_image_backfill`,
processed in this process when no worker is running, with a progress bar.

The in-process worker claims only its own batch's jobs, and Ctrl-C / SIGTERM stops it the way
`imagefill run` stops: no new claims, then the runner's hand-back returns every job it still
holds to the queue at once (no job is left `running` until its lease expires)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from worker.audit import audit_summary
from worker.database import connect, connect_migrated
from worker.runner import LeaseKeeper, Runner, open_worker, sweeper_for
from worker.settings import Settings


@dataclass
class BatchReport:
    batch_id: UUID | None
    total: int
    ok: int
    needs_review: int
    error: int
    waiting_retry: int
    interrupted: bool = False
    handed_back: int = 0

    @property
    def processed(self) -> int:
        return self.ok + self.needs_review + self.error


async def running_workers(conn: asyncpg.Connection) -> int:
    """Other `imagefill run` processes connected to this database (by application_name; a
    worker of another database on the same server does not serve this one's jobs)."""
    count = await conn.fetchval(
        "select count(distinct application_name) from pg_stat_activity"
        " where application_name like 'imagefill worker %' and pid <> pg_backend_pid()"
        " and datname = current_database()"
    )
    return int(count or 0)


async def batch_progress(conn: asyncpg.Connection, batch_id: UUID) -> dict[str, Any]:
    progress: dict[str, Any] = json.loads(
        await conn.fetchval("select public.image_backfill_progress($1)", batch_id)
    )
    progress["due"] = await conn.fetchval(
        "select count(*) from public.image_jobs where batch_id = $1"
        " and (status = 'running' or (status = 'queued' and run_after <= now()))",
        batch_id,
    )
    return progress


async def run_backfill(
    settings: Settings,
    limit: int,
    console: Console,
    *,
    in_process: bool | None = None,
) -> BatchReport:
    conn = await connect(settings.database_url)
    try:
        batch = json.loads(await conn.fetchval("select public.enqueue_image_backfill($1)", limit))
        if not batch["batch_id"]:
            console.print(
                "Nenhum produto para processar: todos têm imagem, estão na fila ou têm EAN inválido."
            )
            return BatchReport(None, 0, 0, 0, 0, 0)
        batch_id = UUID(batch["batch_id"])
        console.print(
            f"Lote {batch_id}: {batch['enqueued']} produtos"
            f" ({batch['new']} novos, {batch['adopted']} já estavam na fila)."
        )
        if in_process is None:
            in_process = await running_workers(conn) == 0
        with _progress_bar(console) as progress:
            task = progress.add_task("processando", total=batch["enqueued"])

            async def done() -> bool:
                state = await batch_progress(conn, batch_id)
                progress.update(task, completed=state["done"])
                return int(state["due"]) == 0

            interrupted = False
            handed_back = 0
            if in_process:
                async with (
                    open_worker(settings, batch_id=batch_id) as runner,
                    LeaseKeeper(runner),
                    sweeper_for(runner, settings),
                ):
                    with stop_on_signals(runner):
                        await runner.run(until_idle=done)
                    interrupted = runner.stopping
                    handed_back = runner.stats.released
            else:
                console.print("Um worker (`imagefill run`) já está rodando: acompanhando o progresso.")
                while True:
                    if await done():
                        break
                    await asyncio.sleep(1)
        final = await batch_progress(conn, batch_id)
        return BatchReport(
            batch_id,
            int(final["total"]),
            int(final["ok"]),
            int(final["needs_review"]),
            int(final["error"]),
            int(final["queued"]),
            interrupted=interrupted,
            handed_back=handed_back,
        )
    finally:
        await conn.close()


@contextlib.contextmanager
def stop_on_signals(runner: Runner) -> Iterator[None]:
    """SIGINT (Ctrl-C) and SIGTERM stop the runner instead of killing the loop: it stops claiming
    and hands back what it holds (a second signal: at once). Default handlers come back after."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, runner.stop)
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


# `imagefill status` queries; each has a partial index for its predicate (50_panel_queries.sql),
# and tests/integration/test_panel_query_plans.py checks the plans.
OLDEST_QUEUED_SQL = (
    "select id, product_id::text, kind::text, attempts, max_attempts, created_at,"
    " now() - created_at as age, greatest(run_after - now(), interval '0') as retry_in, last_error"
    " from public.image_jobs where status = 'queued' order by created_at limit 1"
)
FAILURES_DAYS = 7
# Failed jobs are kept (the retention purges only done jobs), so all-time groups would grow with
# the catalogue's history: 67 ms at 1M failed jobs. The last week reads only recent failures
# through image_jobs_failed_idx; the panel's `error` counter still counts every product in error.
# The newest first, at most FAILURES_READ of them: the limit keeps the plan a plain scan of the
# index (its row estimate for "the last week" can be 10x too high, and then it went parallel,
# 15-40 ms instead of 11 ms at 1M jobs) and bounds the work after a burst of failures.
FAILURES_READ = 100_000
FAILURES_SQL = (
    "select coalesce(last_error, '(sem mensagem)') as last_error, count(*) as jobs"
    " from (select j.last_error from public.image_jobs j where j.status = 'failed'"
    f" and j.finished_at > now() - interval '{FAILURES_DAYS} days'"
    f" order by j.finished_at desc limit {FAILURES_READ}) recent"
    " group by 1 order by 2 desc, 1 limit 10"
)


async def catalogue_status(database_url: str) -> dict[str, Any]:
    conn = await connect_migrated(database_url)
    try:
        overall = json.loads(await conn.fetchval("select public.image_backfill_progress(null)"))
        oldest_row = await conn.fetchrow(OLDEST_QUEUED_SQL)
        failures = await conn.fetch(FAILURES_SQL)
        oldest: dict[str, Any] | None = None
        if oldest_row:
            oldest = dict(oldest_row)
            label = await conn.fetchrow("select * from imagefill.job_product_label($1)", oldest["id"])
            oldest["product_name"] = label["name"] if label else None
            oldest["product_ean"] = label["ean"] if label else None
        outside = await conn.fetchval("select imagefill.products_outside_queue()")
        usage = await conn.fetch("select * from imagefill.usage_summary()")
        spend = await conn.fetch("select * from imagefill.spend_summary()")
        windows = await conn.fetchrow("select * from imagefill.spend_windows()")
        return {
            "audit": await audit_summary(conn),
            "usage": [dict(r) for r in usage],
            "spend": [dict(r) for r in spend],
            "spend_windows": dict(windows) if windows else {},
            "overall": overall,
            "oldest_queued": oldest,
            "outside_queue": int(outside or 0),
            "failures": [dict(r) for r in failures],
            "workers": await running_workers(conn),
        }
    finally:
        await conn.close()
