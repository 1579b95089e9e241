"""BraveImageSearch against the Brave stand-in: the request Brave documents, throttling (Retry-After,
or Brave's X-RateLimit-* windows without it), the monthly quota, bad keys."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from worker.offline.search_server import WebPicture
from worker.offline.services import STANDIN_SEARCH_KEY, OfflineServices
from worker.stages.image_search import BraveImageSearch, SearchQuotaExhausted, SearchUnavailable


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


def brave(
    services: OfflineServices, session: aiohttp.ClientSession, key: str = STANDIN_SEARCH_KEY
) -> BraveImageSearch:
    return BraveImageSearch(
        session, api_key=key, base_url=services.search_base_url, max_retries=2, backoff_seconds=0.01
    )


async def test_the_request_and_the_hits(services: OfflineServices, session: aiohttp.ClientSession) -> None:
    assert services.search is not None
    services.search.add("nescau", WebPicture("7891000053508", 9, "packshot", 900, 900, "loja.exemplo.com.br"))
    hits = await brave(services, session).search_images("Nescau Achocolatado 400g embalagem", 8)
    [request] = services.search.requests
    assert request.token == STANDIN_SEARCH_KEY
    assert request.params == {
        "q": "Nescau Achocolatado 400g embalagem",
        "count": "8",
        "country": "BR",
        "search_lang": "pt-br",
        "safesearch": "strict",
        "spellcheck": "false",
    }
    assert hits[0].url.startswith(services.image_base_url + "/marked/7891000053508/")
    assert (
        hits[0].host == "loja.exemplo.com.br"
        and hits[0].page_url
        and hits[0].page_url.startswith("https://loja.")
    )
    assert (hits[0].width, hits[0].height) == (900, 900)
    assert (hits[0].thumbnail_width, hits[0].thumbnail_height) == (500, 500), "Brave's thumbnail size"


async def test_429_is_retried_after_the_time_brave_asks(
    services: OfflineServices, session: aiohttp.ClientSession
) -> None:
    assert services.search is not None
    services.search.faults = [429]
    services.search.retry_after = "1"
    started = time.monotonic()
    hits = await brave(services, session).search_images("qualquer coisa", 5)
    assert len(services.search.requests) == 2 and hits
    assert time.monotonic() - started >= 0.9, "Retry-After: 1 is waited out"


async def test_a_bad_key_or_a_persistent_5xx_is_unavailable(
    services: OfflineServices, session: aiohttp.ClientSession
) -> None:
    assert services.search is not None
    with pytest.raises(SearchUnavailable, match="HTTP 401"):
        await brave(services, session, key="chave-errada").search_images("x", 5)
    assert len(services.search.requests) == 1, "a refused key is not asked again"
    services.search.faults = [503, 503, 503]
    with pytest.raises(SearchUnavailable, match="HTTP 503"):
        await brave(services, session).search_images("x", 5)
    assert len(services.search.requests) == 4


async def test_a_429_without_retry_after_waits_for_the_per_second_window_to_reset(
    services: OfflineServices, session: aiohttp.ClientSession
) -> None:
    """Brave's 429 carries `X-RateLimit-Reset: 1, <month>` and no Retry-After: wait the second."""
    assert services.search is not None
    services.search.throttle_seconds = 1
    started = time.monotonic()
    hits = await brave(services, session).search_images("qualquer coisa", 5)
    assert hits and len(services.search.requests) == 2
    assert time.monotonic() - started >= 0.9, "the per-second window's reset (1 s) is waited out"


async def test_an_exhausted_monthly_quota_stops_searching_without_asking_again(
    services: OfflineServices, session: aiohttp.ClientSession
) -> None:
    assert services.search is not None
    services.search.month_remaining = 0
    search = brave(services, session)
    with pytest.raises(SearchQuotaExhausted) as first:
        await search.search_images("primeiro produto", 5)
    reason = str(first.value)
    assert "cota mensal" in reason and "IMAGE_SEARCH_API_KEY" in reason and "16 dia(s)" in reason, reason
    assert len(services.search.requests) == 1, "a used-up month is not retried"
    with pytest.raises(SearchQuotaExhausted):
        await search.search_images("segundo produto", 5)
    assert len(services.search.requests) == 1, "the next products do not ask again"
