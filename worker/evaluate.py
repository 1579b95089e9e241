"""`imagefill eval LABELS.csv`: how often auto-approval would be right on your own labelled rows.

Each row names a product (EAN, name, brand), a picture (`off:<EAN>` for the front picture Open
Food Facts has for that code, an http(s) URL, or a file path relative to the CSV) and whether the
picture is that product (`correct`: sim/não, yes/no). The judge runs once per row; the report
gives, per threshold, how many rows would be auto-approved (coverage), how many of those are
right (precision) and how many of the right pictures get through (recall), plus tokens and cost
per product — so a threshold and a model can be picked on your own catalogue, with your own key.
"""

from __future__ import annotations

import asyncio
import csv
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from worker.costs import Usage, cost_usd
from worker.images import FetchPolicy, ImageRejected, download_image, image_session, normalize_image
from worker.ratelimit import HostRateLimiter
from worker.settings import Settings
from worker.stages.openai_judge import (
    OpenAIJudge,
    OpenAIQuotaExhausted,
    ProductFacts,
    Verdict,
    new_openai_client,
)
from worker.stages.openfoodfacts import OffProduct, OffUnavailable, OpenFoodFactsClient

YES = {"sim", "s", "yes", "y", "true", "1", "correta", "correto"}
NO = {"não", "nao", "n", "no", "false", "0", "errada", "errado"}
DEFAULT_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
EVAL_CONCURRENCY = 4


class LabelsError(ValueError):
    """The CSV cannot be read as labels; the message says which line and what to fix (pt-BR)."""


@dataclass(frozen=True)
class LabelledRow:
    line: int
    ean: str
    name: str
    brand: str | None
    image: str
    correct: bool


@dataclass
class RowResult:
    row: LabelledRow
    verdict: Verdict | None
    problem: str | None = None
    usage: list[Usage] = field(default_factory=list)

    def approved(self, threshold: float) -> bool:
        return self.verdict is not None and self.verdict.match and self.verdict.confidence >= threshold


@dataclass(frozen=True)
class ThresholdLine:
    threshold: float
    approved: int
    right: int  # approved and correct
    rows: int
    correct_rows: int

    @property
    def precision(self) -> float | None:
        return self.right / self.approved if self.approved else None

    @property
    def coverage(self) -> float:
        return self.approved / self.rows if self.rows else 0.0

    @property
    def recall(self) -> float | None:
        return self.right / self.correct_rows if self.correct_rows else None


@dataclass
class EvalReport:
    model: str
    results: list[RowResult]
    lines: list[ThresholdLine]
    input_tokens: int
    output_tokens: int
    cost: float | None

    @property
    def rows(self) -> int:
        return len(self.results)

    @property
    def no_verdict(self) -> int:
        return sum(1 for r in self.results if r.verdict is None)


def read_labels(path: Path) -> list[LabelledRow]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise LabelsError(f"não foi possível ler {path}: {exc.strerror or exc}") from None
    lines = ["" if line.lstrip().startswith("#") else line for line in text.splitlines()]
    # The header is the first line that is neither blank nor a comment; later comment lines become
    # blank lines (which the reader skips), so line numbers stay the file's own.
    skipped = next((n for n, line in enumerate(lines) if line.strip()), len(lines))
    reader = csv.DictReader(lines[skipped:])
    needed = {"ean", "name", "brand", "image", "correct"}
    if not reader.fieldnames or not needed <= {f.strip().lower() for f in reader.fieldnames}:
        raise LabelsError(f"{path}: o cabeçalho deve ter as colunas {', '.join(sorted(needed))}")
    rows = []
    for raw in reader:
        number = reader.line_num + skipped
        record = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        answer = record["correct"].lower()
        if answer not in YES | NO:
            raise LabelsError(
                f"{path}, linha {number}: correct deve ser sim/não (veio {record['correct']!r})"
            )
        if not record["image"]:
            raise LabelsError(f"{path}, linha {number}: falta a imagem (off:EAN, URL ou arquivo)")
        rows.append(
            LabelledRow(
                number, record["ean"], record["name"], record["brand"] or None, record["image"], answer in YES
            )
        )
    if not rows:
        raise LabelsError(f"{path}: nenhuma linha rotulada")
    return rows


def summarize(results: list[RowResult], thresholds: list[float]) -> list[ThresholdLine]:
    correct_rows = sum(1 for r in results if r.row.correct)
    lines = []
    for threshold in sorted(set(thresholds)):
        approved = [r for r in results if r.approved(threshold)]
        lines.append(
            ThresholdLine(
                threshold,
                len(approved),
                sum(1 for r in approved if r.row.correct),
                len(results),
                correct_rows,
            )
        )
    return lines


