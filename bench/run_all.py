"""`make bench`: every benchmark in one run, one Postgres cluster, written to bench/RESULTS.md.

Each benchmark compares with a baseline measured in the same run (interleaved where it repeats):
on a shared or busy machine the absolute numbers move, the ratios much less. Never run by
`make test`; no test asserts a timing.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import (
    bench_e2e,
    bench_enqueue,
    bench_off_index,
    bench_panel,
    bench_picture_identity,
    bench_queue,
    bench_rss,
    bench_spend,
    bench_wakeup,
)
from bench.common import Report, machine
from worker.offline.postgres import LocalPostgres

RESULTS = Path(__file__).with_name("RESULTS.md")


def render(report: Report, command: str, machine_line: str, seconds: float) -> str:
    lines = [
        "# Imagefill benchmarks",
        "",
        f"Produced by `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {seconds / 60:.1f} min.",
        "",
        f"Machine: {machine_line}.",
        "",
        "Every row compares with a baseline measured in the same run (interleaved where repeated).",
        "On a shared machine absolute times move from run to run; read the ratios.",
        "",
        "| section | what | measured | against | ratio | note |",
        "|---|---|---|---|---|---|",
    ]
    for row in report.rows:
        cells = (row.section, row.what, row.measured, row.against, row.ratio, row.note)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


async def main(args: argparse.Namespace) -> None:
    report = Report()
    started = time.perf_counter()
    machine_line = machine()
    with LocalPostgres() as pg:
        await bench_queue.run(pg, report, args.queue_jobs, args.repeat)
        await bench_wakeup.run(pg, report, args.wakeup_samples)
        await bench_e2e.run(pg, report, args.e2e_scale)
        await bench_panel.run(pg, report)
        await bench_enqueue.run(pg, report, args.enqueue_rows, args.repeat)
        await bench_rss.run(pg, report, args.rss_jobs)
        await bench_spend.run(pg, report, args.repeat)
    await bench_off_index.run(report, args.off_lines, args.off_catalogue)
    bench_picture_identity.run(report)
    command = "make bench" if args.from_make else "python -m bench.run_all " + shlex.join(sys.argv[1:])
    args.out.write_text(render(report, command, machine_line, time.perf_counter() - started))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--queue-jobs", type=int, default=3000)
    parser.add_argument("--wakeup-samples", type=int, default=40)
    parser.add_argument("--e2e-scale", type=float, default=1.0)
    parser.add_argument("--enqueue-rows", type=int, default=50_000)
    parser.add_argument("--rss-jobs", type=int, default=10_000)
    parser.add_argument("--off-lines", type=int, default=1_000_000)
    parser.add_argument("--off-catalogue", type=int, default=50_000)
    parser.add_argument("--from-make", action="store_true", help=argparse.SUPPRESS)
    asyncio.run(main(parser.parse_args()))
