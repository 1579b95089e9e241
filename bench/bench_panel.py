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
from tests.audit_history import audit_list
from worker.backfill import FAILURES_SQL, OLDEST_QUEUED_SQL
from worker.offline.postgres import LocalPostgres

SIZES = (1_000, 10_000, 100_000, 1_000_000)
# `--max-size 100000` stops early (the audit functions' plan check on a short run).
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
    await approve_automatically(conn, start, stop)
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
    await conn.execute("analyze public.image_auto_approvals")
    await conn.execute("select imagefill.compact_image_tally()")


async def approve_automatically(conn: asyncpg.Connection, start: int, stop: int) -> None:
    """A share of the new products (one in 20) got an automatic picture, spread over the last 47
    weeks: the enrich job's completion (the real trigger) records each approval. The sample of
    every week but the newest four has been audited (one in 25 found wrong)."""
    await conn.execute(
        """
        with picked as (
          select p.id, g from public.products p
          join generate_series($1::int, $2::int - 1) g on p.name = 'P' || g
         where g % 20 = 15
        )
        update public.products p
           set image_status = 'ok', image_url = 'https://s.example/' || p.id || '/main.jpg',
               image_source = (array['openfoodfacts', 'search_api', 'browser'])[1 + x.g % 3]
                              ::public.image_source,
               image_confidence = 0.8 + (x.g * 7 % 200) / 1000.0,
               image_updated_at = now() - (x.g % 7900) * interval '1 hour'
          from picked x where p.id = x.id
        """,
        start,
        stop,
    )
    await conn.execute(
        """
        insert into public.image_jobs (product_id, status)
        select p.id, 'queued' from public.products p
         where p.image_status = 'ok'
           and not exists (select 1 from public.image_jobs j where j.product_id = p.id)
        """
    )
    await conn.execute(
        """
        update public.image_jobs j
           set status = 'done', finished_at = now(),
               result = jsonb_build_object('outcome', 'ok', 'original_url', 'https://o.example/' || j.id)
          from public.products p
         where p.id = j.product_id and p.image_status = 'ok' and j.status = 'queued'
        """
    )
    await conn.execute("select imagefill.compact_image_tally()")
    await conn.execute(
        """
        update public.image_auto_approvals a
           set verdict = case when a.id % 25 = 0 then 'wrong' else 'confirmed' end, audited_at = now()
          from (select w.week, c.* from (select distinct week from public.image_auto_approvals
                                          where week < date_trunc('week', now() - interval '4 weeks')) w
                cross join lateral imagefill.audit_sample_cuts(w.week) c) s
         where a.verdict is null and a.week = s.week and a.source = s.source and a.band = s.band
           and (a.sample_key, a.id)
               <= (coalesce(s.cut_key, 'infinity'), coalesce(s.cut_id, 9223372036854775807))
        """
    )


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
    sample_last = await last_page_cursor(conn, "sample")
    all_last = await conn.fetchrow(
        "select approved_at, id from public.image_auto_approvals order by approved_at, id offset 20 limit 1"
    )
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "audit list (sample), first page": lambda: conn.fetch(
            "select * from public.image_audit_queue('sample', 20)"
        ),
        "audit list (sample), last page by cursor": lambda: conn.fetch(
            "select * from public.image_audit_queue('sample', 20, $1, $2)", *sample_last
        ),
        "audit list (all), first page": lambda: conn.fetch(
            "select * from public.image_audit_queue('all', 20)"
        ),
        "audit list (all), last page by cursor": lambda: conn.fetch(
            "select * from public.image_audit_queue('all', 20, $1, $2)", *all_last
        ),
        "audit precision per source and band": lambda: conn.fetch(
            "select * from public.image_audit_precision()"
        ),
        "audit suggested threshold": lambda: conn.fetch("select * from public.image_audit_threshold()"),
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


async def last_page_cursor(conn: asyncpg.Connection, mode: str) -> tuple[object, object]:
    """The cursor of the list's last page (20 rows before its end), found by paging through."""
    rows = await audit_list(conn, mode)
    anchor = rows[-21] if len(rows) > 20 else rows[0]
    return anchor["approved_at"], anchor["approval_id"]


async def run(pg: LocalPostgres, report: Report, sizes: tuple[int, ...] = SIZES) -> None:
    dsn = await migrated_database(pg, "bench_panel")
    conn = await asyncpg.connect(dsn)
    timings: dict[int, dict[str, float]] = {}
    try:
        # JIT would add hundreds of ms to the baseline's first call; Supabase leaves it on, so do we.
        done = 0
        for size in sizes:
            await grow(conn, done, size)
            done = size
            timings[size] = await measure(conn)
    finally:
        await conn.close()
    small, labels = sizes[0], " / ".join(f"{size:,}" for size in sizes)
    for name in timings[small]:
        series = " / ".join(f"{timings[size][name] * 1000:.1f}" for size in sizes)
        report.add(
            "panel",
            name,
            f"{series} ms at {labels if sizes != SIZES else LABELS}",
            "same call at 1k",
            ", ".join(f"{timings[size][name] / timings[small][name]:.1f}× at {size:,}" for size in sizes[1:]),
        )


async def main(max_size: int) -> None:
    report = Report()
    with LocalPostgres() as pg:
        await run(pg, report, tuple(size for size in SIZES if size <= max_size))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-size", type=int, default=SIZES[-1], help="stop after this catalogue size")
    asyncio.run(main(parser.parse_args().max_size))
