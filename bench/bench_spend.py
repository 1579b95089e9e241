"""What the paid stages spend (issue 20), against the stage as it was, in the same run.

1. The demo mix (`imagefill demo`'s 22 queued products and scripted web, 15 of which reach the
   image search) through the worker twice: with today's search (queries one by one, best-looking
   hit judged first, stop at the first approvable one) and with the search from before issue 20
   (`bench/search_before.py`: every query, every downloaded hit judged). The stand-ins count the
   requests; cost per 1,000 products from OPENAI_PRICES and IMAGE_SEARCH_PRICE_PER_1000.
2. A monthly cap with 3 real `imagefill run` processes (3 jobs each) racing for the last dollars:
   how far the spend passes the cap, against the bound the issue sets (the calls in flight).

Counts are deterministic (the stand-ins decide by the picture); the race is repeated and its worst
run reported.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import types
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench import search_before
from bench.bench_e2e import _drained, _wait_for_listeners, spawn_worker
from bench.common import Report, migrated_database, quiet_logs
from worker.costs import cost_usd
from worker.demo import script_the_web, seed_demo_catalogue
from worker.gtin import check_digit
from worker.offline.postgres import LocalPostgres
from worker.offline.services import OfflineServices
from worker.runner import open_worker
from worker.settings import load_settings

SEARCH_PER_1000 = 5.0
CAP_USD = 0.05
RACE_PROCESSES, RACE_CONCURRENCY, RACE_PRODUCTS, RACE_REPEAT = 3, 3, 30, 3
UNPACED = {"IMAGE_SEARCH_RATE_PER_SECOND": "1000", "OPENAI_REQUESTS_PER_MINUTE": "600000"}


@dataclass(frozen=True)
class MixResult:
    products: int
    searched: int
    requests: int
    verdicts: int
    approved: frozenset[tuple[str, str]]
    openai_usd: float
    search_usd: float

    def per_1000(self, usd: float) -> float:
        return usd * 1000 / self.products


async def demo_mix(pg: LocalPostgres, variant: str) -> MixResult:
    dsn = await migrated_database(pg, f"bench_spend_{variant}")
    conn = await asyncpg.connect(dsn)
    try:
        async with OfflineServices() as services:
            assert services.search is not None
            script_the_web(services)
            await seed_demo_catalogue(conn)
            with tempfile.TemporaryDirectory() as tmp:
                env = services.worker_env(dsn, storage="local", judge=True, search=True) | UNPACED
                settings = load_settings(
                    **{key.lower(): value for key, value in env.items()},
                    local_storage_dir=Path(tmp) / "storage",
                    rate_limit_dir=Path(tmp) / "ratelimit",
                    image_search_price_per_1000=SEARCH_PER_1000,
                    worker_poll_seconds=0.5,
                )
                async with quiet_logs(), open_worker(settings) as runner:
                    if variant == "before":
                        runner.pipeline.stage_image_search = types.MethodType(  # type: ignore[method-assign]
                            search_before.stage_image_search, runner.pipeline
                        )
                    await runner.run(until_idle=lambda: _drained(runner))
            searched = await conn.fetchval(
                "select count(distinct product_id) from public.image_job_events where stage = 'query_builder'"
            )
            products = await conn.fetchval("select count(distinct product_id) from public.image_jobs")
            approved = await conn.fetch(
                "select name, image_source::text as source from public.products where image_status = 'ok'"
            )
            usage = await conn.fetch(
                "select * from imagefill.usage_summary() where purpose <> 'image_search'"
            )
            openai_usd = sum(
                cost_usd(settings.prices, r["model"], r["input_tokens"], r["output_tokens"]) or 0.0
                for r in usage
            )
            return MixResult(
                products=int(products),
                searched=int(searched),
                requests=len(services.search.requests),
                verdicts=len(services.openai.judge_calls()),
                approved=frozenset((r["name"], r["source"]) for r in approved),
                openai_usd=openai_usd,
                search_usd=len(services.search.requests) * SEARCH_PER_1000 / 1000,
            )
    finally:
        await conn.close()


def unknown_ean(n: int) -> str:
    body = f"789{n:09d}"
    return body + str(check_digit(body))


async def cap_race(pg: LocalPostgres, round_: int) -> tuple[float, float]:
    """(spent US$, the biggest single call's US$) for one race of the replicas for the cap."""
    dsn = await migrated_database(pg, f"bench_spend_cap_{round_}")
    async with OfflineServices() as services:
        with tempfile.TemporaryDirectory() as tmp:
            env = {
                **os.environ,
                **services.worker_env(dsn, storage="local", judge=True, search=True),
                **UNPACED,
                "LOCAL_STORAGE_DIR": f"{tmp}/storage",
                "RATE_LIMIT_DIR": f"{tmp}/ratelimit",
                "BUDGET_MONTHLY_USD": str(CAP_USD),
                "IMAGE_SEARCH_PRICE_PER_1000": str(SEARCH_PER_1000),
                "WORKER_CONCURRENCY": str(RACE_CONCURRENCY),
                "WORKER_POLL_SECONDS": "0.5",
                "LOG_JSON": "true",
            }
            workers = [spawn_worker(env) for _ in range(RACE_PROCESSES)]
            conn = await asyncpg.connect(dsn)
            try:
                await _wait_for_listeners(dsn, RACE_PROCESSES)
                await conn.executemany(
                    "insert into public.products (name, brand, ean) values ($1, 'Marca', $2)",
                    [(f"Produto {n} 500g", unknown_ean(n)) for n in range(RACE_PRODUCTS)],
                )
                busy = (
                    "select count(*) from public.image_jobs"
                    " where status = 'running' or (status = 'queued' and run_after <= now())"
                )
                await asyncio.sleep(1)
                while await conn.fetchval(busy):  # noqa: ASYNC110 -- the state lives in the database
                    await asyncio.sleep(0.1)
                spent = float(
                    await conn.fetchval(
                        "select coalesce(sum(spent_usd), 0) from imagefill.spend_totals"
                        " where period = 'month'"
                    )
                )
                settings = load_settings(database_url=dsn, storage_backend="local")
                calls = await conn.fetch(
                    "select model, input_tokens, output_tokens from imagefill.usage_records"
                    " where purpose <> 'image_search'"
                )
                biggest = max(
                    [SEARCH_PER_1000 / 1000]
                    + [
                        cost_usd(settings.prices, c["model"], c["input_tokens"], c["output_tokens"]) or 0.0
                        for c in calls
                    ]
                )
                return spent, biggest
            finally:
                await conn.close()
                for worker in workers:
                    worker.terminate()
                for worker in workers:
                    worker.wait(30)


async def run(pg: LocalPostgres, report: Report, race_repeat: int = RACE_REPEAT) -> None:
    before = await demo_mix(pg, "before")
    after = await demo_mix(pg, "after")
    same = "same products approved" if after.approved == before.approved else "APPROVED SET DIFFERS"
    mix = f"demo mix: {after.products} products, {after.searched} reach the search"
    for what, now, then, goal in (
        ("search requests", after.requests, before.requests, "1.5"),
        ("judge verdicts (all stages)", after.verdicts, before.verdicts, "4"),
    ):
        report.add(
            "spend",
            f"{what} per searched product ({mix})",
            f"{now / after.searched:.2f} ({now})",
            f"before issue 20: {then / before.searched:.2f} ({then})",
            f"{then / now:.2f}× fewer",
            f"goal ≤ {goal}; {same}; bench/search_before.py is the old stage",
        )
    sources = [source for _, source in after.approved]
    approved = ", ".join(f"{sources.count(s)} by {s}" for s in sorted(set(sources)))
    total_after = after.per_1000(after.openai_usd + after.search_usd)
    total_before = before.per_1000(before.openai_usd + before.search_usd)
    report.add(
        "spend",
        f"US$ per 1,000 products ({mix}; approved {approved}; the rest left for review)",
        f"OpenAI {after.per_1000(after.openai_usd):.2f} + search {after.per_1000(after.search_usd):.2f}",
        f"before: OpenAI {before.per_1000(before.openai_usd):.2f}"
        f" + search {before.per_1000(before.search_usd):.2f}",
        f"{total_before / total_after:.2f}× cheaper",
        f"gpt-4.1-mini at OPENAI_PRICES' default; search at US$ {SEARCH_PER_1000:.2f} per 1,000 requests",
    )
    races = [await cap_race(pg, n) for n in range(race_repeat)]
    spent, biggest = max(races)
    in_flight = RACE_PROCESSES * RACE_CONCURRENCY
    overshoot = spent - CAP_USD
    runs = ", ".join(f"{s:.4f}" for s, _ in races)
    report.add(
        "spend",
        f"monthly cap US$ {CAP_USD:.2f}, {RACE_PROCESSES} `imagefill run` processes"
        f" × {RACE_CONCURRENCY} jobs racing, {RACE_PRODUCTS} products",
        f"spent US$ {spent:.4f}: overshoot {overshoot:+.4f} ({overshoot / biggest:+.2f} calls)",
        f"bound: {in_flight} calls in flight (US$ {in_flight * biggest:.4f})",
        "within" if overshoot <= in_flight * biggest else "EXCEEDED",
        f"worst of {len(races)} races (US$ {runs}); biggest call US$ {biggest:.4f}",
    )


async def main(repeat: int) -> None:
    report = Report()
    with LocalPostgres() as pg:
        await run(pg, report, repeat)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=RACE_REPEAT, help="cap races")
    asyncio.run(main(parser.parse_args().repeat))
