"""The stage order, top to bottom, exactly as the product asks (and never another):

1. Open Food Facts by EAN → candidate (`openfoodfacts`)
2. the judge validates it; at or above the threshold it is approved
3. only if 1–2 failed: image search, the judge ranks, the best at or above the threshold wins
4. otherwise `needs_review`: a person decides

A person's approval (`approve` jobs) skips the stages: download, normalize, store.
A person's request for the browser search (`browser` jobs, stage 4) only adds candidates.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from loguru import logger

from worker.budget import OPENAI, BudgetReached, Reservation, SpendLedger
from worker.costs import Usage
from worker.images import (
    JUDGE_SIDE,
    FetchPolicy,
    ImagePool,
    ImageRejected,
    ImageUnavailable,
    NormalizedImage,
    cutout_png,
    download_image,
)
from worker.logs import elapsed_ms
from worker.picture_identity import is_known_picture, picture_hash
from worker.queue import Candidate, ClaimedJob, JobOutcome, JobQueue, StageEvent
from worker.ratelimit import HostRateLimiter
from worker.stages.browser import BrowserImageFinder, search_queries
from worker.stages.image_search import (
    ImageSearch,
    SearchHit,
    SearchUnavailable,
    hit_refusal,
)
from worker.stages.openai_judge import ImageJudge, Judgement, ProductFacts, Verdict, facts_key
from worker.stages.openfoodfacts import (
    OFF_ATTRIBUTION,
    OFF_PICTURE_LICENSE,
    OffImageCandidate,
    OffInvalidResponse,
    OffProduct,
    OpenFoodFactsClient,
)
from worker.stages.queries import ProductAttributes, build_search_queries, parse_product_attributes
from worker.storage import ImageStore

HUMAN_CONFIDENCE = 1.0
PLANOGRAM_MIN_SIDE = 650  # ranking prefers pictures at least this large on their long side
DOWNLOAD_CONCURRENCY = 4


class PermanentJobError(Exception):
    """Retrying cannot help (e.g. the approved URL is not an image): fail the job now."""


class PaidStagesPaused(Exception):
    """A budget cap stopped a paid stage: the runner defers the job until the window resets."""

    def __init__(self, reached: BudgetReached, events: list[StageEvent]) -> None:
        super().__init__(str(reached))
        self.resets_at = reached.resets_at
        self.events = events


@dataclass
class FetchedImage:
    url: str
    image: NormalizedImage


@dataclass(frozen=True)
class SearchPolicy:
    results_per_query: int = 8
    max_candidates: int = 10
    min_side: int = 300
    blocked_domains: frozenset[str] = field(default_factory=frozenset)


AttributeExtractor = Callable[[ProductFacts], Awaitable[ProductAttributes]]


def match_probability(verdict: Verdict) -> float:
    """What a candidate's `confidence` means in the audit and the panel: how likely it is the
    product (a confident "no" is a low number), so best-first ordering is simply by it."""
    return round(verdict.confidence if verdict.match else 1 - verdict.confidence, 4)


def rank_key(candidate: Candidate, threshold: float) -> tuple[bool, bool, bool, bool, bool, float]:
    """Usable first; approvable matches; then packshots, then planogram-size pictures, then confidence."""
    approvable = bool(candidate.match) and (candidate.confidence or 0) >= threshold
    long_side = max(candidate.width or 0, candidate.height or 0)
    return (
        candidate.usable is not False,
        approvable,
        bool(candidate.match),
        bool(candidate.packshot),
        long_side >= PLANOGRAM_MIN_SIDE,
        candidate.confidence if candidate.confidence is not None else 0.5,
    )


def question_key(*parts: object) -> str:
    """What identifies a paid question in the answer cache (the product is a column of its own)."""
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()


def hits_from_cache(answer: Any) -> list[SearchHit] | None:
    """A cached answer read back; None (ask the provider) when it is not one this code wrote."""
    if not isinstance(answer, list):
        return None
    try:
        return [SearchHit(**hit) for hit in answer]
    except TypeError:
        return None


def looks_best(image: NormalizedImage) -> tuple[bool, bool, int]:
    """Before any verdict, what a picture promises: a plain background (a packshot's sign, read
    locally), planogram size, then size; ties keep the provider's order (a stable sort)."""
    long_side = max(image.width, image.height)
    return (image.background is not None, long_side >= PLANOGRAM_MIN_SIDE, long_side)