class _Pictures:
    """Where a row's picture comes from: OFF by EAN, the web (SSRF-safe), or a local file."""

    def __init__(
        self,
        settings: Settings,
        base_dir: Path,
        api: aiohttp.ClientSession,
        images: aiohttp.ClientSession,
        policy: FetchPolicy,
    ) -> None:
        self._base_dir = base_dir
        self._images = images
        self._policy = policy
        self._off = OpenFoodFactsClient(
            api,
            base_url=settings.off_base_url,
            user_agent=settings.off_user_agent,
            limiter=HostRateLimiter(
                settings.rate_limit_dir, "openfoodfacts", settings.off_rate_limit_per_minute
            ),
            timeout_seconds=settings.off_timeout_seconds,
            max_retries=settings.off_max_retries,
            backoff_base_seconds=settings.off_retry_backoff_seconds,
        )
        self._products: dict[str, asyncio.Task[OffProduct | None]] = {}

    async def off_product(self, code: str) -> OffProduct | None:
        """Each code asked once (OFF's read limit is per minute), shared by the rows that use it."""
        if code not in self._products:
            self._products[code] = asyncio.ensure_future(self._off.fetch_from_open_food_facts(code))
        return await self._products[code]

    async def load(self, row: LabelledRow) -> tuple[bytes, dict[str, str | None]]:
        """The picture's bytes and, for `off:` rows, what OFF says about the row's own EAN (the
        evidence the pipeline gives the judge)."""
        if row.image.startswith("off:"):
            code = row.image.removeprefix("off:").strip()
            product = await self.off_product(code)
            if product is None or not product.candidates:
                raise ImageRejected(f"o Open Food Facts não tem imagem de frente para {code}")
            own = await self.off_product(row.ean) if row.ean else None
            evidence = own.evidence() if own else {}
            candidate = product.candidates[0]
            try:
                return await download_image(self._images, candidate.url, self._policy), evidence
            except ImageRejected:
                if candidate.fallback_url is None:
                    raise
                return await download_image(self._images, candidate.fallback_url, self._policy), evidence
        if row.image.startswith(("http://", "https://")):
            return await download_image(self._images, row.image, self._policy), {}
        path = (self._base_dir / row.image).resolve()
        try:
            return await asyncio.to_thread(path.read_bytes), {}
        except OSError:
            raise ImageRejected(f"arquivo não encontrado: {path}") from None


async def evaluate(settings: Settings, labels: Path, thresholds: list[float]) -> EvalReport:
    """Runs the configured judge on every row (no database, no cache: every row is a fresh call)."""
    if settings.openai_api_key is None:
        raise LabelsError("defina OPENAI_API_KEY: a avaliação chama a OpenAI para cada linha")
    rows = read_labels(labels)
    policy = FetchPolicy.from_allow_list(
        settings.image_fetch_allow_hosts,
        max_bytes=settings.image_max_bytes,
        timeout_seconds=settings.image_download_timeout_seconds,
    )
    client = new_openai_client(
        settings.openai_api_key.get_secret_value(),
        settings.openai_base_url,
        settings.openai_timeout_seconds,
        settings.openai_max_retries,
    )
    judge = OpenAIJudge(client, settings.openai_model)
    semaphore = asyncio.Semaphore(EVAL_CONCURRENCY)
    async with aiohttp.ClientSession() as api, image_session(policy) as images:
        pictures = _Pictures(settings, labels.parent, api, images, policy)

        async def one(row: LabelledRow) -> RowResult:
            async with semaphore:
                facts = ProductFacts(f"eval:{row.line}", row.name, row.brand, row.ean or None)
                try:
                    data, evidence = await pictures.load(row)
                    picture = await asyncio.to_thread(normalize_image, data, settings.image_max_side)
                except (ImageRejected, OffUnavailable, ValueError) as exc:
                    return RowResult(row, None, f"imagem: {exc}")
                try:
                    judgement = await judge.validate(facts, picture, evidence)
                except OpenAIQuotaExhausted as exc:
                    raise LabelsError(str(exc)) from None
                return RowResult(row, judgement.verdict, judgement.problem, judgement.usage)

        try:
            results = await asyncio.gather(*(one(row) for row in rows))
        finally:
            await client.close()
    input_tokens = sum(u.input_tokens for r in results for u in r.usage)
    output_tokens = sum(u.output_tokens for r in results for u in r.usage)
    return EvalReport(
        model=settings.openai_model,
        results=list(results),
        lines=summarize(list(results), [*thresholds, settings.image_confidence_threshold]),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost=cost_usd(settings.prices, settings.openai_model, input_tokens, output_tokens),
    )
