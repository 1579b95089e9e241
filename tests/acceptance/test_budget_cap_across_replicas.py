"""Spending caps hold across replicas: three real `imagefill run` processes race for the last
dollars of BUDGET_MONTHLY_USD; together they overshoot it by no more than the calls in flight.
At the cap the paid stages pause (the jobs wait for the month to reset, nothing fails), Stage 1
keeps running, a person's approval is stored at once, and `imagefill status` says what happened."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg

from tests.acceptance.conftest import WorkerProcess, worker_env
from tests.acceptance.test_cli_commands import imagefill
from tests.acceptance.test_worker_end_to_end import insert_product, status_is
from tests.harness import MigratedDatabase, wait_until
from worker.gtin import check_digit
from worker.offline.services import OfflineServices

CAP_USD = 0.05
SEARCH_PER_1000 = 5.0  # US$ 0.005 a request: the cap holds about ten searches
LOWERED_CAP_USD = 0.03  # below what the race spends (more than CAP_USD - 2 searches)
PROCESSES, CONCURRENCY = 3, 3
OPERATOR = "00000000-0000-4000-8000-0000000b0d9e"


def unknown_ean(n: int) -> str:
    """Valid EAN-13s that the Open Food Facts stand-in does not know: every product reaches the search."""
    body = f"789{n:09d}"
    return body + str(check_digit(body))


async def settled(conn: asyncpg.Connection) -> bool:
    """Nothing running and nothing due: every job finished or waits for the window to reset."""
    busy = await conn.fetchval(
        "select count(*) from public.image_jobs"
        " where status = 'running' or (status = 'queued' and run_after <= now())"
    )
    return busy == 0


async def test_three_replicas_racing_for_the_last_dollars_overshoot_by_at_most_the_calls_in_flight(
    start_worker: Callable[..., WorkerProcess],
    db_conn: asyncpg.Connection,
    services: OfflineServices,
    fresh_db: MigratedDatabase,
    tmp_path: Path,
) -> None:
    budget = {
        "BUDGET_MONTHLY_USD": str(CAP_USD),
        "IMAGE_SEARCH_PRICE_PER_1000": str(SEARCH_PER_1000),
        "WORKER_CONCURRENCY": str(CONCURRENCY),
    }
    replicas = [start_worker(judge=True, search=True, **budget) for _ in range(PROCESSES)]
    ids = [await insert_product(db_conn, f"Produto {n} 500g", unknown_ean(n), "Marca") for n in range(30)]
    await wait_until(lambda: settled(db_conn), within=120)
    # The caps the workers run with are recorded for the panel, as the person wrote them.
    assert await db_conn.fetchval("select monthly_usd from imagefill.spend_caps") == Decimal(str(CAP_USD))

    # Every request the stand-ins answered is in the totals, priced as OPENAI_PRICES says.
    totals = {
        r["provider"]: r
        for r in await db_conn.fetch(
            "select provider, spent_usd, requests from imagefill.spend_totals where period = 'month'"
        )
    }
    assert services.search is not None
    assert totals["brave"]["requests"] == len(services.search.requests)
    assert float(totals["brave"]["spent_usd"]) == len(services.search.requests) * SEARCH_PER_1000 / 1000
    assert totals["openai"]["requests"] == len([c for c in services.openai.calls if c.status == 200])
    calls = await db_conn.fetch(
        "select (input_tokens * 0.40 + output_tokens * 1.60) / 1e6 as usd from imagefill.usage_records"
        " where purpose <> 'image_search'"
    )
    assert abs(float(totals["openai"]["spent_usd"]) - sum(float(c["usd"]) for c in calls)) < 1e-9
    spent = sum(float(t["spent_usd"]) for t in totals.values())
    biggest_call = max([SEARCH_PER_1000 / 1000] + [float(c["usd"]) for c in calls])
    in_flight = PROCESSES * CONCURRENCY
    overshoot = spent - CAP_USD
    print(f"spent US$ {spent:.6f} of {CAP_USD}; overshoot US$ {overshoot:.6f}; bound {in_flight} calls")
    assert overshoot <= in_flight * biggest_call
    assert spent > CAP_USD - 2 * biggest_call, "the cap's money was used, not left idle"
    assert await db_conn.fetchval("select count(*) from imagefill.spend_reservations") == 0

    # Paused, not failed: the rest waits for the month to reset, with the reason.
    now = datetime.now(UTC)
    month_reset = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    jobs = await db_conn.fetch("select status::text, run_after, last_error, attempts from public.image_jobs")
    assert not [j for j in jobs if j["status"] == "failed"]
    waiting = [j for j in jobs if j["status"] == "queued"]
    assert waiting, "the cap stopped some products"
    assert all(j["run_after"] == month_reset for j in waiting)
    assert all(j["last_error"].startswith("orçamento do mês atingido") for j in waiting)
    assert all(j["attempts"] == 0 for j in waiting), "a deferral does not use up an attempt"
    statuses = await db_conn.fetch(
        "select image_status::text as s, count(*) from public.products group by 1 order by 1"
    )
    assert {r["s"] for r in statuses} <= {"missing", "needs_review"}, statuses

    # Stage 1 (free) still runs at the cap: the OFF lookup is done and recorded, then the job waits.
    # What the race left (up to one search's price) may still pay for a verdict, so the replicas
    # give way to one whose cap is below what was spent: at the cap for every paid call.
    for replica in replicas:
        assert replica.stop() == 0
    budget["BUDGET_MONTHLY_USD"] = str(LOWERED_CAP_USD)
    start_worker(judge=True, search=True, **budget)
    porto = await insert_product(db_conn, "Vinho do Porto Special Reserve 750ml", "5601077161035", "Calem")
    await wait_until(
        lambda: db_conn.fetchval(
            "select count(*) from public.image_job_events where product_id = $1::uuid"
            " and stage = 'budget' and outcome = 'deferred'",
            porto,
        )
    )
    stages = await db_conn.fetch(
        "select stage, outcome from public.image_job_events where product_id = $1::uuid order by id", porto
    )
    assert ("openfoodfacts", "found") in [(r["stage"], r["outcome"]) for r in stages]

    # A person's own approval never waits for a budget.
    assert services.search is not None
    url = f"{services.image_base_url}/marked/5601077161035/9/packshot/800x800/manual.jpg"
    async with db_conn.transaction():
        await db_conn.execute("set local role authenticated")
        await db_conn.execute(
            "select set_config('request.jwt.claims', $1, true)",
            json.dumps({"sub": OPERATOR, "role": "authenticated"}),
        )
        await db_conn.execute("select public.approve_product_image($1::uuid, $2)", ids[-1], url)
    stored = await wait_until(lambda: status_is(db_conn, ids[-1], "ok"))
    assert stored["image_source"] == "manual"

    # `imagefill status` says the cap was reached, when it resets and how to raise it.
    env = worker_env(services, fresh_db.dsn, tmp_path, judge=True, search=True, **budget)
    result = await imagefill(env, tmp_path, "status", limit_seconds=60)
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())
    assert "teto do mês atingido" in out and "BUDGET_MONTHLY_USD" in out
    assert f"{month_reset:%d/%m/%Y}" in out and "brave" in out and "openai" in out


async def test_a_provider_quota_defers_the_rest_and_raising_it_resumes_them_in_order(
    start_worker: Callable[..., WorkerProcess],
    db_conn: asyncpg.Connection,
    services: OfflineServices,
) -> None:
    assert services.search is not None
    worker = start_worker(judge=True, search=True, BUDGET_MONTHLY_REQUESTS="brave=2")
    ids = [await insert_product(db_conn, f"Produto {n} 1kg", unknown_ean(100 + n), "Marca") for n in range(5)]
    await wait_until(lambda: settled(db_conn), within=60)
    assert len(services.search.requests) == 2, "the quota counts the requests in flight too"
    waiting = await db_conn.fetch(
        "select product_id::text, last_error from public.image_jobs where status = 'queued'"
    )
    assert len(waiting) == 3
    assert all(w["last_error"].startswith("cota mensal de requisições de brave") for w in waiting)
    assert worker.stop() == 0

    # The person raises the quota and restarts: the deferred products go on, oldest first (one at
    # a time here, so the order of the requests is the order of the claims).
    start_worker(judge=True, search=True, BUDGET_MONTHLY_REQUESTS="brave=10", WORKER_CONCURRENCY="1")
    for product_id in ids:
        await wait_until(lambda i=product_id: status_is(db_conn, i, "needs_review"), within=60)
    assert len(services.search.requests) == 5
    later = [
        next(n for n in range(5) if unknown_ean(100 + n) in r.query) for r in services.search.requests[2:]
    ]
    assert len(later) == 3 and later == sorted(later), "they kept their place in the queue"
