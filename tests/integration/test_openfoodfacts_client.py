"""OpenFoodFactsClient against the OFF stand-in: User-Agent, not found, throttling, faults."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from worker.images import FetchPolicy, guarded_session
from worker.offline.services import OfflineServices
from worker.ratelimit import HostRateLimiter
from worker.stages.openfoodfacts import OffInvalidResponse, OffUnavailable, OpenFoodFactsClient

UA = "Imagefill/0.1 (testes@example.com)"


@pytest.fixture
async def off_client(services: OfflineServices, tmp_path: Path) -> AsyncIterator[OpenFoodFactsClient]:
    policy = FetchPolicy.from_allow_list("127.0.0.1")  # the stand-ins, as the workers allow them
    async with guarded_session(policy) as session:
        yield OpenFoodFactsClient(
            session,
            base_url=services.off_base_url,
            user_agent=UA,
            limiter=HostRateLimiter(tmp_path, "off", 60_000),
            timeout_seconds=2,
            max_retries=2,
            backoff_base_seconds=0.01,
            policy=policy,
        )


async def test_found_product_and_user_agent(
    off_client: OpenFoodFactsClient, services: OfflineServices
) -> None:
    product = await off_client.fetch_from_open_food_facts("5601077161035")
    assert product is not None and product.name == "Special reserve porto"
    assert product.candidates[0].url.startswith(services.image_base_url)
    assert services.off is not None
    assert services.off.requests_for("5601077161035")[0].user_agent == UA


async def test_not_found_is_an_answer(off_client: OpenFoodFactsClient) -> None:
    assert await off_client.fetch_from_open_food_facts("7894900011517") is None


async def test_429_then_success_honours_retry_after(
    off_client: OpenFoodFactsClient, services: OfflineServices
) -> None:
    assert services.off is not None
    services.off.fail_next("22007377", 429, times=1, retry_after="1")
    services.off.fail_next("22007377", 503, times=1)
    started = time.monotonic()
    product = await off_client.fetch_from_open_food_facts("22007377")
    assert product is not None
    assert len(services.off.requests_for("22007377")) == 3
    assert time.monotonic() - started >= 0.9, "Retry-After: 1 must be waited out"


async def test_persistent_500_raises_off_unavailable(
    off_client: OpenFoodFactsClient, services: OfflineServices
) -> None:
    assert services.off is not None
    services.off.always_fail["22007377"] = 500
    with pytest.raises(OffUnavailable, match="HTTP 500"):
        await off_client.fetch_from_open_food_facts("22007377")
    assert len(services.off.requests_for("22007377")) == 3


@pytest.mark.parametrize("bad", ["", "abc", "123", "7894900011517; drop table", "../../etc/passwd"])
async def test_invalid_ean_is_refused_before_any_request(off_client: OpenFoodFactsClient, bad: str) -> None:
    with pytest.raises(ValueError, match="EAN inválido"):
        await off_client.fetch_from_open_food_facts(bad)


async def test_sister_databases_answer_through_product_type_all(
    off_client: OpenFoodFactsClient, services: OfflineServices
) -> None:
    """A shampoo lives on Open Beauty Facts: the v2 redirect is followed, one rate-limit slot."""
    assert services.off is not None
    services.off.add_sister_product(
        "7891150027374", based_on="22007377", product_name="Shampoo Seda Ceramidas", brands="Seda"
    )
    product = await off_client.fetch_from_open_food_facts("7891150027374")
    assert product is not None and product.name == "Shampoo Seda Ceramidas"
    assert product.page_url == f"{services.off_base_url}/product/7891150027374"
    assert len(services.off.requests_for("7891150027374")) == 1


@pytest.mark.parametrize(
    "body",
    [{"status": 2, "status_verbose": "?"}, {"status": "failure"}, {"status": 1}, {"product": {}}, []],
    ids=["status-2", "v3-style", "found-without-product", "no-status", "not-an-object"],
)
async def test_an_unknown_envelope_is_a_fault_not_a_missing_product(
    off_client: OpenFoodFactsClient, services: OfflineServices, body: object
) -> None:
    assert services.off is not None
    services.off.odd_envelopes["5601077161035"] = body
    with pytest.raises(OffUnavailable, match="resposta inesperada"):
        await off_client.fetch_from_open_food_facts("5601077161035")
    assert len(services.off.requests_for("5601077161035")) == 3, "retried like any other fault"


async def test_an_empty_200_is_a_fault_not_a_missing_product(
    off_client: OpenFoodFactsClient, services: OfflineServices
) -> None:
    assert services.off is not None
    services.off.raw["22007377"] = (200, b"", {"Content-Type": "application/json"})
    with pytest.raises(OffUnavailable, match="resposta vazia"):
        await off_client.fetch_from_open_food_facts("22007377")
    assert len(services.off.requests_for("22007377")) == 3, "retried like any other fault"


async def test_wrong_typed_fields_give_one_short_reason(
    off_client: OpenFoodFactsClient, services: OfflineServices
) -> None:
    assert services.off is not None
    body = json.dumps({"status": 1, "code": "22007377", "product": {"product_name": ["não", "texto"]}})
    services.off.raw["22007377"] = (200, body.encode(), {"Content-Type": "application/json"})
    with pytest.raises(OffInvalidResponse) as caught:
        await off_client.fetch_from_open_food_facts("22007377")
    message = str(caught.value)
    assert "\n" not in message and len(message) < 200 and "product_name" in message, message
    assert "formato inesperado" in message


async def test_oversized_answers_are_cut_off(
    off_client: OpenFoodFactsClient, services: OfflineServices
) -> None:
    assert services.off is not None
    huge = b'{"status": 1, "product": {"product_name": "' + b"x" * (3 * 1024 * 1024) + b'"}}'
    services.off.raw["22007377"] = (200, huge, {"Content-Type": "application/json"})
    with pytest.raises(OffInvalidResponse, match="grande demais"):
        await off_client.fetch_from_open_food_facts("22007377")


@pytest.mark.parametrize(
    "location",
    [
        "http://localhost:9/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://2130706433/",
    ],
)
async def test_redirects_to_internal_addresses_are_refused(
    services: OfflineServices, tmp_path: Path, location: str
) -> None:
    """The OFF client follows redirects hop by hop through the same SSRF policy as downloads."""
    assert services.off is not None
    services.off.raw["22007377"] = (302, b"", {"Location": location})
    policy = FetchPolicy.from_allow_list("127.0.0.1")
    async with guarded_session(policy) as session:
        client = OpenFoodFactsClient(
            session,
            base_url=services.off_base_url,
            user_agent=UA,
            limiter=HostRateLimiter(tmp_path, "off", 60_000),
            max_retries=0,
            policy=policy,
        )
        with pytest.raises(OffInvalidResponse, match=r"bloqueado|não canônico"):
            await client.fetch_from_open_food_facts("22007377")


async def test_the_stand_in_answers_only_the_fields_asked_for_as_off_does(services: OfflineServices) -> None:
    """The client reads its product from an answer cut to `fields=` (as real OFF cuts it, a few KB
    instead of the whole product), so it never depends on a field it did not ask for."""
    import aiohttp

    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{services.off_base_url}/api/v2/product/5601077161035", params={"fields": "code,product_name"}
        ) as response,
    ):
        answer = await response.json()
    assert answer["status"] == 1 and set(answer["product"]) == {"code", "product_name"}
