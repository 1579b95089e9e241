"""Stand-in for OpenAI's Chat Completions endpoint (`POST /v1/chat/completions`), on 127.0.0.1.

It speaks what the official SDK sends and expects: structured-output requests (`response_format`
json_schema), answers in the `chat.completion` shape with `usage` figures, errors in OpenAI's
`{"error": {...}}` envelope with `Retry-After` on 429.

It refuses what OpenAI refuses, so a wrong request fails our tests: every body is validated
against the SDK's own request type (`CompletionCreateParamsNonStreaming`, unknown keys forbidden
at every depth) and a bad one gets OpenAI's 400 (`invalid_request_error` with `param` and `code`
`unknown_parameter`, `missing_required_parameter`, `invalid_type` or `invalid_value`); a
parameter the model family does not take (temperature on o-series/gpt-5, reasoning_effort on
gpt-4.x) gets its 400 too, and a model only the Responses API serves gets the 404 OpenAI answers
on Chat Completions.

Decisions are deterministic and come from the picture it receives: it reads the mark the image
host draws into synthetic pictures (`marks.py`) and compares its GTIN with the EAN in the prompt.
Text-only requests for product attributes get a simple extraction of its own.

Usage figures model OpenAI's documented accounting: ~4 characters per text token, image tokens
by model family — 32-px patches × a per-model multiplier for the gpt-4.1/gpt-5 mini and nano
families and o4-mini, and base + tiles (512-px tiles after fitting 2048 and shrinking the short
side to 768) for gpt-4o, gpt-4o-mini (2,833 + 5,667 per tile), gpt-4.1, gpt-5 and o3.

Faults are scripted (`fail_next`): 429 with Retry-After, 429 without it (`rate_limit`), 429
`insufficient_quota` (no Retry-After: the account has no credit), 500, refusal, malformed JSON,
out-of-range confidence, `finish_reason` `length` (the JSON cut off) and `content_filter` (no
content), a slow answer. Every request is recorded (`calls`), refused ones too.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from aiohttp import web
from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming
from PIL import Image
from pydantic import ConfigDict, TypeAdapter, ValidationError, with_config

from worker.offline.marks import plain_background, read_mark
from worker.openai_models import responses_only

# 32-px patches × multiplier (at most 1,536 patches).
PATCH_MULTIPLIERS = {
    "gpt-4.1-mini": 1.62,
    "gpt-4.1-nano": 2.46,
    "gpt-5-mini": 1.62,
    "gpt-5-nano": 2.46,
    "o4-mini": 1.72,
}
# (base, per 512-px tile); `detail: low` costs the base only.
TILE_COSTS = {
    "gpt-4o-mini": (2833, 5667),
    "gpt-4o": (85, 170),
    "gpt-4.1": (85, 170),
    "gpt-5": (70, 140),
    "o3": (75, 150),
}
MAX_PATCHES = 1536
FAULT_KINDS = (
    "429",
    "rate_limit",
    "quota",
    "500",
    "refusal",
    "malformed",
    "out_of_range",
    "length",
    "content_filter",
    "slow",
)


def _family(model: str, table: dict[str, Any]) -> str | None:
    matches = [name for name in table if model.startswith(name)]
    return max(matches, key=len) if matches else None


def image_tokens(model: str, width: int, height: int, detail: str = "high") -> int:
    if (patch_family := _family(model, PATCH_MULTIPLIERS)) is not None:
        patches = math.ceil(width / 32) * math.ceil(height / 32)
        if patches > MAX_PATCHES:
            scale = math.sqrt(MAX_PATCHES * 32 * 32 / (width * height))
            patches = min(MAX_PATCHES, math.ceil(width * scale / 32) * math.ceil(height * scale / 32))
        return math.ceil(patches * PATCH_MULTIPLIERS[patch_family])
    base, per_tile = TILE_COSTS[_family(model, TILE_COSTS) or "gpt-4o"]
    if detail == "low":
        return base
    fit = min(1.0, 2048 / max(width, height))
    fitted_w, fitted_h = width * fit, height * fit
    shrink = min(1.0, 768 / min(fitted_w, fitted_h))
    return base + per_tile * math.ceil(fitted_w * shrink / 512) * math.ceil(fitted_h * shrink / 512)


def text_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


@dataclass
class RecordedCall:
    model: str
    schema: str | None
    text: str
    image: bytes | None
    image_size: tuple[int, int] | None
    detail: str | None
    tools: Any
    at: float
    status: int = 200


@dataclass
class Fault:
    kind: str
    ean: str | None = None


@dataclass
class OpenAIStandIn:
    retry_after: str = "1"
    slow_seconds: float = 5.0
    calls: list[RecordedCall] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    always: str | None = None  # a fault kind applied to every request
    app: web.Application = field(default_factory=web.Application)

    def __post_init__(self) -> None:
        self.app.router.add_post("/v1/chat/completions", self._completions)

    def fail_next(self, kind: str, times: int = 1, ean: str | None = None) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {FAULT_KINDS}")
        self.faults.extend(Fault(kind, ean) for _ in range(times))

    def judge_calls(self) -> list[RecordedCall]:
        return [c for c in self.calls if c.schema == "product_image_verdict"]

    def _take_fault(self, text: str) -> str | None:
        if self.always:
            return self.always
        for index, fault in enumerate(self.faults):
            if fault.ean is None or f"EAN: {fault.ean}" in text or fault.ean in text:
                del self.faults[index]
                return fault.kind
        return None

    async def _completions(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            body = None
        refused = refuse_request(body)
        if refused is not None:
            model = str(body.get("model")) if isinstance(body, dict) else ""
            self.calls.append(
                RecordedCall(model, None, "", None, None, None, None, time.time(), refused.status)
            )
            return refused
        model = str(body.get("model") or "")
        text, image, detail = _user_content(body.get("messages") or [])
        picture = Image.open(BytesIO(image)) if image else None
        schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("name")
        call = RecordedCall(
            model,
            schema,
            text,
            image,
            picture.size if picture else None,
            detail,
            body.get("tools"),
            time.time(),
        )
        self.calls.append(call)

        fault = self._take_fault(text)
        if fault == "429":
            call.status = 429
            return _error(429, "rate_limit_exceeded", "Rate limit reached", {"Retry-After": self.retry_after})
        if fault == "rate_limit":
            call.status = 429
            return _error(
                429, "rate_limit_exceeded", f"Rate limit reached for {model} on requests per min (RPM)."
            )
        if fault == "quota":
            call.status = 429
            return _error(429, "insufficient_quota", QUOTA_MESSAGE, kind="insufficient_quota")
        if fault == "500":
            call.status = 500
            return _error(500, "server_error", "The server had an error while processing your request.")
        if fault == "slow":
            await asyncio.sleep(self.slow_seconds)

        if schema == "product_image_verdict":
            answer: dict[str, Any] = _judge(text, picture)
        else:
            answer = _attributes(text)
        content: str | None = json.dumps(answer, ensure_ascii=False)
        refusal = None
        finish_reason = "stop"
        if fault == "refusal":
            content, refusal = None, "I'm sorry, I can't help with that request."
        elif fault in ("malformed", "length"):
            content = (content or "")[: len(content or "") // 2]
            finish_reason = "length" if fault == "length" else "stop"
        elif fault == "content_filter":
            content, finish_reason = None, "content_filter"
        elif fault == "out_of_range":
            content = json.dumps({**answer, "confidence": 1.7}) if "confidence" in answer else "{}"

        system = [m for m in body.get("messages") or [] if m.get("role") != "user"]
        prompt_tokens = sum(text_tokens(str(m.get("content"))) + 4 for m in system) + text_tokens(text) + 4
        if picture is not None:
            prompt_tokens += image_tokens(model, picture.width, picture.height, detail or "high")
        completion_tokens = text_tokens(content or refusal or "")
        return web.json_response(
            {
                "id": f"chatcmpl-standin-{len(self.calls)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": refusal},
                        "finish_reason": finish_reason,
                        "logprobs": None,
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                    "prompt_tokens_details": {"cached_tokens": 0},
                    "completion_tokens_details": {"reasoning_tokens": 0},
                },
            }
        )


def _user_content(messages: list[dict[str, Any]]) -> tuple[str, bytes | None, str | None]:
    texts: list[str] = []
    image: bytes | None = None
    detail: str | None = None
    for message in messages:
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
            continue
        for part in content or []:
            if part.get("type") == "text":
                texts.append(str(part.get("text")))
            elif part.get("type") == "image_url":
                url = str((part.get("image_url") or {}).get("url") or "")
                detail = (part.get("image_url") or {}).get("detail")
                if url.startswith("data:image/") and ";base64," in url:
                    image = base64.b64decode(url.split(";base64,", 1)[1])
    return "\n".join(texts), image, detail


def _judge(text: str, picture: Image.Image | None) -> dict[str, Any]:
    ean_match = re.search(r"EAN: (\d+)", text)
    ean = ean_match.group(1).lstrip("0") if ean_match else ""
    mark = read_mark(picture) if picture is not None else None
    packshot = picture is not None and plain_background(picture)
    if mark is None:
        return {
            "match": False,
            "confidence": 0.5,
            "reason": "Não dá para confirmar o produto pela imagem.",
            "packshot": packshot,
        }
    if mark.code == ean:
        return {
            "match": True,
            "confidence": mark.confidence,
            "reason": f"A embalagem mostra o produto do EAN {mark.code}.",
            "packshot": packshot,
        }
    return {
        "match": False,
        "confidence": 0.9,
        "reason": f"A embalagem é de outro produto (EAN {mark.code}).",
        "packshot": packshot,
    }


_SIZE = re.compile(r"\b\d+(?:[.,]\d+)?\s?(?:kg|g|mg|ml|l)\b", re.IGNORECASE)


def _attributes(text: str) -> dict[str, Any]:
    name = re.search(r"nome: (.*)", text)
    brand = re.search(r"marca: (.*)", text)
    product = name.group(1).strip() if name else ""
    size = _SIZE.search(product)
    brand_text = brand.group(1).strip() if brand else ""
    return {
        "brand": None if brand_text.startswith("(") else brand_text,
        "product": _SIZE.sub("", product).strip(" -,") or None,
        "flavour": None,
        "size": size.group(0).replace(" ", "") if size else None,
    }


QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more"
    " information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors."
)


def _error(
    status: int,
    code: str | None,
    message: str,
    headers: dict[str, str] | None = None,
    *,
    kind: str | None = None,
    param: str | None = None,
) -> web.Response:
    if kind is None:
        kind = {400: "invalid_request_error", 404: "invalid_request_error", 429: "rate_limit_error"}.get(
            status, "server_error"
        )
    return web.json_response(
        {"error": {"message": message, "type": kind, "param": param, "code": code}},
        status=status,
        headers=headers or {},
    )


@with_config(ConfigDict(extra="forbid", strict=True))
class _StrictCompletionParams(CompletionCreateParamsNonStreaming):
    """The SDK's request type with unknown keys refused at every depth (pydantic ignores them in a
    TypedDict by default; the config reaches the nested TypedDicts that have none of their own),
    strict like OpenAI (`"300"` is not an integer)."""


_REQUEST = TypeAdapter(_StrictCompletionParams)


class _Invalid(Exception):
    def __init__(self, errors: list[Mapping[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors


def refuse_request(body: Any) -> web.Response | None:
    """OpenAI's answer to a request it refuses, or None for a valid one."""
    if not isinstance(body, dict):
        return _error(
            400,
            None,
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using"
            " your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was"
            " not valid JSON.)",
        )
    try:
        _materialise(_REQUEST.validate_python(body), ())
    except ValidationError as exc:
        return _invalid_body(exc.errors(), body)
    except _Invalid as exc:
        return _invalid_body(exc.errors, body)
    model = str(body["model"])
    if responses_only(model):
        return _error(
            404,
            None,
            "This model is only supported in v1/responses and not in v1/chat/completions.",
            param="model",
        )
    return _refuse_for_model(model.lower(), body)


