"""Stage 2 (and the ranking half of stage 3): OpenAI judges whether a picture is the product.

The judge sees only what we send: the product's name, brand and EAN, what Open Food Facts says
about that EAN, and the picture itself, downscaled to ~512 px and inlined as a base64 data URL.
It never browses: no tools, no URLs. Its answer is structured output (JSON schema, strict) parsed
into `Verdict`. Every fault (refusal, content filter, malformed, cut-off or out-of-range output,
timeout, 429, 5xx) but one (below) ends in "no verdict" with the reason, never in an exception and
never in an approval: the pipeline then moves on to the next stage or to review.

Retries: the SDK retries 429/5xx/timeouts itself (`OPENAI_MAX_RETRIES`, honouring `Retry-After`,
its own backoff without one); we resample once after malformed, out-of-range or cut-off
(`finish_reason: length`) output (a new sample can fix that); a refusal, the content filter or a
4xx other than 429 is not retried (asking again gets the same answer).

One fault is not "no verdict": an account without credit (429 `insufficient_quota`). Every
product would fail the same way until someone pays, so it is not retried (the SDK is told so),
the judge stops calling for `QUOTA_PAUSE_SECONDS`, and `OpenAIQuotaExhausted` fails the job at
once with a reason naming OPENAI_API_KEY (a backfill runs it again once billing is fixed).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any, Protocol

import openai
from loguru import logger
from PIL import Image
from pydantic import BaseModel, Field, ValidationError

from worker.costs import Usage
from worker.images import NormalizedImage

JUDGE_IMAGE_SIDE = 512
JUDGE_JPEG_QUALITY = 85
# Part of the cache key: a new prompt must not reuse answers given to the old one.
PROMPT_VERSION = "judge-2026-11-28"
MALFORMED_RESAMPLES = 1
# After an `insufficient_quota` answer, calls wait this long before trying again.
QUOTA_PAUSE_SECONDS = 60.0
QUOTA_PROBLEM = (
    "OpenAI sem crédito (429 insufficient_quota): a conta da OPENAI_API_KEY esgotou a cota;"
    " verifique o plano e o faturamento em platform.openai.com e rode o produto de novo"
)

SYSTEM_PROMPT = (
    "You check product pictures for a supermarket planogram. Decide whether the picture shows exactly "
    "the catalogue product described (same brand, product, variant/flavour and size when visible). "
    "Use only the text and the picture you are given. "
    "match: true only if the picture shows this product. "
    "confidence: 0 to 1, how sure you are of your match decision being right for THIS product. "
    "packshot: true only if the picture shows the whole package from the front, on its own, on a "
    "plain background (no hand, shelf, collage, price tag or lifestyle scene). "
    "reason: one short sentence in Brazilian Portuguese (at most 200 characters) saying what you saw."
)

# Strict structured output: every field required, nothing else allowed. Ranges are checked by
# `Verdict` after parsing (out-of-range output is a fault, not an approval).
JUDGE_RESPONSE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {
        "name": "product_image_verdict",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "match": {"type": "boolean"},
                "confidence": {"type": "number"},
                "reason": {"type": "string"},
                "packshot": {"type": "boolean"},
            },
            "required": ["match", "confidence", "reason", "packshot"],
            "additionalProperties": False,
        },
    },
}


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
    packshot: bool | None = None
    brand: str | None = None
    flavour: str | None = None
    size: str | None = None
    search_queries: list[str] = Field(default_factory=list, max_length=3)


@dataclass
class Judgement:
    """A verdict, or the reason there is none, and what the calls cost."""

    verdict: Verdict | None
    problem: str | None = None
    usage: list[Usage] = field(default_factory=list)
    cached: bool = False


class ImageJudge(Protocol):
    model: str

    async def validate(
        self, product: ProductFacts, image: NormalizedImage, evidence: dict[str, str | None]
    ) -> Judgement: ...


def facts_key(product: ProductFacts, evidence: dict[str, str | None]) -> str:
    """The 'product' part of the verdict cache key: everything the judge is told besides the picture."""
    payload = json.dumps(
        [PROMPT_VERSION, product.product_id, product.name, product.brand, product.gtin, evidence],
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def downscale_for_judge(image_bytes: bytes, side: int = JUDGE_IMAGE_SIDE) -> tuple[bytes, int, int]:
    """Longest side at most `side` px, JPEG: what the judge needs to read a label, and what keeps
    the image-token bill small (OpenAI counts image tokens by pixel area)."""
    with Image.open(BytesIO(image_bytes)) as opened:
        if opened.format == "JPEG" and max(opened.size) <= side:
            return image_bytes, opened.width, opened.height  # already the judge's copy
        picture = opened.convert("RGB")
    picture.thumbnail((side, side), Image.Resampling.LANCZOS)
    out = BytesIO()
    picture.save(out, format="JPEG", quality=JUDGE_JPEG_QUALITY, optimize=True)
    return out.getvalue(), picture.width, picture.height


def describe_product(product: ProductFacts, evidence: dict[str, str | None]) -> str:
    lines = [
        "Produto do catálogo:",
        f"- nome: {product.name or '(sem nome)'}",
        f"- marca: {product.brand or '(sem marca)'}",
        f"- EAN: {product.gtin or '(sem EAN)'}",
    ]
    if any(evidence.get(key) for key in ("name", "brands", "quantity")):
        lines += [
            "Open Food Facts, para este EAN:",
            f"- nome: {evidence.get('name') or '—'}",
            f"- marcas: {evidence.get('brands') or '—'}",
            f"- quantidade: {evidence.get('quantity') or '—'}",
        ]
    else:
        lines.append("Open Food Facts: sem dados para este EAN.")
    lines.append("A imagem a avaliar vem a seguir.")
    return "\n".join(lines)


def is_reasoning_model(model: str) -> bool:
    return model.startswith(("gpt-5", "o1", "o3", "o4"))


def sampling_options(model: str) -> dict[str, Any]:
    """Reasoning models take no temperature and spend output tokens thinking; others answer at 0."""
    if is_reasoning_model(model):
        return {"reasoning_effort": "low", "max_completion_tokens": 2000}
    return {"temperature": 0, "max_completion_tokens": 300}


def usage_of(model: str, purpose: str, completion: Any) -> Usage:
    usage = getattr(completion, "usage", None)
    return Usage(
        model=model,
        purpose=purpose,
        input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
    )


class OpenAIQuotaExhausted(Exception):
    """The account behind OPENAI_API_KEY has no credit: retrying cannot help until someone pays."""


def is_quota_error(exc: BaseException) -> bool:
    return isinstance(exc, openai.RateLimitError) and (
        exc.code == "insufficient_quota" or exc.type == "insufficient_quota"
    )


async def _quota_is_final(response: Any) -> None:
    """A 429 `insufficient_quota` is no rate limit: the SDK would retry it like one
    (`OPENAI_MAX_RETRIES` more calls per product). `x-should-retry: false` is the SDK's own
    signal, which it obeys before its status-code rules. `response`: the SDK's httpx Response."""
    if response.status_code == 429:
        await response.aread()
        if b"insufficient_quota" in response.content:
            response.headers["x-should-retry"] = "false"


