"""Stage 3: an official image-search API, used only when stages 1–2 found nothing good enough.

Provider: Brave Search API (image search), the official image-search API open to new sign-ups in
2026. Microsoft retired the Bing Search APIs on 2025-08-11; Google's Custom Search JSON API is
closed to new customers and ends on 2027-01-01 — so neither is built on. Another official provider
goes behind `ImageSearch`.

What comes back is only a list of candidates: the pipeline filters, downloads (SSRF-safe),
deduplicates, has the judge rank them and decides.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
from loguru import logger
from pydantic import BaseModel, ConfigDict, ValidationError

from worker.stages.openfoodfacts import _retry_after_seconds

BRAVE_BASE_URL = "https://api.search.brave.com"
BRAVE_IMAGES_PATH = "/res/v1/images/search"
REFUSED_EXTENSIONS = (".svg", ".gif", ".bmp", ".tif", ".tiff", ".ico", ".heic", ".avif")


class SearchUnavailable(Exception):
    """The provider kept failing (throttled, 5xx, bad answer) after the retries."""


@dataclass(frozen=True)
class SearchHit:
    url: str  # the picture itself
    title: str | None
    query: str
    page_url: str | None = None  # the page the picture was found on (provenance)
    host: str | None = None
    width: int | None = None
    height: int | None = None
    thumbnail_url: str | None = None


class ImageSearch(Protocol):
    provider: str

    async def search_images(self, query: str, count: int) -> list[SearchHit]: ...


# Brave's response, only the fields we read.
class _BraveThumbnail(BaseModel):
    model_config = ConfigDict(extra="ignore")
    src: str | None = None


class _BraveProperties(BaseModel):
    model_config = ConfigDict(extra="ignore")
    url: str | None = None
    width: int | None = None
    height: int | None = None


class _BraveResult(BaseModel):
    model_config = ConfigDict(extra="ignore")
    title: str | None = None
    url: str | None = None
    source: str | None = None
    thumbnail: _BraveThumbnail | None = None
    properties: _BraveProperties | None = None


class _BraveResponse(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str | None = None
    results: list[_BraveResult] = []


def parse_brave_images(query: str, payload: Any) -> list[SearchHit]:
    try:
        response = _BraveResponse.model_validate(payload)
    except ValidationError as exc:
        raise SearchUnavailable(
            f"resposta inesperada da busca de imagens: {exc.error_count()} erros"
        ) from None
    hits = []
    for result in response.results:
        picture = result.properties.url if result.properties else None
        if not picture:
            continue
        hits.append(
            SearchHit(
                url=picture,
                title=result.title,
                query=query,
                page_url=result.url,
                host=result.source or (urlsplit(result.url).hostname if result.url else None),
                width=result.properties.width if result.properties else None,
                height=result.properties.height if result.properties else None,
                thumbnail_url=result.thumbnail.src if result.thumbnail else None,
            )
        )
    return hits


class BraveImageSearch:
    """`GET /res/v1/images/search` with `X-Subscription-Token`; 429/5xx retried honouring Retry-After."""

    provider = "brave"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_key: str,
        base_url: str | None = None,
        country: str = "BR",
        language: str = "pt-br",
        timeout_seconds: float = 10.0,
        max_retries: int = 2,
        backoff_seconds: float = 1.0,
    ) -> None:
        self._session = session
        self._url = (base_url or BRAVE_BASE_URL).rstrip("/") + BRAVE_IMAGES_PATH
        self._headers = {"X-Subscription-Token": api_key, "Accept": "application/json"}
        self._country = country
        self._language = language
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._max_retries = max_retries
        self._backoff = backoff_seconds

    async def search_images(self, query: str, count: int) -> list[SearchHit]:
        """The seed's `searchImages`: one query, up to `count` pictures."""
        params = {
            "q": query,
            "count": str(count),
            "country": self._country,
            "search_lang": self._language,
            "safesearch": "strict",
            "spellcheck": "false",
        }
        problem = "sem resposta"
        for attempt in range(self._max_retries + 1):
            retry_after: float | None = None
            try:
                async with self._session.get(
                    self._url, params=params, headers=self._headers, timeout=self._timeout
                ) as response:
                    if response.status == 200:
                        return parse_brave_images(query, await response.json(content_type=None))
                    problem = f"HTTP {response.status}"
                    if response.status != 429 and response.status < 500:
                        raise SearchUnavailable(f"busca de imagens (brave) respondeu {problem}")
                    retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                problem = type(exc).__name__
            if attempt < self._max_retries:
                delay = retry_after if retry_after is not None else self._backoff * 2**attempt
                logger.bind(stage="image_search", attempt=attempt + 1, problem=problem).warning(
                    "search_retry"
                )
                await asyncio.sleep(delay * (1 if retry_after is not None else random.uniform(0.8, 1.2)))
        raise SearchUnavailable(f"busca de imagens (brave) indisponível ({problem})")


def interleave(per_query: list[list[SearchHit]]) -> list[SearchHit]:
    """Round-robin across queries, so the first query does not crowd out the others."""
    merged: list[SearchHit] = []
    for row in range(max((len(hits) for hits in per_query), default=0)):
        merged.extend(hits[row] for hits in per_query if row < len(hits))
    return merged


def domain_blocked(host: str | None, blocked: frozenset[str]) -> bool:
    host = (host or "").lower().rstrip(".")
    return any(host == domain or host.endswith("." + domain) for domain in blocked)


def parse_domains(text: str) -> frozenset[str]:
    return frozenset(part.strip().lower().lstrip(".") for part in text.split(",") if part.strip())


def hit_refusal(
    hit: SearchHit, *, rejected_urls: set[str], blocked: frozenset[str], min_side: int
) -> str | None:
    """Why a search result is not worth downloading (None: it is)."""
    if hit.url in rejected_urls:
        return "rejeitada por uma pessoa"
    parts = urlsplit(hit.url)
    if parts.scheme not in ("http", "https"):
        return "URL não é http(s)"
    if parts.path.lower().endswith(REFUSED_EXTENSIONS):
        return "tipo de arquivo não aceito"
    if domain_blocked(parts.hostname, blocked) or domain_blocked(hit.host, blocked):
        return "domínio bloqueado (IMAGE_SEARCH_BLOCKED_DOMAINS)"
    if hit.width and hit.height and max(hit.width, hit.height) < min_side:
        return f"pequena demais ({hit.width}x{hit.height}, mínimo {min_side} px)"
    return None
