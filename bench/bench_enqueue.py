"""Benchmark: enqueueing a bulk catalogue import. Imagefill's statement-level triggers against
the row-level design most queues start with (one job INSERT and one NOTIFY per product row), and
against the same insert without any trigger (the generated `gtin` column kept) and into a bare
table (no Imagefill columns at all): what the enqueue costs on top of the user's own insert.

All run in the same Postgres cluster, in the same run, interleaved, on the same data; the ratios
are what to read. Run: `make bench` (or `.venv/bin/python -m bench.bench_enqueue --rows 50000`).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

import asyncpg

from bench.common import Report, ean13, median, migrated_database
from worker.offline.postgres import LocalPostgres

# The baseline: the per-row trigger a first version would write, payload = the job id so that
# Postgres cannot fold the notifications, and the classic foreign key from jobs to products.
ROW_LEVEL_BASELINE = """
drop trigger imagefill_enqueue_on_insert on public.products;
drop trigger image_jobs_notify on public.image_jobs;
drop trigger image_jobs_product_exists on public.image_jobs;
alter table public.image_jobs add foreign key (product_id) references public.products (id) on delete cascade;
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


NO_TRIGGERS = """
drop trigger imagefill_enqueue_on_insert on public.products;
drop trigger imagefill_tally_insert on public.products;
drop trigger image_jobs_notify on public.image_jobs;
"""

BARE_TABLE = """
create table public.products (id uuid primary key default gen_random_uuid(), name text not null, ean text);
"""


def backend_cpu_seconds(pid: int) -> float | None:
    """CPU time a server process has run so far (Linux schedstat, ns), or None where it cannot
    be read. The cluster is local: on a shared machine this moves far less than wall time."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


async def time_bulk_insert(dsn: str, rows: int, expect_jobs: bool = True) -> tuple[float, float | None, int]:
    """Seconds for one INSERT of `rows` products (commit included), the server process's CPU
    seconds for it, and notifications received."""
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
        await writer.execute("truncate public.products cascade")
        names = [f"Produto {i}" for i in range(rows)]
        eans = [ean13(i) for i in range(rows)]
        cpu_before = backend_cpu_seconds(writer.get_server_pid())
        started = time.perf_counter()
        await writer.execute(
            "insert into public.products (name, ean) select * from unnest($1::text[], $2::text[])",
            names,
            eans,
        )
        elapsed = time.perf_counter() - started
        cpu_after = backend_cpu_seconds(writer.get_server_pid())
        cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
        await writer.execute("select pg_notify('imagefill_jobs', 'marker')")
        await asyncio.wait_for(marker_seen.wait(), timeout=60)
        if expect_jobs:
            jobs = await writer.fetchval("select count(*) from public.image_jobs")
            assert jobs == rows, f"expected {rows} jobs, got {jobs}"
        return elapsed, cpu, len(received) - 1
    finally:
        await listener.close()
        await writer.close()


VARIANTS = ("statement_level", "row_level", "no_triggers", "bare_table")


async def run(pg: LocalPostgres, report: Report, rows: int, repeat: int) -> None:
    dsns = {}
    for name in VARIANTS[:3]:
        dsns[name] = await migrated_database(pg, f"bench_enqueue_{name}")
    pg.psql(ROW_LEVEL_BASELINE, dbname="bench_enqueue_row_level", user="postgres")
    pg.psql(NO_TRIGGERS, dbname="bench_enqueue_no_triggers", user="postgres")
    pg.psql("drop database if exists bench_enqueue_bare_table")
    pg.psql("create database bench_enqueue_bare_table")
    pg.psql(BARE_TABLE, dbname="bench_enqueue_bare_table")
    dsns["bare_table"] = pg.dsn("bench_enqueue_bare_table")

    results: dict[str, list[float]] = {name: [] for name in VARIANTS}
    cpu: dict[str, list[float]] = {name: [] for name in VARIANTS}
    notifications: dict[str, int] = {}
    for _ in range(repeat):
        for name in VARIANTS:  # interleaved so machine noise hits every variant alike
            elapsed, used, notified = await time_bulk_insert(
                dsns[name], rows, expect_jobs=name in ("statement_level", "row_level")
            )
            results[name].append(elapsed)
            if used is not None:
                cpu[name].append(used)
            notifications[name] = notified

    t = {name: median(values) for name, values in results.items()}
    report.add(
        "bulk enqueue",
        f"one INSERT of {rows:,} products, Imagefill triggers (median of {repeat})",
        f"{t['statement_level'] * 1000:.0f} ms, {notifications['statement_level']} NOTIFY",
        f"row-level trigger {t['row_level'] * 1000:.0f} ms, {notifications['row_level']:,} NOTIFY",
        f"{t['row_level'] / t['statement_level']:.2f}× faster",
    )
    report.add(
        "bulk enqueue",
        "same insert without any trigger (generated gtin column kept)",
        f"{t['no_triggers'] * 1000:.0f} ms",
        "Imagefill triggers",
        f"overhead {t['statement_level'] / t['no_triggers']:.2f}× (goal ≤ 1.5×)",
    )
    report.add(
        "bulk enqueue",
        "same insert into a bare table (no Imagefill columns)",
        f"{t['bare_table'] * 1000:.0f} ms",
        "Imagefill triggers / without triggers",
        f"{t['statement_level'] / t['bare_table']:.2f}× / {t['no_triggers'] / t['bare_table']:.2f}×",
        "the second ratio is the generated gtin column and the image columns, indexes and checks",
    )
    if all(cpu.values()):
        c = {name: median(values) * 1000 for name, values in cpu.items()}
        report.add(
            "bulk enqueue",
            "server CPU of the same INSERT (the backend process; less noisy than wall time)",
            f"Imagefill triggers {c['statement_level']:.0f} ms, row-level {c['row_level']:.0f} ms",
            f"without triggers {c['no_triggers']:.0f} ms, bare table {c['bare_table']:.0f} ms",
            f"overhead {c['statement_level'] / c['no_triggers']:.2f}×",
            "wall time adds the client's parameters, the commit and the network to every variant alike",
        )


async def main(rows: int, repeat: int) -> None:
    report = Report()
    with LocalPostgres() as pg:
        await run(pg, report, rows, repeat)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.rows, args.repeat))