# The reasoning models (o-series, gpt-5/-mini/-nano) take no temperature but the default and no
# max_tokens; the older chat models take no reasoning_effort (OpenAI's 400s for these, as users
# report them). The judge's `sampling_options` must follow both rules.
_FIXED_TEMPERATURE = re.compile(r"^(?:o[134](?:-mini)?|gpt-5(?:-mini|-nano)?)(?:-\d{4}-\d{2}-\d{2})?$")
_NO_REASONING = ("gpt-4", "gpt-3.5", "chatgpt-4o")


def _refuse_for_model(model: str, body: dict[str, Any]) -> web.Response | None:
    if _FIXED_TEMPERATURE.match(model):
        if body.get("temperature") not in (None, 1):
            return _error(
                400,
                "unsupported_value",
                f"Unsupported value: 'temperature' does not support {body['temperature']} with this model."
                " Only the default (1) value is supported.",
                param="temperature",
            )
        if "max_tokens" in body:
            return _error(
                400,
                "unsupported_parameter",
                "Unsupported parameter: 'max_tokens' is not supported with this model."
                " Use 'max_completion_tokens' instead.",
                param="max_tokens",
            )
    if model.startswith(_NO_REASONING) and "reasoning_effort" in body:
        return _error(
            400,
            "unsupported_parameter",
            "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
            param="reasoning_effort",
        )
    return None


