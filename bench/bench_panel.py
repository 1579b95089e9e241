"""Panel RPCs at 1k, 10k, 100k and 1M products: flat in catalogue size, first page and last page alike.

One database grows from 1k to 1M products (45 % in review, with candidates; jobs done, failed
and queued); at each size every call is timed (median of 5 after a warm-up). The baseline in the
same run is the pre-counter query of `image_backfill_progress(null)` (two EXISTS per product),
run as plain SQL on the same data, and the all-time failures query `imagefill status` ran before
it read only the last 7 days (failed jobs are spread over 90 days of history).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable

import asyncpg

from bench.common import Report, median, migrated_database
from worker.backfill import FAILURES_SQL, OLDEST_QUEUED_SQL
from worker.offline.postgres import LocalPostgres

SIZES = (1_000, 10_000, 100_000, 1_000_000)
LABELS = "1k / 10k / 100k / 1M"

OLD_FAILURES_SQL = (
    "select coalesce(last_error, '(sem mensagem)') as last_error, count(*) as jobs"
    " from public.image_jobs where status = 'failed' group by 1 order by 2 desc, 1 limit 10"
)

OLD_PROGRESS_SQL = """
select jsonb_build_object(
         'total', count(*),
         'queued', count(*) filter (where exists (select 1 from public.image_jobs j
                     where j.product_id = p.id and j.status = 'queued')),
         'running', count(*) filter (where exists (select 1 from public.image_jobs j
                     where j.product_id = p.id and j.status = 'running')),
         'ok', count(*) filter (where p.image_status = 'ok'),
         'needs_review', count(*) filter (where p.image_status = 'needs_review'))
  from public.products p
"""


async def grow(conn: asyncpg.Connection, start: int, stop: int) -> None:
    await conn.execute(
        """
        insert into public.products (name, ean, image_status, image_candidate_urls)
        select 'P' || g, null,
               case when g % 20 < 9 then 'needs_review' else 'missing' end::public.image_status,
               case when g % 20 < 9 then jsonb_build_array(
                 jsonb_build_object('url', 'https://img.example/' || g || '.jpg', 'confidence', 0.5),
                 jsonb_build_object('url', 'https://img.example/' || g || '-b.jpg', 'confidence', 0.7))
               else '[]'::jsonb end
          from generate_series($1::int, $2::int - 1) g
        """,
        start,
        stop,
    )
    await conn.execute(
        """
        insert into public.image_jobs (product_id, status, run_after, finished_at, last_error)
        select id, s::public.image_job_status, now() - random() * interval '1 day',
               -- a history: failures spread over 90 days (`imagefill status` reads the last 7)
               case when s = 'done' then now()
                    when s = 'failed' then now() - random() * interval '90 days' end,
               case when s = 'failed' then 'erro ' || (random() * 5)::int end
          from (select p.id, case when random() < 0.8 then 'done'
                                  when random() < 0.5 then 'failed' else 'queued' end as s
                  from public.products p
                 where not exists (select 1 from public.image_jobs j where j.product_id = p.id)) x
        """
    )
    await conn.execute("analyze public.products")
    await conn.execute("analyze public.image_jobs")
    await conn.execute("select imagefill.compact_image_tally()")


async def time_call(call: Callable[[], Awaitable[object]], repeat: int = 5) -> float:
    await call()  # warm-up: plan caches, asyncpg type introspection
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return median(samples)


async def measure(conn: asyncpg.Connection) -> dict[str, float]:
    in_review = await conn.fetchval(
        "select count(*) from public.products where image_status = 'needs_review'"
    )
    cursor = await conn.fetchval(
        "select id from public.products where image_status = 'needs_review'"
        " order by id desc offset 20 limit 1"
    )
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "review queue, first page": lambda: conn.fetch("select * from public.image_review_queue(20, 0)"),
        "review queue, last page by cursor (p_after)": lambda: conn.fetch(
            "select * from public.image_review_queue(20, 0, $1)", cursor
        ),
        "review queue, last page by offset (old call)": lambda: conn.fetch(
            "select * from public.image_review_queue(20, $1)", max(in_review - 20, 0)
        ),
        "image_backfill_progress(null)": lambda: conn.fetchval("select public.image_backfill_progress(null)"),
        "status: oldest queued": lambda: conn.fetch(OLDEST_QUEUED_SQL),
        "status: failures by error (last 7 days)": lambda: conn.fetch(FAILURES_SQL),
        "baseline: failures by error over all time (old query)": lambda: conn.fetch(OLD_FAILURES_SQL),
        "baseline: old progress query (EXISTS per product)": lambda: conn.fetchval(OLD_PROGRESS_SQL),
    }
    return {name: await time_call(call) for name, call in calls.items()}


async def run(pg: LocalPostgres, report: Report) -> None:
    dsn = await migrated_database(pg, "bench_panel")
    conn = await asyncpg.connect(dsn)
    timings: dict[int, dict[str, float]] = {}
    try:
        # JIT would add hundreds of ms to the baseline's first call; Supabase leaves it on, so do we.
        done = 0
        for size in SIZES:
            await grow(conn, done, size)
            done = size
            timings[size] = await measure(conn)
    finally:
        await conn.close()
    small = SIZES[0]
    for name in timings[small]:
        series = " / ".join(f"{timings[size][name] * 1000:.1f}" for size in SIZES)
        report.add(
            "panel",
            name,
            f"{series} ms at {LABELS}",
            "same call at 1k",
            f"{timings[100_000][name] / timings[small][name]:.1f}× at 100k,"
            f" {timings[1_000_000][name] / timings[small][name]:.1f}× at 1M",
        )


async def main() -> None:
    report = Report()
    with LocalPostgres() as pg:
        await run(pg, report)


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    asyncio.run(main())
