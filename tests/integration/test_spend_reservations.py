"""The budget's bookkeeping in SQL (imagefill.reserve_spend / settle_spend / release_spend), called
as the worker calls it (worker.budget.SpendLedger): a reservation holds room until it settles, is
released or expires; each cap refuses with the moment its window resets."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import asyncpg
import pytest

from tests.harness import MigratedDatabase
from worker.budget import BudgetLimits, BudgetReached, SpendLedger
from worker.costs import Usage

PRICES = {"gpt-4.1-mini": (0.40, 1.60)}


@pytest.fixture
async def pool(fresh_db: MigratedDatabase) -> AsyncIterator[asyncpg.Pool]:
    connections = await asyncpg.create_pool(fresh_db.dsn, min_size=1, max_size=2)
    try:
        yield connections
    finally:
        await connections.close()


def ledger(pool: asyncpg.Pool, hold_seconds: int = 60, **limits: object) -> SpendLedger:
    return SpendLedger(pool, BudgetLimits(**limits), PRICES, 0.01, hold_seconds)  # type: ignore[arg-type]


def next_month() -> datetime:
    now = datetime.now(UTC)
    return datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)


async def test_room_is_held_until_settled_and_the_real_cost_is_what_counts(pool: asyncpg.Pool) -> None:
    spend = ledger(pool, monthly_usd=0.03)
    job = uuid4()
    first = await spend.reserve(job, "brave", "image_search", 0.01)
    second = await spend.reserve(job, "brave", "image_search", 0.01)
    await spend.reserve(job, "brave", "image_search", 0.01)
    with pytest.raises(BudgetReached) as refused:
        await spend.reserve(job, "brave", "image_search", 0.01)
    assert refused.value.scope == "month" and refused.value.resets_at == next_month()
    assert str(refused.value).startswith("orçamento do mês atingido")

    await spend.release(first)  # a call that failed gives its room back
    await spend.settle(job, second, [Usage("brave", "image_search")])  # answered: 0.01 spent
    third = await spend.reserve(job, "brave", "image_search", 0.01)
    assert third.id is not None
    row = await pool.fetchrow("select * from imagefill.spend_summary()")
    assert row["provider"] == "brave" and float(row["month_usd"]) == 0.01 and row["month_requests"] == 1
    assert float(row["reserved_usd"]) == 0.02 and row["month_resets_at"] == next_month()


async def test_a_crashed_workers_reservation_expires_and_a_late_settlement_still_counts(
    pool: asyncpg.Pool,
) -> None:
    crashed = ledger(pool, hold_seconds=1, monthly_usd=0.01)
    job = uuid4()
    lost = await crashed.reserve(job, "openai", "judge", 0.01)
    with pytest.raises(BudgetReached):
        await crashed.reserve(job, "openai", "judge", 0.01)
    started = time.monotonic()
    while True:  # wait for the state: the reservation stops counting once expired
        try:
            late = await crashed.reserve(job, "openai", "judge", 0.004)
            break
        except BudgetReached:
            assert time.monotonic() - started < 10, "the reservation never expired"
    assert time.monotonic() - started >= 0.5
    # The slow call behind the expired reservation settles after all: its real cost is counted.
    await crashed.settle(job, lost, [Usage("gpt-4.1-mini", "judge", 10_000, 1_250)])  # US$ 0.006
    with pytest.raises(BudgetReached):
        await crashed.reserve(job, "openai", "judge", 0.001)
    await crashed.settle(job, late, [Usage("gpt-4.1-mini", "judge", 5_000, 0)])  # US$ 0.002
    assert float(await pool.fetchval("select month_usd from imagefill.spend_summary()")) == pytest.approx(
        0.008
    )
    assert await pool.fetchval("select count(*) from imagefill.usage_records") == 2


async def test_the_daily_cap_and_a_providers_quota_refuse_with_their_own_reset(pool: asyncpg.Pool) -> None:
    job = uuid4()
    daily = ledger(pool, monthly_usd=10.0, daily_usd=0.01)
    reservation = await daily.reserve(job, "openai", "judge", 0.01)
    with pytest.raises(BudgetReached) as refused:
        await daily.reserve(job, "openai", "judge", 0.001)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert refused.value.scope == "day" and refused.value.resets_at == today + timedelta(days=1)
    await daily.release(reservation)

    quota = ledger(pool, monthly_requests={"brave": 2})
    for _ in range(2):
        await quota.settle(
            job, await quota.reserve(job, "brave", "image_search", 0.0), [Usage("brave", "image_search")]
        )
    with pytest.raises(BudgetReached) as refused:
        await quota.reserve(job, "brave", "image_search", 0.0)
    assert refused.value.scope == "quota" and "cota mensal de requisições de brave" in str(refused.value)
    # Another provider's calls are not bound by Brave's quota, and no cap means no round trip.
    assert (await quota.reserve(job, "openai", "judge", 1.0)).id is None