def _materialise(value: Any, loc: tuple[int | str, ...]) -> Any:
    """Walks the validated body. The SDK types many lists as `Iterable[...]`, which pydantic
    validates lazily, item by item as they are read: read them all, so every item is checked."""
    if isinstance(value, Mapping):
        return {key: _materialise(item, (*loc, key)) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_materialise(item, (*loc, n)) for n, item in enumerate(value)]
    if isinstance(value, Iterator):
        items: list[Any] = []
        try:
            for item in value:
                items.append(_materialise(item, (*loc, len(items))))
        except ValidationError as exc:
            raise _Invalid([{**error, "loc": (*loc, *error["loc"])} for error in exc.errors()]) from None
        return items
    return value


def _param(loc: tuple[int | str, ...], body: Any) -> tuple[str, Any]:
    """`messages[1].content[0].image_url.detail` and the value found there. Segments that are not
    in the body (pydantic's union-branch labels such as `ChatCompletionUserMessageParam`) drop out."""
    path, value = "", body
    for segment in loc:
        if isinstance(value, dict) and segment in value:
            path, value = (f"{path}.{segment}" if path else str(segment)), value[segment]
        elif isinstance(value, list) and isinstance(segment, int) and segment < len(value):
            path, value = f"{path}[{segment}]", value[segment]
        elif isinstance(segment, str) and not _is_branch_label(segment):
            return (f"{path}.{segment}" if path else segment), None  # a key that is not there
    return path, value


