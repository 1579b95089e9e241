"""The OpenAI stand-in refuses what OpenAI refuses, so a wrong request from the worker fails our
tests: bodies are validated against the SDK's own request type (unknown keys at any depth, wrong
types, missing required fields, values outside a Literal), with OpenAI's 400 error shape, and a
Responses-only model gets the 404 Chat Completions gives it."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from io import BytesIO
from typing import Any

import aiohttp
import openai
import pytest
from PIL import Image

from worker.offline.services import STANDIN_OPENAI_KEY, OfflineServices
from worker.stages.openai_judge import JUDGE_RESPONSE_FORMAT, OpenAIJudge, ProductFacts, new_openai_client


def judge_body() -> dict[str, Any]:
    """A body of the judge's shape (system prompt, text + inline picture, strict JSON schema)."""
    picture = BytesIO()
    Image.new("RGB", (8, 8), "white").save(picture, format="JPEG")
    url = "data:image/jpeg;base64," + base64.b64encode(picture.getvalue()).decode()
    return {
        "model": "gpt-4.1-mini",
        "messages": [
            {"role": "system", "content": "Judge the picture."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "EAN: 5601077161035"},
                    {"type": "image_url", "image_url": {"url": url, "detail": "high"}},
                ],
            },
        ],
        "response_format": JUDGE_RESPONSE_FORMAT,
        "temperature": 0,
        "max_completion_tokens": 300,
    }


@pytest.fixture
async def post(services: OfflineServices) -> AsyncIterator[Any]:
    async with aiohttp.ClientSession() as http:

        async def send(body: Any) -> tuple[int, dict[str, Any]]:
            async with http.post(
                services.openai_base_url + "/chat/completions",
                json=body,
                headers={"Authorization": f"Bearer {STANDIN_OPENAI_KEY}"},
            ) as response:
                return response.status, await response.json()

        yield send


def with_user_part(part: dict[str, Any]) -> dict[str, Any]:
    body = judge_body()
    body["messages"][1]["content"][1] = part
    return body


BAD_BODIES = {
    "misspelled parameter": (
        {**judge_body(), "temprature": 0},
        "unknown_parameter",
        "temprature",
    ),
    "unknown key deep inside a message": (
        with_user_part({"type": "image_url", "image_url": {"url": "data:,", "detal": "high"}}),
        "unknown_parameter",
        "messages[1].content[1].image_url.detal",
    ),
    "wrong type inside the JSON schema format": (
        {
            **judge_body(),
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "strict": 1}},
        },
        "invalid_type",
        "response_format.json_schema.strict",
    ),
    "wrong type": ({**judge_body(), "max_completion_tokens": "300"}, "invalid_type", "max_completion_tokens"),
    "missing required field": (
        {k: v for k, v in judge_body().items() if k != "messages"},
        "missing_required_parameter",
        "messages",
    ),
    "value outside the allowed ones": (
        with_user_part({"type": "image_url", "image_url": {"url": "data:,", "detail": "huge"}}),
        "invalid_value",
        "messages[1].content[1].image_url.detail",
    ),
    "unknown role": (
        {**judge_body(), "messages": [{"role": "usr", "content": "x"}]},
        "invalid_value",
        "messages[0].role",
    ),
}


async def test_the_judges_body_is_accepted(post: Any) -> None:
    status, answer = await post(judge_body())
    assert status == 200, answer
    assert answer["object"] == "chat.completion"


@pytest.mark.parametrize("case", BAD_BODIES, ids=list(BAD_BODIES))
async def test_a_bad_body_gets_openais_400(post: Any, services: OfflineServices, case: str) -> None:
    body, code, param = BAD_BODIES[case]
    status, answer = await post(body)
    assert status == 400, answer
    assert answer["error"]["type"] == "invalid_request_error"
    assert (answer["error"]["code"], answer["error"]["param"]) == (code, param), answer
    assert param in answer["error"]["message"] or code == "invalid_value"
    assert services.openai.calls[-1].status == 400, "refused requests are recorded too"
    assert services.openai.judge_calls() == [], "and never answered"


async def test_a_body_that_is_not_json_gets_openais_400(services: OfflineServices) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(services.openai_base_url + "/chat/completions", data=b"{not json") as response,
    ):
        assert response.status == 400
        error = (await response.json())["error"]
    assert error["type"] == "invalid_request_error" and "could not parse the JSON body" in error["message"]


@pytest.mark.parametrize("model", ["gpt-5-pro", "o3-pro", "o1-pro", "codex-mini-latest", "o3-deep-research"])
async def test_a_responses_only_model_gets_the_404_chat_completions_gives(post: Any, model: str) -> None:
    status, answer = await post({**judge_body(), "model": model})
    assert status == 404
    assert answer["error"] == {
        "message": "This model is only supported in v1/responses and not in v1/chat/completions.",
        "type": "invalid_request_error",
        "param": "model",
        "code": None,
    }


async def test_the_sdk_raises_bad_request_for_a_wrong_parameter(services: OfflineServices) -> None:
    """What the worker would see if it sent a wrong request: the SDK's BadRequestError, not a verdict."""
    client = new_openai_client(STANDIN_OPENAI_KEY, services.openai_base_url, 5, 0)
    try:
        with pytest.raises(openai.BadRequestError) as error:
            await client.chat.completions.create(
                model="gpt-4.1-mini",
                messages=[{"role": "user", "content": "oi"}],
                extra_body={"reasoning_efort": "low"},
            )
        assert error.value.code == "unknown_parameter" and error.value.param == "reasoning_efort"
    finally:
        await client.close()
    assert services.openai.calls[-1].status == 400


FAMILY_RULES = {
    "temperature on a reasoning model": (
        {"model": "gpt-5-mini", "temperature": 0},
        "unsupported_value",
        "temperature",
    ),
    "max_tokens on a reasoning model": (
        {"model": "o4-mini", "max_tokens": 300},
        "unsupported_parameter",
        "max_tokens",
    ),
    "reasoning_effort on a chat model": (
        {"model": "gpt-4.1-mini", "reasoning_effort": "low"},
        "unsupported_parameter",
        "reasoning_effort",
    ),
}


@pytest.mark.parametrize("case", FAMILY_RULES, ids=list(FAMILY_RULES))
async def test_a_parameter_the_model_does_not_take_gets_openais_400(post: Any, case: str) -> None:
    change, code, param = FAMILY_RULES[case]
    body = {k: v for k, v in judge_body().items() if k != "temperature"} | change
    status, answer = await post(body)
    assert status == 400, answer
    assert (answer["error"]["code"], answer["error"]["param"]) == (code, param), answer


@pytest.mark.parametrize(
    "model", ["gpt-4.1-mini", "gpt-4.1-nano", "gpt-4o-mini", "gpt-5-mini", "gpt-5-nano", "o4-mini"]
)
async def test_the_judge_request_for_each_model_family_is_accepted(
    services: OfflineServices, model: str
) -> None:
    """The judge's own request (sampling options chosen per family) passes the stand-in's checks."""
    picture = BytesIO()
    Image.new("RGB", (64, 64), "white").save(picture, format="JPEG")
    client = new_openai_client(STANDIN_OPENAI_KEY, services.openai_base_url, 5, 0)
    try:
        judgement = await OpenAIJudge(client, model).score_image_with_openai(
            ProductFacts("p1", "Produto", "Marca", "5601077161035"), picture.getvalue()
        )
    finally:
        await client.close()
    assert [c.status for c in services.openai.calls] == [200]
    assert judgement.verdict is not None and judgement.problem is None
