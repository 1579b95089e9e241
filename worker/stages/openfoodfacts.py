"""Stage 1: Open Food Facts by EAN (the seed's `fetchFromOpenFoodFacts`).

API v2 product endpoint with `product_type=all`: OFF redirects a code its sister databases hold
(Open Beauty/Pet Food/Products Facts: shampoo, detergent, pet food) to the right one, so a
supermarket catalogue's non-food products are found too; the redirect is one request against the
same shared rate limit. The response envelope is checked explicitly: `status: 1` with a product is
found, `status: 0` is "not found", anything else is a fault to retry, never a silent "not found".

OFF's rules we follow: a real User-Agent `AppName/version (contact)`; a conservative read rate,
shared by every worker process on the host; back off on 429/503 honouring Retry-After.
`status: 0` and HTTP 404 both mean "not found", which is an answer, not an error. An empty 200 is
a fault (retried), never "not found". The body is read with a size cap, redirects are followed one
hop at a time through the same SSRF policy as picture downloads, and an answer whose fields have
the wrong types is `OffInvalidResponse` with one short reason, not a pydantic report.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
from loguru import logger
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from worker.images import MAX_REDIRECTS, FetchPolicy, ImageRejected, redirect_target
from worker.ratelimit import HostRateLimiter

if TYPE_CHECKING:
    from worker.offindex import OffExportIndex

ACCEPTED_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")
PREFERRED_LANGUAGE = "pt"
_FRONT_URL = re.compile(
    r"/front_(?P<lang>[a-z]{2,3})\.(?P<rev>\d+)\.(?P<size>\d+|full)\.(?P<ext>jpg|png|webp)$"
)
_REQUESTED_FIELDS = (
    "code,status,product_name,product_name_pt,generic_name,brands,quantity,lang,lc,"
    "selected_images,images,image_front_url,image_url"
)
MAX_RETRY_AFTER_SECONDS = 60.0
# A product answer with the fields we ask for is a few KB (the largest real one seen: ~60 KB).
DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024


class OffUnavailable(Exception):
    """OFF kept failing (throttled, 5xx, timeouts) after every retry. The job should retry later."""


class OffInvalidResponse(Exception):
    """OFF answered, but with something we cannot use for this code (wrong types, oversized,
    redirected somewhere forbidden). Retrying will not help: stage 1 found nothing usable."""


class _OffImage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    rev: str | None = None

    @field_validator("rev", mode="before")
    @classmethod
    def _rev_as_text(cls, value: Any) -> str | None:
        # OFF sends revisions as numbers or as strings, depending on the product's age.
        return None if value in (None, "") else str(value)


class _OffProduct(BaseModel):
    """The fields we read from OFF's product document; everything else is ignored."""

    model_config = ConfigDict(extra="ignore")
    code: str | None = None
    product_name: str | None = None
    product_name_pt: str | None = None
    generic_name: str | None = None
    brands: str | None = None
    quantity: str | None = None
    lang: str | None = None
    selected_images: dict[str, Any] | None = None
    images: dict[str, Any] | None = None
    image_front_url: str | None = None
    image_url: str | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return value


@dataclass(frozen=True)
class OffImageCandidate:
    """One front image: the full-size original first, the 400px display copy as fallback."""

    url: str
    fallback_url: str | None
    lang: str | None


OFF_PICTURE_LICENSE = "CC BY-SA 3.0"
OFF_ATTRIBUTION = "Open Food Facts contributors"


@dataclass(frozen=True)
class OffProduct:
    code: str
    name: str | None
    brands: str | None
    quantity: str | None
    lang: str | None
    candidates: list[OffImageCandidate] = field(default_factory=list)
    page_url: str | None = None  # the product's page on the database that holds it (provenance)

    def evidence(self) -> dict[str, str | None]:
        """What the validation stage compares against our catalogue."""
        return {"name": self.name, "brands": self.brands, "quantity": self.quantity, "code": self.code}


def _acceptable(url: str | None) -> bool:
    if not url or not url.strip():
        return False
    parts = urlsplit(url.strip())
    return parts.scheme in ("http", "https") and parts.path.lower().endswith(ACCEPTED_EXTENSIONS)


