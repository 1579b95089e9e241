"""Stage 3: an official image-search API (Brave or Google), used only when stages 1–2 failed.

The providers come in their own issue; this is the interface the pipeline calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class SearchHit:
    url: str
    title: str | None
    query: str


class ImageSearch(Protocol):
    async def search(self, queries: list[str], limit: int = 10) -> list[SearchHit]: ...
