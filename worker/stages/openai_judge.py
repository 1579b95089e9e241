"""Stage 2 (and the ranking half of stage 3): the judge's interface.

OpenAI validates a candidate against the product (name, brand, EAN, the image itself) and never
browses the web. The implementation comes in its own issue; until one is configured the
pipeline sends every candidate to review, never to `ok`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel, Field

from worker.images import NormalizedImage


@dataclass(frozen=True)
class ProductFacts:
    """What our catalogue says about the product."""

    product_id: str
    name: str | None
    brand: str | None
    gtin: str | None


class Verdict(BaseModel):
    """The judge's structured answer for one candidate."""

    match: bool
    confidence: float = Field(ge=0, le=1)
    reason: str = Field(max_length=500)
    brand: str | None = None
    flavour: str | None = None
    size: str | None = None
    search_queries: list[str] = Field(default_factory=list, max_length=3)


class ImageJudge(Protocol):
    async def validate(
        self, product: ProductFacts, image: NormalizedImage, evidence: dict[str, str | None]
    ) -> Verdict: ...
