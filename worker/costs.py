"""What a call costs: tokens × the price table in settings (`OPENAI_PRICES`, USD per 1M tokens)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Usage:
    """One paid call: OpenAI tokens, or one search-API request (tokens zero)."""

    model: str
    purpose: str  # "judge" | "attributes" | "image_search"
    input_tokens: int = 0
    output_tokens: int = 0
    requests: int = 1


def price_for(prices: dict[str, tuple[float, float]], model: str) -> tuple[float, float] | None:
    """Exact name first, then the longest listed prefix (`gpt-4.1-mini-2025-04-14` → `gpt-4.1-mini`)."""
    if model in prices:
        return prices[model]
    matches = [name for name in prices if model.startswith(name)]
    return prices[max(matches, key=len)] if matches else None


def cost_usd(
    prices: dict[str, tuple[float, float]], model: str, input_tokens: int, output_tokens: int
) -> float | None:
    price = price_for(prices, model)
    if price is None:
        return None
    return (input_tokens * price[0] + output_tokens * price[1]) / 1_000_000
