"""OFF bulk path: `imagefill off-index` over a synthetic 1M-line export in the real format, then
Stage 1 for a 50,000-product backfill served from the index.

Measured: the index build (lines/s, peak memory of the building process) and the Stage-1 lookups
of 50,000 EANs through the real OFF client. The live-API path is not run (at OFF's 15 reads per
minute it takes 55 hours): its time is the rate limit's bound, N / rate, which no
implementation can beat; the ratio compares the measured bulk path with that bound.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.common import Report
from bench.off_export import write_export
from worker.offindex import OffExportIndex
from worker.ratelimit import HostRateLimiter
from worker.stages.openfoodfacts import OpenFoodFactsClient

BUILD = """
import json, resource, sys
from pathlib import Path
from worker.offindex import build_index
export, gtins, out = sys.argv[1:4]
report = build_index(Path(export), Path(gtins).read_text().split(), Path(out))
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"lines": report.lines, "matched": report.matched, "with_image": report.with_front_image,
                  "seconds": report.seconds, "peak_mb": peak_mb}))
"""


def build_in_subprocess(export: Path, gtins: list[str], out: Path) -> dict[str, float]:
    """In its own process, so that its peak memory is the build's own."""
    gtin_file = out.with_suffix(".gtins")
    gtin_file.write_text("\n".join(gtins))
    result = subprocess.run(
        [sys.executable, "-c", BUILD, str(export), str(gtin_file), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    data: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


async def stage1_lookups(index_path: Path, gtins: list[str], rate_dir: Path) -> tuple[float, int]:
    index = OffExportIndex(index_path)
    found = 0
    async with aiohttp.ClientSession() as session:
        client = OpenFoodFactsClient(
            session,
            base_url="http://127.0.0.1:9",  # never reached: every EAN is in the index
            max_retries=0,
            user_agent="Imagefill-bench/0.1 (bench@example.com)",
            limiter=HostRateLimiter(rate_dir, "openfoodfacts", 15),
            index=index,
        )
        started = time.perf_counter()
        for gtin in gtins:
            product = await client.fetch_from_open_food_facts(gtin)
            found += product is not None and bool(product.candidates)
        elapsed = time.perf_counter() - started
    index.close()
    return elapsed, found


async def run(
    report: Report, lines: int = 1_000_000, catalogue: int = 50_000, rate_per_minute: int = 15
) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        export = Path(workdir) / "products.jsonl"
        made = time.perf_counter()
        gtins = write_export(export, lines, catalogue_every=max(lines // catalogue, 1))[:catalogue]
        made = time.perf_counter() - made
        size_mb = export.stat().st_size / 1e6
        out = Path(workdir) / "off-index.sqlite"
        build = build_in_subprocess(export, gtins, out)
        lookup_seconds, found = await stage1_lookups(out, gtins, Path(workdir) / "rate")
    report.add(
        "OFF export",
        f"index build: {lines:,}-line JSONL export ({size_mb:,.0f} MB), {len(gtins):,} catalogue EANs",
        f"{build['seconds']:.1f} s, {build['lines'] / build['seconds']:,.0f} lines/s,"
        f" peak {build['peak_mb']:.0f} MB",
        f"{int(build['matched']):,} matched, {int(build['with_image']):,} with a front image",
        "",
        f"synthetic export written in {made:.0f} s (not counted)",
    )
    bulk = build["seconds"] + lookup_seconds
    live = len(gtins) / rate_per_minute * 60
    report.add(
        "OFF export",
        f"Stage 1 for a {len(gtins):,}-product backfill",
        f"{bulk:.1f} s (index build + {lookup_seconds:.1f} s of lookups, {found:,} with images)",
        f"live API at {rate_per_minute}/min: ≥ {live / 3600:.1f} h (bound, not run)",
        f"≥ {live / bulk:,.0f}× faster (goal ≥ 25×)",
    )


async def main(lines: int, catalogue: int) -> None:
    await run(Report(), lines, catalogue)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--catalogue", type=int, default=50_000)
    args = parser.parse_args()
    asyncio.run(main(args.lines, args.catalogue))