def new_openai_client(
    api_key: str, base_url: str | None, timeout: float, max_retries: int
) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        api_key=api_key,
        base_url=base_url,
        timeout=timeout,
        max_retries=max_retries,
        http_client=openai.DefaultAsyncHttpxClient(event_hooks={"response": [_quota_is_final]}),
    )


def api_problem(exc: openai.OpenAIError) -> str:
    """What went wrong, for the audit trail (pt-BR; never the key, never the request body)."""
    if isinstance(exc, openai.APITimeoutError):
        return "OpenAI: tempo esgotado"
    if isinstance(exc, openai.APIConnectionError):
        return "OpenAI: sem conexão"
    if is_quota_error(exc):
        return QUOTA_PROBLEM
    if isinstance(exc, openai.RateLimitError):
        return "OpenAI: limite de uso atingido (HTTP 429)"
    if isinstance(exc, openai.APIStatusError):
        return f"OpenAI respondeu HTTP {exc.status_code}"
    return f"OpenAI: {type(exc).__name__}"


class OpenAIJudge:
    def __init__(self, client: openai.AsyncOpenAI, model: str, *, detail: str = "high") -> None:
        self._client = client
        self.model = model
        self._detail = detail
        self._quota_pause_until = 0.0

    async def validate(
        self, product: ProductFacts, image: NormalizedImage, evidence: dict[str, str | None]
    ) -> Judgement:
        # The image pool made the judge's copy in the same pass as the stored image.
        return await self.score_image_with_openai(
            product, image.main_jpeg, evidence, downscaled=image.judge_jpeg or None
        )

    async def score_image_with_openai(
        self,
        product: ProductFacts,
        image_bytes: bytes,
        evidence: dict[str, str | None] | None = None,
        *,
        downscaled: bytes | None = None,
    ) -> Judgement:
        """The seed's `scoreImageWithOpenAI`: one verdict for one picture, or the reason there is none.
        `downscaled`: the picture already at most JUDGE_IMAGE_SIDE px (skips decoding it again)."""
        if downscaled is not None:
            jpeg = downscaled
        else:
            jpeg, _, _ = await asyncio.to_thread(downscale_for_judge, image_bytes)  # CPU work off the loop
        data_url = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
        messages: list[Any] = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": describe_product(product, evidence or {})},
                    {"type": "image_url", "image_url": {"url": data_url, "detail": self._detail}},
                ],
            },
        ]
        judgement = Judgement(verdict=None)
        for _ in range(1 + MALFORMED_RESAMPLES):
            if time.monotonic() < self._quota_pause_until:
                raise OpenAIQuotaExhausted(QUOTA_PROBLEM)
            try:
                completion = await self._client.chat.completions.create(  # type: ignore[call-overload]
                    model=self.model,
                    messages=messages,
                    response_format=JUDGE_RESPONSE_FORMAT,
                    **sampling_options(self.model),
                )
            except openai.OpenAIError as exc:
                if is_quota_error(exc):
                    self._quota_pause_until = time.monotonic() + QUOTA_PAUSE_SECONDS
                    logger.bind(stage="openai_judge", product_id=product.product_id).error(
                        "openai_quota_exhausted"
                    )
                    raise OpenAIQuotaExhausted(QUOTA_PROBLEM) from None
                judgement.problem = api_problem(exc)
                break
            judgement.usage.append(usage_of(self.model, "judge", completion))
            verdict, problem, resample = parse_verdict(completion)
            judgement.verdict, judgement.problem = verdict, problem
            if not resample:
                break
        if judgement.verdict is None:
            logger.bind(
                stage="openai_judge", product_id=product.product_id, problem=judgement.problem
            ).warning("no_verdict")
        return judgement


def parse_verdict(completion: Any) -> tuple[Verdict | None, str | None, bool]:
    """(verdict, problem, worth resampling)."""
    choices = getattr(completion, "choices", None) or []
    if not choices:
        return None, "OpenAI: resposta sem conteúdo", True
    choice = choices[0]
    message = choice.message
    if getattr(message, "refusal", None):
        return None, f"OpenAI recusou avaliar: {str(message.refusal)[:200]}", False
    if choice.finish_reason == "content_filter":
        return None, "OpenAI: resposta bloqueada pelo filtro de conteúdo", False
    if choice.finish_reason == "length":
        return None, "OpenAI: resposta cortada no limite de tokens (finish_reason length)", True
    if not message.content:
        return None, "OpenAI: resposta incompleta", True
    try:
        return Verdict.model_validate_json(message.content), None, False
    except ValidationError as exc:
        kinds = {error["type"] for error in exc.errors()}
        if kinds & {"greater_than_equal", "less_than_equal", "string_too_long"}:
            return None, "OpenAI: resposta fora do intervalo (confiança deve ficar entre 0 e 1)", True
        return None, "OpenAI: resposta malformada (não segue o formato pedido)", True
