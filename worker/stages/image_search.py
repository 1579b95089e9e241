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
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
from loguru import logger
from pydantic import BaseModel, ConfigDict, ValidationError

from worker.ratelimit import HostRateLimiter
from worker.stages.openfoodfacts import _retry_after_seconds

BRAVE_BASE_URL = "https://api.search.brave.com"
BRAVE_IMAGES_PATH = "/res/v1/images/search"
REFUSED_EXTENSIONS = (".svg", ".gif", ".bmp", ".tif", ".tiff", ".ico", ".heic", ".avif")


class SearchUnavailable(Exception):
    """The provider kept failing (throttled, 5xx, bad answer) after the retries."""


class SearchQuotaExhausted(SearchUnavailable):
    """The plan's monthly quota is used up: no search until it resets (every product would fail)."""


# Brave's rate-limit headers, one value per window, shortest window first (Brave's documentation,
# "response headers"): `X-RateLimit-Limit: 1, 15000`, `X-RateLimit-Policy: 1;w=1, 15000;w=2592000`,
# `X-RateLimit-Remaining: 0, 14999`, `X-RateLimit-Reset: 1, 1419704` (seconds until each resets).
# A 429 carries them, often without Retry-After.
MAX_WINDOW_WAIT_SECONDS = 10.0  # waiting out a per-second (or per-minute) window; longer: give up


@dataclass(frozen=True)
class RateWindow:
    remaining: int
    reset_seconds: float
    window_seconds: float | None  # from X-RateLimit-Policy `w=`; None when not sent


def _numbers(header: str | None) -> list[float]:
    values: list[float] = []
    for part in (header or "").split(","):
        try:
            values.append(float(part.strip()))
        except ValueError:
            return []
    return values


def rate_windows(headers: Mapping[str, str]) -> list[RateWindow]:
    """Brave's windows, shortest first; [] when the headers are absent or unreadable."""
    remaining = _numbers(headers.get("X-RateLimit-Remaining"))
    resets = _numbers(headers.get("X-RateLimit-Reset"))
    if not remaining or len(remaining) != len(resets):
        return []
    sizes: list[float | None] = []
    for policy in (headers.get("X-RateLimit-Policy") or "").split(","):
        size = next((p.strip()[2:] for p in policy.split(";") if p.strip().startswith("w=")), None)
        sizes.append(float(size) if size and size.isdigit() else None)
    if len(sizes) != len(remaining):
        sizes = [None] * len(remaining)
    windows = [RateWindow(int(r), max(0.0, t), w) for r, t, w in zip(remaining, resets, sizes, strict=True)]
    if all(w.window_seconds is not None for w in windows):
        windows.sort(key=lambda w: w.window_seconds or 0)
    return windows


def _in_words(seconds: float) -> str:
    if seconds >= 86_400:
        return f"{round(seconds / 86_400)} dia(s)"
    if seconds >= 3_600:
        return f"{round(seconds / 3_600)} h"
    return f"{max(1, round(seconds / 60))} min"


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
    thumbnail_width: int | None = None
    thumbnail_height: int | None = None


class ImageSearch(Protocol):
    provider: str

    async def search_images(self, query: str, count: int) -> list[SearchHit]: ...


# Brave's response, only the fields we read.
class _BraveThumbnail(BaseModel):
    model_config = ConfigDict(extra="ignore")
    src: str | None = None
    width: int | None = None
    height: int | None = None


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
                thumbnail_width=result.thumbnail.width if result.thumbnail else None,
                thumbnail_height=result.thumbnail.height if result.thumbnail else None,
            )
        )
    return hits


class BraveImageSearch:
    """`GET /res/v1/images/search` with `X-Subscription-Token`; 429/5xx retried honouring Retry-After,
    or the per-second window's X-RateLimit-Reset without it. A 429 with the monthly window at 0
    stops the search for this worker until that window resets (`SearchQuotaExhausted`), so the
    products after it do not each ask again. With a `pacer` (the provider's shared pace), an
    answer saying the per-second window is used up holds every process's next call until it resets."""

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
        pacer: HostRateLimiter | None = None,
    ) -> None:
        self._session = session
        self._pacer = pacer
        self._url = (base_url or BRAVE_BASE_URL).rstrip("/") + BRAVE_IMAGES_PATH
        self._headers = {"X-Subscription-Token": api_key, "Accept": "application/json"}
        self._country = country
        self._language = language
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._max_retries = max_retries
        self._backoff = backoff_seconds
        self._quota_stop: tuple[float, str] | None = None  # (monotonic time it resets, reason)

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
        if self._quota_stop is not None:
            resets_at, reason = self._quota_stop
            if time.monotonic() < resets_at:
                raise SearchQuotaExhausted(reason)
            self._quota_stop = None
        problem = "sem resposta"
        for attempt in range(self._max_retries + 1):
            retry_after: float | None = None
            try:
                async with self._session.get(
                    self._url, params=params, headers=self._headers, timeout=self._timeout
                ) as response:
                    await self._pace_from(response.headers)
                    if response.status == 200:
                        return parse_brave_images(query, await response.json(content_type=None))
                    problem = f"HTTP {response.status}"
                    if response.status != 429 and response.status < 500:
                        raise SearchUnavailable(f"busca de imagens (brave) respondeu {problem}")
                    retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
                    if response.status == 429:
                        retry_after = self._throttled(response.headers, retry_after)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                problem = type(exc).__name__
            if attempt < self._max_retries:
                delay = retry_after if retry_after is not None else self._backoff * 2**attempt
                logger.bind(stage="image_search", attempt=attempt + 1, problem=problem).warning(
                    "search_retry"
                )
                await asyncio.sleep(delay * (1 if retry_after is not None else random.uniform(0.8, 1.2)))
        raise SearchUnavailable(f"busca de imagens (brave) indisponível ({problem})")

    async def _pace_from(self, headers: Mapping[str, str]) -> None:
        """The shortest window used up (`X-RateLimit-Remaining: 0, …`): no call before it resets."""
        shortest = next(iter(rate_windows(headers)), None)
        if self._pacer is not None and shortest is not None and shortest.remaining <= 0:
            await self._pacer.window_used_up(min(shortest.reset_seconds, MAX_WINDOW_WAIT_SECONDS))

    def _throttled(self, headers: Mapping[str, str], retry_after: float | None) -> float | None:
        """How long to wait before asking again; raises when the monthly quota is used up."""
        windows = rate_windows(headers)
        longest = windows[-1] if len(windows) > 1 else None
        if longest is not None and longest.remaining <= 0:
            reason = (
                "busca de imagens (brave): a cota mensal do plano acabou (X-RateLimit-Remaining 0);"
                f" volta em {_in_words(longest.reset_seconds)} — amplie o plano da IMAGE_SEARCH_API_KEY"
                " ou espere; até lá os produtos vão para revisão sem busca"
            )
            self._quota_stop = (time.monotonic() + longest.reset_seconds, reason)
            logger.bind(stage="image_search", reset_seconds=longest.reset_seconds).error(
                "search_quota_exhausted"
            )
            raise SearchQuotaExhausted(reason)
        if retry_after is not None:
            return retry_after
        # The window that ran out (the per-second one, as a rule) resets in a moment: wait for it.
        spent = [w.reset_seconds for w in windows if w.remaining <= 0] or [
            w.reset_seconds for w in windows[:1]
        ]
        wait = max(spent) if spent else None
        return wait if wait is not None and wait <= MAX_WINDOW_WAIT_SECONDS else None


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
