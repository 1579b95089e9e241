"""Benchmark: enqueueing a bulk catalogue import, Imagefill's statement-level triggers against the
row-level design most queues start with (one job INSERT and one NOTIFY per product row).

Both run in the same Postgres cluster, in the same run, on the same data; the ratio is what to read.
Run: `make bench` (or `.venv/bin/python -m bench.bench_enqueue --rows 10000 --repeat 3`).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import asyncpg

from worker.migrate import apply_migrations
from worker.offline.postgres import LocalPostgres

# The baseline: the per-row trigger a first version would write, payload = the job id so that
# Postgres cannot fold the notifications.
ROW_LEVEL_BASELINE = """
drop trigger imagefill_enqueue_on_insert on public.products;
drop trigger image_jobs_notify on public.image_jobs;
create function public.baseline_enqueue_row() returns trigger language plpgsql as $$
declare v_id uuid;
begin
  if new.image_status in ('missing', 'error') and new.gtin is not null then
    insert into public.image_jobs (product_id, kind, payload)
    values (new.id, 'enrich', jsonb_build_object('gtin', new.gtin))
    on conflict (product_id, kind) where status in ('queued', 'running') do nothing
    returning id into v_id;
    if v_id is not null then
      perform pg_notify('imagefill_jobs', v_id::text);
    end if;
  end if;
  return null;
end $$;
create trigger baseline_enqueue after insert on public.products
  for each row execute function public.baseline_enqueue_row();
"""


def ean13(seed: int) -> str:
    body = f"789{seed:09d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


async def time_bulk_insert(dsn: str, rows: int) -> tuple[float, int]:
    """Seconds for one INSERT of `rows` products (commit included), and notifications received."""
    listener = await asyncpg.connect(dsn)
    writer = await asyncpg.connect(dsn)
    received: list[str] = []
    marker_seen = asyncio.Event()

    def on_notify(*args: object) -> None:
        received.append(str(args[3]))
        if args[3] == "marker":
            marker_seen.set()

    try:
        await listener.add_listener("imagefill_jobs", on_notify)
        await writer.execute("truncate public.image_jobs, public.products cascade")
        names = [f"Produto {i}" for i in range(rows)]
        eans = [ean13(i) for i in range(rows)]
        started = time.perf_counter()
        await writer.execute(
            "insert into public.products (name, ean) select * from unnest($1::text[], $2::text[])",
            names,
            eans,
        )
        elapsed = time.perf_counter() - started
        await writer.execute("select pg_notify('imagefill_jobs', 'marker')")
        await asyncio.wait_for(marker_seen.wait(), timeout=60)
        jobs = await writer.fetchval("select count(*) from public.image_jobs")
        assert jobs == rows, f"expected {rows} jobs, got {jobs}"
        return elapsed, len(received) - 1
    finally:
        await listener.close()
        await writer.close()


async def main(rows: int, repeat: int) -> None:
    with LocalPostgres() as pg:
        for name in ("statement_level", "row_level"):
            pg.psql(f"create database {name}")
            pg.install_platform_standin(name)
            await apply_migrations(pg.dsn(name, user="postgres"))
        pg.psql(ROW_LEVEL_BASELINE, dbname="row_level", user="postgres")

        results: dict[str, list[float]] = {"statement_level": [], "row_level": []}
        notifications: dict[str, int] = {}
        for _ in range(repeat):
            for name in results:  # interleaved so machine noise hits both alike
                elapsed, notified = await time_bulk_insert(pg.dsn(name, user="postgres"), rows)
                results[name].append(elapsed)
                notifications[name] = notified

    ours = statistics.median(results["statement_level"])
    baseline = statistics.median(results["row_level"])
    print(f"bulk insert of {rows} products, median of {repeat}:")
    print(f"  row-level baseline : {baseline * 1000:8.1f} ms, {notifications['row_level']} notifications")
    print(f"  imagefill          : {ours * 1000:8.1f} ms, {notifications['statement_level']} notifications")
    print(f"  ratio baseline/imagefill: {baseline / ours:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.rows, args.repeat))