def rank_candidates(candidates: list[Candidate], threshold: float) -> list[Candidate]:
    ranked = sorted(candidates, key=lambda c: rank_key(c, threshold), reverse=True)
    for position, candidate in enumerate(ranked, start=1):
        candidate.rank = position
    return ranked


class Pipeline:
    def __init__(
        self,
        *,
        off: OpenFoodFactsClient,
        image_session: aiohttp.ClientSession,
        fetch_policy: FetchPolicy,
        image_pool: ImagePool,
        store: ImageStore,
        threshold: float,
        max_side: int = 1200,
        judge: ImageJudge | None = None,
        search: ImageSearch | None = None,
        ledger: JobQueue | None = None,
        attributes: AttributeExtractor | None = None,
        search_policy: SearchPolicy | None = None,
        browser: BrowserImageFinder | None = None,
        browser_max_candidates: int = 8,
        browser_min_side: int = 200,
        answer_ttl_seconds: int = 0,
        spend: SpendLedger | None = None,
        pacers: dict[str, HostRateLimiter] | None = None,
    ) -> None:
        self.off = off
        self.image_session = image_session
        self.fetch_policy = fetch_policy
        self.image_pool = image_pool
        self.store = store
        self.threshold = threshold
        self.max_side = max_side
        self.judge = judge
        self.search = search
        self.ledger = ledger  # verdict cache and usage records; None: neither (e.g. `eval`)
        self.attributes = attributes
        self.search_policy = search_policy or SearchPolicy()
        self.browser = browser
        self.browser_max_candidates = browser_max_candidates
        self.browser_min_side = browser_min_side
        self.answer_ttl_seconds = answer_ttl_seconds  # paid answers reused this long (0: never)
        self.spend = spend  # budget caps; None: no caps (usage still recorded through the ledger)
        self.pacers = pacers or {}  # provider → its plan's pace, shared by this host's processes

    async def run(self, job: ClaimedJob) -> JobOutcome:
        if job.kind == "approve":
            return await self.store_approved_image(job)
        if job.kind == "browser":
            return await self.browser_search(job)
        return await self.enrich(job)

    async def enrich(self, job: ClaimedJob) -> JobOutcome:
        outcome = JobOutcome(image_status="needs_review")
        try:
            return await self.enrich_stages(job, outcome)
        except BudgetReached as exc:
            # Stage 1 ran (free); a paid stage found no room: the job waits for the window to reset.
            _log(job, "budget", exc.scope, 0)
            raise PaidStagesPaused(exc, outcome.events) from None

    async def enrich_stages(self, job: ClaimedJob, outcome: JobOutcome) -> JobOutcome:
        facts = ProductFacts(job.product_id, job.product_name, job.product_brand, job.product_gtin)

        # 1. Open Food Facts by EAN.
        off_product = await self.stage_open_food_facts(job, outcome)
        evidence = off_product.evidence() if off_product else {}
        fetched = await self.first_usable_image(job, off_product.candidates if off_product else [], outcome)

        # 2. The judge validates the OFF candidate.
        if fetched is not None:
            candidate = self.candidate_for(fetched, "openfoodfacts")
            if off_product is not None:
                # Provenance a person can check before reusing the picture (CC BY-SA: attribution).
                candidate.page_url = off_product.page_url
                candidate.page_host = (
                    urlsplit(off_product.page_url).hostname if off_product.page_url else None
                )
                candidate.license = OFF_PICTURE_LICENSE
                candidate.attribution = OFF_ATTRIBUTION
            outcome.candidates.append(candidate)
            if self.judge is None:
                candidate.reason = "sem validação automática configurada (OpenAI)"
                outcome.events.append(StageEvent("openai_judge", "not_configured"))
            else:
                verdict = await self.judge_candidate(job, facts, fetched.image, evidence, candidate, outcome)
                if self.approvable(verdict):
                    assert verdict is not None
                    return await self.approve(
                        job, outcome, fetched, "openfoodfacts", verdict.confidence, candidate
                    )

        # 3. Image search: only when 1–2 failed, and only with a judge to rank what it finds.
        if self.search is None or self.judge is None:
            why = "sem chave da busca de imagens" if self.search is None else "sem validador (OpenAI)"
            outcome.events.append(StageEvent("image_search", "not_configured", {"reason": why}))
        else:
            best = await self.stage_image_search(job, facts, evidence, outcome)
            if best is not None:
                found, candidate = best
                assert candidate.confidence is not None
                return await self.approve(job, outcome, found, "search_api", candidate.confidence, candidate)

        # 4. A person decides, best candidate first.
        outcome.candidates = rank_candidates(outcome.candidates, self.threshold)
        outcome.events.append(StageEvent("review", "needs_review", {"candidates": len(outcome.candidates)}))
        return outcome

    def approvable(self, verdict: Verdict | None) -> bool:
        """The policy: the judge says it is the product, at or above the threshold."""
        return verdict is not None and verdict.match and verdict.confidence >= self.threshold

    @staticmethod
    def candidate_for(fetched: FetchedImage, source: str, hit: SearchHit | None = None) -> Candidate:
        return Candidate(
            url=fetched.url,
            source=source,
            width=fetched.image.width,
            height=fetched.image.height,
            sha256=fetched.image.content_hash,
            dhash=perceptual_hash(fetched.image),
            query=hit.query if hit else None,
            page_url=hit.page_url if hit else None,
            page_host=(hit.host or (urlsplit(hit.page_url).hostname if hit.page_url else None))
            if hit
            else None,
        )

    async def judge_candidate(
        self,
        job: ClaimedJob,
        facts: ProductFacts,
        image: NormalizedImage,
        evidence: dict[str, str | None],
        candidate: Candidate,
        outcome: JobOutcome,
    ) -> Verdict | None:
        """One verdict, from the cache when this picture was already judged for this product."""
        judgement = await self.judge_with_cache(job, facts, image, evidence)
        verdict = judgement.verdict
        if verdict is None:
            candidate.reason = f"sem veredito: {judgement.problem}"
            outcome.events.append(
                StageEvent("openai_judge", "no_verdict", {"url": candidate.url, "problem": judgement.problem})
            )
            return None
        candidate.match = verdict.match
        candidate.confidence = match_probability(verdict)
        candidate.reason = verdict.reason
        candidate.packshot = verdict.packshot
        outcome.events.append(
            StageEvent(
                "openai_judge",
                "match" if verdict.match else "no_match",
                {
                    "url": candidate.url,
                    "confidence": verdict.confidence,
                    "reason": verdict.reason,
                    "packshot": verdict.packshot,
                    "cached": judgement.cached,
                },
            )
        )
        return verdict

    async def judge_with_cache(
        self, job: ClaimedJob, facts: ProductFacts, image: NormalizedImage, evidence: dict[str, str | None]
    ) -> Judgement:
        assert self.judge is not None
        key = facts_key(facts, evidence)
        if self.ledger is not None:
            cached = await self.ledger.cached_verdict(
                job.product_id, image.content_hash, self.judge.model, key
            )
            if cached is not None:
                return Judgement(Verdict.model_validate(cached), cached=True)
        model = self.judge.model
        reservation = await self.reserve(job, OPENAI, "judge", self.openai_estimate(model, "judge"))
        try:
            judgement = await self.judge.validate(facts, image, evidence)
        except BaseException:
            await self.release(reservation)
            raise
        await self.paid(job, reservation, judgement.usage)
        if self.ledger is not None and judgement.verdict is not None:
            await self.ledger.store_verdict(
                job.product_id, image.content_hash, self.judge.model, key, judgement.verdict.model_dump()
            )
        return judgement

    async def stage_image_search(
        self, job: ClaimedJob, facts: ProductFacts, evidence: dict[str, str | None], outcome: JobOutcome
    ) -> tuple[FetchedImage, Candidate] | None:
        """Pays only until it has the product. Queries run one by one, most specific first; a
        query's hits are filtered, downloaded (SSRF-safe, in parallel: downloads cost nothing),
        deduplicated, then judged one at a time, best-looking first; the first approvable picture
        ends the stage. The next, wider query runs only while it may still help (`worth_widening`)."""
        assert self.search is not None
        started = time.monotonic()
        policy = self.search_policy
        attributes = await self.product_attributes(job, facts)
        queries = build_search_queries(facts, attributes)
        outcome.events.append(
            StageEvent(
                "query_builder",
                attributes.source,
                {
                    "queries": queries,
                    "brand": attributes.brand,
                    "product": attributes.product,
                    "flavour": attributes.flavour,
                    "size": attributes.size,
                    **({"problem": attributes.problem} if attributes.problem else {}),
                    **({"cached": True} if attributes.cached else {}),
                },
            )
        )
        found: list[Candidate] = []
        approved: tuple[FetchedImage, Candidate] | None = None
        asked = hits_seen = 0
        looked: set[str] = set()  # picture URLs taken up by an earlier query of this stage
        for query in queries:
            try:
                hits = await self.search_query(job, query, outcome)
            except SearchUnavailable as exc:
                outcome.events.append(StageEvent("image_search", "unavailable", {"reason": str(exc)}))
                return None
            asked += 1
            hits_seen += len(hits)
            room = policy.max_candidates - len(found)
            kept = await self.filter_hits(job, hits, outcome, looked)
            looked.update(hit.url for hit in kept[:room])
            fetched = await self.download_all(kept[:room], outcome)
            fetched = await self.drop_duplicates(job, fetched, outcome)
            for hit, image in sorted(fetched, key=lambda pair: looks_best(pair[1].image), reverse=True):
                candidate = self.candidate_for(image, "search_api", hit)
                verdict = await self.judge_candidate(job, facts, image.image, evidence, candidate, outcome)
                outcome.candidates.append(candidate)
                found.append(candidate)
                if self.approvable(verdict):
                    approved = (image, candidate)
                    break
            if approved is not None or len(found) >= policy.max_candidates:
                break
            if not self.worth_widening(found):
                break
        best = (
            approved[1] if approved else max(found, key=lambda c: rank_key(c, self.threshold), default=None)
        )
        ms = elapsed_ms(started)
        outcome.events.append(
            StageEvent(
                "image_search",
                "approved" if approved else "nothing_good_enough",
                {
                    "queries": asked,
                    "planned": len(queries),
                    "hits": hits_seen,
                    "judged": len(found),
                    "best": best.url if best else None,
                    "ms": ms,
                },
            )
        )
        _log(job, "image_search", outcome.events[-1].outcome, ms)
        return approved

    async def search_query(self, job: ClaimedJob, query: str, outcome: JobOutcome) -> list[SearchHit]:
        """One query's answer: the product's cached one when young enough, else the provider's
        (reserved against the budget first). Only answered requests are billed: those are counted."""
        assert self.search is not None
        count = self.search_policy.results_per_query
        question = question_key(self.search.provider, count, query)
        if self.ledger is not None:
            cached = await self.ledger.cached_answer(
                job.product_id, "image_search", question, self.answer_ttl_seconds
            )
            hits = hits_from_cache(cached)
            if hits is not None:
                outcome.events.append(
                    StageEvent("image_search", "cached_answer", {"query": query, "hits": len(hits)})
                )
                return hits
        provider = self.search.provider
        price = self.spend.search_price_usd if self.spend is not None else 0.0
        reservation = await self.reserve(job, provider, "image_search", price)
        try:
            hits = await self.search.search_images(query, count)
        except BaseException:
            # Not answered, not billed by the provider: the room goes back.
            await self.release(reservation)
            raise
        await self.paid(job, reservation, [Usage(provider, "image_search")])
        if self.ledger is not None and self.answer_ttl_seconds > 0:
            await self.ledger.store_answer(
                job.product_id, "image_search", question, [asdict(hit) for hit in hits]
            )
        return hits

    def openai_estimate(self, model: str, purpose: str) -> float:
        return self.spend.estimate_openai(model, purpose) if self.spend is not None else 0.0

    async def reserve(self, job: ClaimedJob, provider: str, purpose: str, estimate: float) -> Reservation:
        """Room in the budget for one paid call (BudgetReached when a cap has none), then the call's
        slot in the provider's pace."""
        reservation = (
            Reservation(None, provider)
            if self.spend is None
            else await self.spend.reserve(job.job_id, provider, purpose, estimate)
        )
        if (pacer := self.pacers.get(provider)) is not None:
            # The provider's plan limit, before the call (a 429 is only the provider's answer after).
            await pacer.acquire()
        return reservation

    async def release(self, reservation: Reservation) -> None:
        if self.spend is not None:
            await self.spend.release(reservation)

    async def paid(self, job: ClaimedJob, reservation: Reservation, usages: list[Usage]) -> None:
        """What a paid call really used: settled against its reservation and recorded on the job."""
        if self.spend is not None:
            await self.spend.settle(job.job_id, reservation, usages)
        elif self.ledger is not None:
            for usage in usages:
                await self.ledger.record_usage(
                    job, usage.model, usage.purpose, usage.input_tokens, usage.output_tokens, usage.requests
                )

    def worth_widening(self, judged: list[Candidate]) -> bool:
        """Whether the next, wider query may still find the product. Not when every picture judged
        so far was confidently another product: a wider query shares this one's words and brings
        more of the same. It does when nothing could be judged (no hits, sites down) or when a
        picture is the product below the threshold (a better picture of it may be out there)."""
        other_product = 1 - self.threshold
        return not judged or any(
            c.match is not False or c.confidence is None or c.confidence > other_product for c in judged
        )

    async def product_attributes(self, job: ClaimedJob, facts: ProductFacts) -> ProductAttributes:
        """OpenAI's extraction when configured (its answer reused for the same name and brand while
        young enough), else the parser's (free)."""
        if self.attributes is None:
            return parse_product_attributes(facts.name, facts.brand)
        model = self.judge.model if self.judge else ""
        question = question_key(model, facts.name, facts.brand)
        if self.ledger is not None:
            cached = await self.ledger.cached_answer(
                job.product_id, "attributes", question, self.answer_ttl_seconds
            )
            if isinstance(cached, dict):
                return ProductAttributes(
                    brand=cached.get("brand"),
                    product=cached.get("product"),
                    flavour=cached.get("flavour"),
                    size=cached.get("size"),
                    source="openai",
                    cached=True,
                )
        reservation = await self.reserve(job, OPENAI, "attributes", self.openai_estimate(model, "attributes"))
        try:
            attributes = await self.attributes(facts)
        except BaseException:
            await self.release(reservation)
            raise
        await self.paid(job, reservation, attributes.usage)
        if self.ledger is not None and attributes.source == "openai" and self.answer_ttl_seconds > 0:
            answer = {
                "brand": attributes.brand,
                "product": attributes.product,
                "flavour": attributes.flavour,
                "size": attributes.size,
            }
            await self.ledger.store_answer(job.product_id, "attributes", question, answer)
        return attributes

    async def filter_hits(
        self,
        job: ClaimedJob,
        hits: list[SearchHit],
        outcome: JobOutcome,
        looked: set[str] | None = None,
    ) -> list[SearchHit]:
        """Each picture URL once; never a rejected, blocked, odd-typed or too-small one. `looked`:
        the URLs an earlier query of the same stage already took up or refused (a wider query often
        returns the same pictures: they are not downloaded, deduplicated or refused again)."""
        policy = self.search_policy
        rejected = set(job.rejected_urls)
        seen = {c.url for c in outcome.candidates} | (looked or set())
        kept: list[SearchHit] = []
        for hit in hits:
            if hit.url in seen:
                continue
            seen.add(hit.url)
            refusal = hit_refusal(
                hit, rejected_urls=rejected, blocked=policy.blocked_domains, min_side=policy.min_side
            )
            if refusal is not None:
                if looked is not None:
                    looked.add(hit.url)
                outcome.events.append(
                    StageEvent("image_search", "filtered", {"url": hit.url, "reason": refusal})
                )
                continue
            kept.append(hit)
        return kept

    async def download_all(
        self, hits: list[SearchHit], outcome: JobOutcome
    ) -> list[tuple[SearchHit, FetchedImage]]:
        semaphore = asyncio.Semaphore(DOWNLOAD_CONCURRENCY)

        async def one(hit: SearchHit) -> tuple[SearchHit, FetchedImage] | None:
            async with semaphore:
                try:
                    image = await self.fetch(hit.url)
                except (ImageRejected, ImageUnavailable) as exc:
                    # One web hit among many: a site that is down now is simply skipped.
                    verdict = "image_rejected" if isinstance(exc, ImageRejected) else "unavailable"
                    outcome.events.append(
                        StageEvent("download", verdict, {"url": hit.url, "reason": str(exc)})
                    )
                    return None
            if max(image.width, image.height) < self.search_policy.min_side:
                outcome.events.append(
                    StageEvent(
                        "download",
                        "too_small",
                        {"url": hit.url, "width": image.width, "height": image.height},
                    )
                )
                return None
            return hit, FetchedImage(hit.url, image)

        results = await asyncio.gather(*(one(hit) for hit in hits))
        return [r for r in results if r is not None]

    async def drop_duplicates(
        self, job: ClaimedJob, fetched: list[tuple[SearchHit, FetchedImage]], outcome: JobOutcome
    ) -> list[tuple[SearchHit, FetchedImage]]:
        """The same picture on two sites (or one a person rejected) is judged and shown once at most."""
        rejected = await self.ledger.rejected_picture_hashes(job.product_id) if self.ledger else []
        known = [c.dhash for c in outcome.candidates if c.dhash]
        kept: list[tuple[SearchHit, FetchedImage]] = []
        for hit, image in fetched:
            hash_ = perceptual_hash(image.image)
            if is_known_picture(hash_, rejected):
                outcome.events.append(
                    StageEvent(
                        "image_search",
                        "filtered",
                        {"url": hit.url, "reason": "imagem rejeitada por uma pessoa"},
                    )
                )
                continue
            if is_known_picture(hash_, known):
                outcome.events.append(StageEvent("image_search", "duplicate", {"url": hit.url}))
                continue
            known.append(hash_)
            kept.append((hit, image))
        return kept

    async def stage_open_food_facts(self, job: ClaimedJob, outcome: JobOutcome) -> OffProduct | None:
        started = time.monotonic()
        if not job.product_gtin:
            outcome.events.append(StageEvent("openfoodfacts", "skipped", {"reason": "sem GTIN válido"}))
            return None
        try:
            product = await self.off.fetch_from_open_food_facts(job.product_gtin)
        except OffInvalidResponse as exc:
            # OFF answered with something unusable for this code: stage 1 found nothing.
            ms = elapsed_ms(started)
            outcome.events.append(
                StageEvent("openfoodfacts", "invalid_response", {"reason": str(exc), "ms": ms})
            )
            _log(job, "openfoodfacts", "invalid_response", ms)
            return None
        ms = elapsed_ms(started)
        if product is None:
            outcome.events.append(
                StageEvent("openfoodfacts", "not_found", {"gtin": job.product_gtin, "ms": ms})
            )
        else:
            outcome.events.append(
                StageEvent(
                    "openfoodfacts",
                    "found" if product.candidates else "no_front_image",
                    {**product.evidence(), "candidates": len(product.candidates), "ms": ms},
                )
            )
        _log(job, "openfoodfacts", outcome.events[-1].outcome, ms)
        return product

    async def first_usable_image(
        self, job: ClaimedJob, candidates: list[OffImageCandidate], outcome: JobOutcome
    ) -> FetchedImage | None:
        """Full-size first, the 400px copy if that fails; never a picture a person rejected, at
        that URL or any other (the same picture by perceptual hash).
        A fault that may pass (timeout, 5xx, 429) is not a verdict on the picture: when no URL
        worked and one of them failed that way, the job is retried later instead of reviewed."""
        rejected = set(job.rejected_urls)
        rejected_pictures: list[str] | None = None
        unavailable: ImageUnavailable | None = None
        for candidate in candidates:
            for url in (candidate.url, candidate.fallback_url):
                if url is None:
                    continue
                if url in rejected:
                    outcome.events.append(StageEvent("download", "skipped_rejected", {"url": url}))
                    continue
                try:
                    image = await self.fetch(url)
                except ImageUnavailable as exc:
                    unavailable = exc
                    outcome.events.append(
                        StageEvent("download", "unavailable", {"url": url, "reason": str(exc)})
                    )
                    continue
                except ImageRejected as exc:
                    outcome.events.append(
                        StageEvent("download", "image_rejected", {"url": url, "reason": str(exc)})
                    )
                    outcome.candidates.append(
                        Candidate(
                            url=url,
                            source="openfoodfacts",
                            confidence=0.0,
                            reason=f"imagem inválida: {exc}",
                            usable=False,
                        )
                    )
                    continue
                if rejected_pictures is None:
                    rejected_pictures = await self.rejected_pictures(job)
                if known_picture(image, rejected_pictures):
                    outcome.events.append(StageEvent("download", "skipped_rejected_picture", {"url": url}))
                    continue
                outcome.events.append(
                    StageEvent(
                        "download",
                        "ok",
                        {
                            "url": url,
                            "width": image.width,
                            "height": image.height,
                            "format": image.source_format,
                            "sha256": image.content_hash,
                        },
                    )
                )
                return FetchedImage(url, image)
        if unavailable is not None:
            raise unavailable
        return None

    async def fetch(self, url: str) -> NormalizedImage:
        data = await download_image(self.image_session, url, self.fetch_policy)
        # Decode, resize and encode in the pool: tens to hundreds of ms per image, never on the loop.
        # The judge's copy only when there is a judge to read it (a resize and an encode saved).
        judge_side = JUDGE_SIDE if self.judge is not None else None
        return await self.image_pool.normalize(data, self.max_side, judge_side)

    async def approve(
        self,
        job: ClaimedJob,
        outcome: JobOutcome,
        fetched: FetchedImage,
        source: str,
        confidence: float,
        chosen: Candidate | None = None,
    ) -> JobOutcome:
        # The transparent cutout first: main.jpg is what the catalogue points at, so it lands last.
        cutout = await self.image_pool.run(cutout_png, fetched.image)
        cutout_url = await self.store.save_cutout(job.product_id, cutout, fetched.image) if cutout else None
        stored = await self.store.save(job.product_id, fetched.image)
        outcome.events.append(
            StageEvent("storage", "stored", {"path": stored.path, "url": stored.public_url})
        )
        outcome.image_status = "ok"
        outcome.image_url = stored.public_url
        outcome.image_source = source
        outcome.image_confidence = confidence
        outcome.result = {
            "original_url": fetched.url,
            "thumb_url": stored.thumb_url,
            "sha256": fetched.image.content_hash,
        }
        if cutout_url is not None:
            outcome.result["cutout_url"] = cutout_url
            if chosen is not None:
                chosen.cutout_url = cutout_url
        if chosen is not None and chosen.page_url:
            outcome.result |= {"page_url": chosen.page_url, "page_host": chosen.page_host}
        if chosen is not None and chosen.license:
            outcome.result |= {"license": chosen.license, "attribution": chosen.attribution}
        outcome.candidates = rank_candidates(outcome.candidates, self.threshold)
        return outcome

    async def store_approved_image(self, job: ClaimedJob) -> JobOutcome:
        url = str(job.payload.get("url") or "")
        source = str(job.payload.get("source") or "manual")
        outcome = JobOutcome(image_status="ok")
        try:
            image = await self.fetch(url)
        except ImageRejected as exc:
            raise PermanentJobError(f"a imagem aprovada não pôde ser usada: {exc}") from None
        outcome.events.append(StageEvent("download", "ok", {"url": url, "sha256": image.content_hash}))
        return await self.approve(job, outcome, FetchedImage(url, image), source, HUMAN_CONFIDENCE)

    async def rejected_pictures(self, job: ClaimedJob) -> list[str]:
        """Perceptual hashes of the pictures a person rejected for this product. Those hashes belong
        to rejected URLs, which the claim already returned: without any, no round trip (a job must
        not need the database between its claim and its completion)."""
        if not job.rejected_urls or self.ledger is None:
            return []
        return await self.ledger.rejected_picture_hashes(job.product_id)

    async def browser_search(self, job: ClaimedJob) -> JobOutcome:
        """Stage 4, asked by a person: pictures from search pages in a headless browser, each one
        downloaded through the SSRF-safe downloader, for the person to judge. Never an approval."""
        if self.browser is None:
            raise PermanentJobError(
                "este worker não faz busca no navegador:"
                " rode `imagefill browse ID` ou um worker com WORKER_BROWSER=true"
            )
        started = time.monotonic()
        outcome = JobOutcome(image_status="needs_review")
        found, blocked = await self.browser.find(
            search_queries(job.product_name, job.product_brand, job.product_gtin)
        )
        rejected = set(job.rejected_urls)
        rejected_pictures = await self.rejected_pictures(job)
        seen: list[str] = []
        skipped: dict[str, int] = {}
        for image in found:
            if len(outcome.candidates) >= self.browser_max_candidates:
                break
            reason = None
            try:
                fetched = None if image.url in rejected else await self.fetch(image.url)
            except (ImageRejected, ImageUnavailable) as exc:
                # One picture a site cannot serve now is no reason to retry the whole search.
                fetched, reason = None, f"download: {exc}"
            if fetched is None:
                reason = reason or "rejeitada antes por uma pessoa"
            elif min(fetched.width, fetched.height) < self.browser_min_side:
                reason = "pequena demais"
            elif known_picture(fetched, rejected_pictures):
                reason = "rejeitada antes por uma pessoa (outra URL)"
            elif known_picture(fetched, seen):
                reason = "a mesma imagem em outra URL"
            if reason is not None:
                skipped[reason] = skipped.get(reason, 0) + 1
                continue
            assert fetched is not None
            candidate = self.candidate_for(FetchedImage(image.url, fetched), "browser")
            assert candidate.dhash is not None
            seen.append(candidate.dhash)
            candidate.reason = f"encontrada no navegador em {urlsplit(image.page_url).netloc}"
            candidate.query, candidate.page_url = image.query, image.page_url
            candidate.page_host = urlsplit(image.page_url).hostname
            outcome.candidates.append(candidate)
        ms = elapsed_ms(started)
        outcome.result = {"candidates": [{"url": c.url, "query": c.query} for c in outcome.candidates]}
        outcome.events.append(
            StageEvent(
                "browser",
                "found" if outcome.candidates else "nothing_found",
                {
                    "images": len(found),
                    "candidates": len(outcome.candidates),
                    "skipped": skipped,
                    "blocked": blocked[:20],
                    "ms": ms,
                },
            )
        )
        outcome.events.append(StageEvent("review", "needs_review", {"candidates": len(outcome.candidates)}))
        _log(job, "browser", outcome.events[-2].outcome, ms)
        return outcome


def perceptual_hash(image: NormalizedImage) -> str:
    """The picture's hash: made in the image pool with the picture (a hand-built one: here)."""
    return image.picture_hash or picture_hash(image.judge_jpeg or image.main_jpeg)


def known_picture(image: NormalizedImage, hashes: list[str]) -> bool:
    """The same picture (resized, recompressed, at another URL; never another colourway) as one of
    `hashes`: `worker.picture_identity.same_picture`, the one definition every check uses."""
    return bool(hashes) and is_known_picture(perceptual_hash(image), hashes)


def _log(job: ClaimedJob, stage: str, outcome: str, ms: int) -> None:
    logger.bind(job_id=str(job.job_id), product_id=job.product_id, stage=stage, outcome=outcome, ms=ms).info(
        "stage"
    )
