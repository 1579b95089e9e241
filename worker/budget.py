"""Spending caps across replicas: reserve a paid call's estimated cost before making it, settle
with the real usage after, release it when the call failed. The database decides (one SQL
function per step, imagefill.reserve_spend / settle_spend / release_spend); this is the only
module that calls them.

At a cap the paid stages pause: the pipeline raises `BudgetReached` and the runner defers the job
until the window resets (products keep their place, nothing is marked failed). Stage 1 (Open
Food Facts) is free and never asks; a person's approval (`approve` jobs) makes no paid call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from uuid import UUID

import asyncpg

from worker.costs import Usage, cost_usd
from worker.settings import Settings, parse_request_quotas

OPENAI = "openai"
# Before a model's first call in this process, what a call is assumed to cost (tokens): a judge
# call is one 512-px picture and a short prompt (≈620 input, 30 output tokens with gpt-4.1-mini
# in the offline stand-in's accounting), an extraction a few lines. Later estimates take the
# largest real cost seen, so a model whose pictures cost more is reserved for at its real price.
DEFAULT_TOKENS = {"judge": (1500, 200), "attributes": (400, 120)}


def dollars(value: float | None) -> Decimal | None:
    """US$ as the decimal a person wrote (0.03, not the binary float 0.029999…): a cap compared in
    SQL numerics must not lose its last cent to the float's representation."""
    return None if value is None else Decimal(repr(value))


@dataclass(frozen=True)
class BudgetLimits:
    monthly_usd: float | None = None
    daily_usd: float | None = None
    monthly_requests: dict[str, int] = field(default_factory=dict)  # provider → requests per month

    @classmethod
    def from_settings(cls, settings: Settings) -> BudgetLimits:
        return cls(
            settings.budget_monthly_usd,
            settings.budget_daily_usd,
            parse_request_quotas(settings.budget_monthly_requests),
        )

    def limits(self, provider: str) -> bool:
        return self.monthly_usd is not None or self.daily_usd is not None or provider in self.monthly_requests


class BudgetReached(Exception):
    """A cap has no room for the next paid call; `resets_at` is when its window starts again."""

    def __init__(self, scope: str, provider: str, resets_at: datetime) -> None:
        self.scope = scope
        self.provider = provider
        self.resets_at = resets_at
        when = resets_at.strftime("%d/%m/%Y %H:%M UTC")
        if scope == "month":
            text = f"orçamento do mês atingido (BUDGET_MONTHLY_USD); retoma em {when} ou ao aumentar o teto"
        elif scope == "day":
            text = f"orçamento do dia atingido (BUDGET_DAILY_USD); retoma em {when} ou ao aumentar o teto"
        else:
            text = (
                f"cota mensal de requisições de {provider} atingida (BUDGET_MONTHLY_REQUESTS);"
                f" retoma em {when} ou ao aumentar a cota"
            )
        super().__init__(text)


@dataclass(frozen=True)
class Reservation:
    id: int | None  # None: no cap applies to this provider, nothing was reserved
    provider: str


class SpendLedger:
    def __init__(
        self,
        pool: asyncpg.Pool,
        limits: BudgetLimits,
        prices: dict[str, tuple[float, float]],
        search_price_usd: float,
        hold_seconds: int,
    ) -> None:
        self._pool = pool
        self.limits = limits
        self.prices = prices
        self.search_price_usd = search_price_usd  # per request
        self.hold_seconds = hold_seconds
        self._largest: dict[tuple[str, str], float] = {}

    def estimate_openai(self, model: str, purpose: str) -> float:
        """What to reserve for one OpenAI call: the default's price, or the largest real cost of
        this model and purpose seen so far (a model missing from OPENAI_PRICES costs 0: no cap)."""
        input_tokens, output_tokens = DEFAULT_TOKENS.get(purpose, DEFAULT_TOKENS["judge"])
        default = cost_usd(self.prices, model, input_tokens, output_tokens) or 0.0
        return max(default, self._largest.get((model, purpose), 0.0))

    def cost_of(self, usages: list[Usage]) -> float:
        total = 0.0
        for usage in usages:
            if usage.purpose == "image_search":
                total += self.search_price_usd * usage.requests
            else:
                cost = cost_usd(self.prices, usage.model, usage.input_tokens, usage.output_tokens) or 0.0
                key = (usage.model, usage.purpose)
                self._largest[key] = max(self._largest.get(key, 0.0), cost)
                total += cost
        return total

    async def reserve(
        self, job_id: UUID, provider: str, purpose: str, estimate_usd: float, requests: int = 1
    ) -> Reservation:
        """Room for one call, or `BudgetReached`. Without any cap for the provider: no round trip."""
        if not self.limits.limits(provider):
            return Reservation(None, provider)
        row = await self._pool.fetchrow(
            "select * from imagefill.reserve_spend($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            job_id,
            provider,
            purpose,
            dollars(estimate_usd),
            requests,
            dollars(self.limits.monthly_usd),
            dollars(self.limits.daily_usd),
            self.limits.monthly_requests.get(provider),
            self.hold_seconds,
        )
        assert row is not None
        if row["refused"] is not None:
            raise BudgetReached(str(row["refused"]), provider, row["resets_at"])
        return Reservation(int(row["reservation_id"]), provider)

    async def settle(self, job_id: UUID, reservation: Reservation, usages: list[Usage]) -> None:
        """The real cost replaces the estimate, and every usage line is recorded on the job."""
        lines = [
            {
                "model": u.model,
                "purpose": u.purpose,
                "input_tokens": u.input_tokens,
                "output_tokens": u.output_tokens,
                "requests": u.requests,
            }
            for u in usages
        ]
        await self._pool.execute(
            "select imagefill.settle_spend($1, $2, $3, $4, $5::jsonb)",
            reservation.id,
            job_id,
            reservation.provider,
            dollars(self.cost_of(usages)),
            json.dumps(lines),
        )

    async def release(self, reservation: Reservation) -> None:
        if reservation.id is not None:
            await self._pool.execute("select imagefill.release_spend($1)", reservation.id)

    async def resume_deferred(self) -> int:
        """At start-up: when every cap has room (one was raised, or a window reset early), the
        jobs a cap deferred run again now, in their order. Returns how many."""
        resumed = await self._pool.fetchval(
            "select imagefill.resume_deferred_jobs($1, $2, $3::jsonb)",
            dollars(self.limits.monthly_usd),
            dollars(self.limits.daily_usd),
            json.dumps(self.limits.monthly_requests),
        )
        return int(resumed or 0)
