"""The shared pace follows the providers' own rate-limit answers: the OpenAI stand-in enforces a
requests-per-minute bucket as OpenAI does (x-ratelimit-* headers, a 429 without Retry-After when
empty), and an answer saying a window is used up (OpenAI's `x-ratelimit-remaining-requests: 0`,
Brave's `X-RateLimit-Remaining: 0, …`) holds the host's next slot until it resets."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import openai
import pytest

from tests.integration.test_openai_standin_refuses_bad_requests import judge_body
from worker.offline.services import STANDIN_OPENAI_KEY, OfflineServices
from worker.ratelimit import HostRateLimiter
from worker.stages.image_search import BraveImageSearch
from worker.stages.openai_judge import new_openai_client, reset_seconds


async def test_the_openai_standin_answers_429_without_retry_after_once_the_minute_is_used_up(
    services: OfflineServices,
) -> None:
    services.openai.requests_per_minute = 3
    client = new_openai_client(STANDIN_OPENAI_KEY, services.openai_base_url, 10, max_retries=0)
    remaining = []
    for _ in range(3):
        raw = await client.chat.completions.with_raw_response.create(**judge_body())
        remaining.append(raw.headers["x-ratelimit-remaining-requests"])
        assert raw.headers["x-ratelimit-limit-requests"] == "3"
    with pytest.raises(openai.RateLimitError) as refused:
        await client.chat.completions.create(**judge_body())
    await client.close()

    assert remaining == ["2", "1", "0"]
    assert refused.value.code == "rate_limit_exceeded"
    assert "retry-after" not in refused.value.response.headers
    full = reset_seconds(refused.value.response.headers["x-ratelimit-reset-requests"])
    assert full is not None and 55 < full <= 60
    assert len(services.openai.rate_limited) == 1


def test_openai_reset_durations_are_read_as_openai_writes_them() -> None:
    assert reset_seconds("120ms") == pytest.approx(0.12)
    assert reset_seconds("1.5s") == pytest.approx(1.5)
    assert reset_seconds("6m0s") == pytest.approx(360)
    assert reset_seconds("soon") is None


async def test_openais_empty_bucket_holds_the_hosts_next_call_for_one_requests_worth(
    services: OfflineServices, tmp_path: Path
) -> None:
    services.openai.requests_per_minute = 2
    pacer = HostRateLimiter(tmp_path, "openai", 600_000)
    client = new_openai_client(STANDIN_OPENAI_KEY, services.openai_base_url, 10, 0, pacer)
    await client.chat.completions.create(**judge_body())
    assert pacer.reserve() - time.time() < 1  # one request left: no hold
    await client.chat.completions.create(**judge_body())
    await client.close()
    # The bucket refills 2 requests a minute: the next one is 30 s away.
    assert 25 < pacer.reserve() - time.time() <= 30


async def test_braves_used_up_second_holds_the_hosts_next_search_until_it_resets(
    services: OfflineServices, tmp_path: Path
) -> None:
    assert services.search is not None
    services.search.per_second = 1
    pacer = HostRateLimiter(tmp_path, "brave", 600_000)
    async with aiohttp.ClientSession() as session:
        brave = BraveImageSearch(
            session, api_key=services.search.api_key, base_url=services.search_base_url, pacer=pacer
        )
        started = time.time()
        await brave.search_images("café torrado", 5)
    # Held for the 1 s window from the answer's arrival (between `started` and now).
    hold = pacer.reserve()
    assert started + 0.99 <= hold <= time.time() + 1.0
