"""The stage order, top to bottom, exactly as the product asks (and never another):

1. Open Food Facts by EAN → candidate (`openfoodfacts`)
2. the judge validates it; at or above the threshold it is approved
3. only if 1–2 failed: image search, the judge ranks, the best at or above the threshold wins
4. otherwise `needs_review`: a person decides

A person's approval (`approve` jobs) skips the stages: download, normalize, store.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import aiohttp
from loguru import logger

from worker.images import FetchPolicy, ImagePool, ImageRejected, NormalizedImage, download_image
from worker.logs import elapsed_ms
from worker.queue import Candidate, ClaimedJob, JobOutcome, StageEvent
from worker.stages.image_search import ImageSearch
from worker.stages.openai_judge import ImageJudge, ProductFacts
from worker.stages.openfoodfacts import OffImageCandidate, OffProduct, OpenFoodFactsClient
from worker.storage import ImageStore

HUMAN_CONFIDENCE = 1.0


class PermanentJobError(Exception):
    """Retrying cannot help (e.g. the approved URL is not an image): fail the job now."""


@dataclass
class FetchedImage:
    url: str
    image: NormalizedImage


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

    async def run(self, job: ClaimedJob) -> JobOutcome:
        if job.kind == "approve":
            return await self.store_approved_image(job)
        return await self.enrich(job)

    async def enrich(self, job: ClaimedJob) -> JobOutcome:
        outcome = JobOutcome(image_status="needs_review")
        facts = ProductFacts(job.product_id, job.product_name, job.product_brand, job.product_gtin)

        # 1. Open Food Facts by EAN.
        off_product = await self.stage_open_food_facts(job, outcome)
        fetched = await self.first_usable_image(job, off_product.candidates if off_product else [], outcome)

        # 2. The judge validates the OFF candidate.
        if fetched is not None and off_product is not None:
            candidate = Candidate(url=fetched.url, source="openfoodfacts")
            outcome.candidates.append(candidate)
            if self.judge is None:
                candidate.reason = "sem validação automática configurada (OpenAI)"
                outcome.events.append(StageEvent("openai_judge", "not_configured"))
            else:
                verdict = await self.judge.validate(facts, fetched.image, off_product.evidence())
                candidate.confidence, candidate.reason = verdict.confidence, verdict.reason
                outcome.events.append(
                    StageEvent(
                        "openai_judge",
                        "match" if verdict.match else "no_match",
                        {"confidence": verdict.confidence, "reason": verdict.reason},
                    )
                )
                if verdict.match and verdict.confidence >= self.threshold:
                    return await self.approve(job, outcome, fetched, "openfoodfacts", verdict.confidence)

        # 3. Image search: only when 1–2 failed, and only with a judge to rank what it finds.
        if self.search is None or self.judge is None:
            outcome.events.append(StageEvent("image_search", "not_configured"))

        # 4. A person decides.
        outcome.events.append(StageEvent("review", "needs_review", {"candidates": len(outcome.candidates)}))
        return outcome

    async def stage_open_food_facts(self, job: ClaimedJob, outcome: JobOutcome) -> OffProduct | None:
        started = time.monotonic()
        if not job.product_gtin:
            outcome.events.append(StageEvent("openfoodfacts", "skipped", {"reason": "sem GTIN válido"}))
            return None
        product = await self.off.fetch_from_open_food_facts(job.product_gtin)
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
        """Full-size first, the 400px copy if that fails; never a URL a person rejected."""
        rejected = set(job.rejected_urls)
        for candidate in candidates:
            for url in (candidate.url, candidate.fallback_url):
                if url is None:
                    continue
                if url in rejected:
                    outcome.events.append(StageEvent("download", "skipped_rejected", {"url": url}))
                    continue
                try:
                    image = await self.fetch(url)
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
        return None

    async def fetch(self, url: str) -> NormalizedImage:
        data = await download_image(self.image_session, url, self.fetch_policy)
        # Decode, resize and encode in the pool: tens to hundreds of ms per image, never on the loop.
        return await self.image_pool.normalize(data, self.max_side)

    async def approve(
        self, job: ClaimedJob, outcome: JobOutcome, fetched: FetchedImage, source: str, confidence: float
    ) -> JobOutcome:
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


def _log(job: ClaimedJob, stage: str, outcome: str, ms: int) -> None:
    logger.bind(job_id=str(job.job_id), product_id=job.product_id, stage=stage, outcome=outcome, ms=ms).info(
        "stage"
    )