def _is_branch_label(segment: str) -> bool:
    return segment[:1].isupper() or "[" in segment or segment in ("str", "int", "float", "bool", "none")


def _invalid_body(errors: Sequence[Mapping[str, Any]], body: Any) -> web.Response:
    # A union (a message, a content part, response_format) fails in every branch; the branch
    # meant is the one whose `role`/`type` matched, so errors from the others are dropped.
    wrong_branches = [
        e["loc"][:-1] for e in errors if e["type"] == "literal_error" and e["loc"][-1] in ("role", "type")
    ]
    meant = [e for e in errors if not any(e["loc"][: len(b)] == b for b in wrong_branches if b)]
    error = max(meant, key=lambda e: len(e["loc"])) if meant else errors[0]
    param, value = _param(error["loc"], body)
    if error["type"] == "extra_forbidden":
        return _error(400, "unknown_parameter", f"Unknown parameter: '{param}'.", param=param)
    if error["type"] == "missing":
        return _error(
            400, "missing_required_parameter", f"Missing required parameter: '{param}'.", param=param
        )
    if error["type"] in ("literal_error", "enum"):
        # Every branch's allowed values for this field (a message's role: one per message type).
        expected = [
            str((e.get("ctx") or {}).get("expected", ""))
            for e in errors
            if e["type"] == error["type"] and _param(e["loc"], body)[0] == param
        ]
        return _error(
            400,
            "invalid_value",
            f"Invalid value: '{value}'. Supported values are: {', '.join(dict.fromkeys(expected))}.",
            param=param,
        )
    wanted = next((words for prefix, words in _EXPECTED if error["type"].startswith(prefix)), "another type")
    return _error(
        400,
        "invalid_type",
        f"Invalid type for '{param}': expected {wanted},"
        f" but got {_JSON_KIND.get(type(value), 'a value')} instead.",
        param=param,
    )


_EXPECTED = (
    ("float", "a decimal"),
    ("int", "an integer"),
    ("string", "a string"),
    ("bool", "a boolean"),
    ("dict", "an object"),
    ("list", "an array"),
    ("iterable", "an array"),
)
_JSON_KIND = {
    str: "a string",
    int: "an integer",
    float: "a decimal",
    bool: "a boolean",
    dict: "an object",
    list: "an array",
    type(None): "null",
}