def _full_size(url: str, images: dict[str, Any]) -> str | None:
    """`front_pt.12.400.jpg` → `front_pt.{rev}.full.jpg`, keeping OFF's own folder path."""
    match = _FRONT_URL.search(urlsplit(url).path)
    if not match or match.group("size") == "full":
        return None
    lang = match.group("lang")
    rev = match.group("rev")
    selected = images.get(f"front_{lang}")
    if isinstance(selected, dict):
        rev = _OffImage.model_validate(selected).rev or rev
    start, end = match.span()
    path = urlsplit(url).path
    new_path = path[:start] + f"/front_{lang}.{rev}.full.{match.group('ext')}" + path[end:]
    return url.replace(path, new_path, 1)


def select_front_candidates(product: _OffProduct) -> list[OffImageCandidate]:
    """Front image in Portuguese, then the product's language, then any other; then
    `image_front_url`, then `image_url`. Full size preferred, the 400px copy as fallback."""
    images = product.images or {}
    display: dict[str, Any] = {}
    front = (product.selected_images or {}).get("front")
    if isinstance(front, dict) and isinstance(front.get("display"), dict):
        display = front["display"]
    languages = sorted(display, key=lambda lang: (lang != PREFERRED_LANGUAGE, lang != product.lang, lang))
    urls = [display[lang] for lang in languages] + [product.image_front_url, product.image_url]

    candidates: list[OffImageCandidate] = []
    seen: set[str] = set()
    for url in urls:
        if not isinstance(url, str) or not _acceptable(url):
            continue
        url = url.strip()
        full = _full_size(url, images)
        primary, fallback = (full, url) if full else (url, None)
        if primary in seen:
            continue
        seen.update({primary, url})
        match = _FRONT_URL.search(urlsplit(url).path)
        candidates.append(OffImageCandidate(primary, fallback, match.group("lang") if match else None))
    return candidates


def envelope_status(payload: Any) -> str:
    """`found`, `not_found` or `unknown` — an unknown envelope is a fault, not a "not found"."""
    if not isinstance(payload, dict):
        return "unknown"
    status = str(payload.get("status"))
    if status == "1" and isinstance(payload.get("product"), dict):
        return "found"
    if status == "0":
        return "not_found"
    return "unknown"


def parse_product_response(ean: str, payload: Any) -> OffProduct | None:
    if not isinstance(payload, dict):
        raise OffInvalidResponse(
            f"Open Food Facts devolveu um JSON inesperado para {ean}"
            f" ({type(payload).__name__}, não um objeto)"
        )
    if str(payload.get("status")) != "1" or not isinstance(payload.get("product"), dict):
        return None
    try:
        product = _OffProduct.model_validate(payload["product"])
    except ValidationError as exc:
        first = exc.errors()[0]
        field_name = ".".join(str(part) for part in first["loc"]) or "product"
        raise OffInvalidResponse(
            f"Open Food Facts devolveu dados com formato inesperado para {ean}"
            f" (campo {field_name}: {type(first.get('input')).__name__} onde se esperava outro tipo)"
        ) from None
    return OffProduct(
        code=str(payload.get("code") or product.code or ean),
        name=product.product_name_pt or product.product_name or product.generic_name,
        brands=product.brands,
        quantity=product.quantity,
        lang=product.lang,
        candidates=select_front_candidates(product),
    )


def _retry_after_seconds(header: str | None) -> float | None:
    if not header:
        return None
    try:
        return min(max(float(header), 0.0), MAX_RETRY_AFTER_SECONDS)
    except ValueError:
        pass
    try:
        from datetime import UTC, datetime

        delay = (parsedate_to_datetime(header) - datetime.now(UTC)).total_seconds()
        return min(max(delay, 0.0), MAX_RETRY_AFTER_SECONDS)
    except (TypeError, ValueError):
        return None


class OpenFoodFactsClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        user_agent: str,
        limiter: HostRateLimiter,
        timeout_seconds: float = 10.0,
        max_retries: int = 3,
        backoff_base_seconds: float = 1.0,
        index: OffExportIndex | None = None,
        policy: FetchPolicy | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self._index = index
        self._session = session
        self._policy = policy or FetchPolicy()
        self._max_body_bytes = max_body_bytes
        self._base_url = base_url.rstrip("/")
        self._headers = {"User-Agent": user_agent, "Accept": "application/json"}
        self._limiter = limiter
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._max_retries = max_retries
        self._backoff = backoff_base_seconds

    async def fetch_from_open_food_facts(self, ean: str) -> OffProduct | None:
        """The product and its front-image candidates, or None when OFF does not know the code."""
        code = re.sub(r"\D", "", ean or "")
        if not 8 <= len(code) <= 14 or code != (ean or "").strip():
            raise ValueError(f"EAN inválido para o Open Food Facts: {ean!r}")
        if self._index is not None:
            # The bulk export first (no request, no rate limit); the live API only for EANs the
            # export does not have or has without a front image (newer than the export).
            known = self._index.lookup(code)
            if known is not None and known.candidates:
                return known
        url = f"{self._base_url}/api/v2/product/{code}"
        params = {"fields": _REQUESTED_FIELDS, "product_type": "all"}
        last_problem = "sem resposta"
        for attempt in range(self._max_retries + 1):
            await self._limiter.acquire()
            retry_after: float | None = None
            try:
                async with self._get(url, code, params) as response:
                    if response.status in (200, 404):
                        body = await self._read_capped(response, code)
                        try:
                            payload = json.loads(body) if body.strip() else None
                        except ValueError:
                            payload = None
                        outcome = envelope_status(payload)
                        if outcome == "found":
                            product = parse_product_response(code, payload)
                            if product is not None:
                                page = f"{response.url.scheme}://{response.url.host}"
                                page += f":{response.url.port}" if response.url.port not in (80, 443) else ""
                                return replace(product, page_url=f"{page}/product/{product.code}")
                        if outcome == "not_found" or (response.status == 404 and payload is None):
                            return None
                        if not body.strip():
                            last_problem = f"resposta vazia (HTTP {response.status} sem corpo)"
                        elif payload is None:
                            last_problem = f"resposta não é JSON (HTTP {response.status})"
                        else:
                            status = payload.get("status") if isinstance(payload, dict) else None
                            last_problem = f"resposta inesperada (HTTP {response.status}, status={status!r})"
                    elif response.status == 429 or response.status >= 500:
                        last_problem = f"HTTP {response.status}"
                        retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
                    else:
                        raise OffUnavailable(f"Open Food Facts respondeu HTTP {response.status} para {code}")
            except ImageRejected as exc:  # a redirect hop refused by the SSRF policy
                raise OffInvalidResponse(f"Open Food Facts: {exc}") from None
            except aiohttp.ClientConnectorError as exc:
                if isinstance(exc.__cause__, ImageRejected):
                    raise OffInvalidResponse(f"Open Food Facts: {exc.__cause__}") from None
                last_problem = f"{type(exc).__name__}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                last_problem = f"{type(exc).__name__}"
            if attempt < self._max_retries:
                delay = retry_after if retry_after is not None else self._backoff * 2**attempt
                delay *= 1 if retry_after is not None else random.uniform(0.8, 1.2)
                logger.bind(
                    stage="openfoodfacts", ean=code, attempt=attempt + 1, problem=last_problem
                ).warning("off_retry")
                await asyncio.sleep(delay)
        raise OffUnavailable(
            f"Open Food Facts indisponível para {code} após {self._max_retries + 1} tentativas"
            f" ({last_problem})"
        )

    @contextlib.asynccontextmanager
    async def _get(
        self, url: str, code: str, params: dict[str, str] | None
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """GET following at most MAX_REDIRECTS redirects, each hop checked by the SSRF policy
        (OFF's own v2 API redirects between its sister databases; nothing else should)."""
        current: str = url
        for _ in range(MAX_REDIRECTS + 1):
            async with self._session.get(
                current, params=params, headers=self._headers, timeout=self._timeout, allow_redirects=False
            ) as response:
                target = redirect_target(str(response.url), response, self._policy)
                if target is None:
                    yield response
                    return
            current, params = target, None
        raise OffInvalidResponse(f"Open Food Facts: redirecionamentos demais para {code}")

    async def _read_capped(self, response: aiohttp.ClientResponse, code: str) -> bytes:
        limit = self._max_body_bytes
        if response.content_length is not None and response.content_length > limit:
            raise OffInvalidResponse(
                f"Open Food Facts: resposta grande demais para {code} ({response.content_length} bytes,"
                f" limite {limit})"
            )
        body = bytearray()
        async for chunk in response.content.iter_chunked(64 * 1024):
            body.extend(chunk)
            if len(body) > limit:
                raise OffInvalidResponse(
                    f"Open Food Facts: resposta grande demais para {code} (mais de {limit} bytes)"
                )
        return bytes(body)
