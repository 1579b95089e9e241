"""The image-search stage as it was before issue 20 (kept only as the baseline bench_spend measures
the current stage against, in the same run): every query asked, all hits interleaved, up to
IMAGE_SEARCH_MAX_CANDIDATES downloaded and every one judged, the best ranked one approved.
Attached to a running worker's pipeline in place of its own `stage_image_search`."""

from __future__ import annotations

import asyncio
import time

from worker.logs import elapsed_ms
from worker.pipeline import FetchedImage, Pipeline, rank_key
from worker.queue import Candidate, ClaimedJob, JobOutcome, StageEvent
from worker.stages.image_search import SearchHit, SearchUnavailable
from worker.stages.openai_judge import ProductFacts
from worker.stages.queries import build_search_queries

JUDGE_CONCURRENCY = 3  # the old stage judged up to three hits at once


def interleave(per_query: list[list[SearchHit]]) -> list[SearchHit]:
    """Round-robin across queries, so the first query does not crowd out the others."""
    merged: list[SearchHit] = []
    for row in range(max((len(hits) for hits in per_query), default=0)):
        merged.extend(hits[row] for hits in per_query if row < len(hits))
    return merged


async def stage_image_search(
    self: Pipeline, job: ClaimedJob, facts: ProductFacts, evidence: dict[str, str | None], outcome: JobOutcome
) -> tuple[FetchedImage, Candidate] | None:
    assert self.search is not None
    started = time.monotonic()
    policy = self.search_policy
    attributes = await self.product_attributes(job, facts)
    queries = build_search_queries(facts, attributes)
    outcome.events.append(StageEvent("query_builder", attributes.source, {"queries": queries}))
    per_query: list[list[SearchHit]] = []
    try:
        for query in queries:
            per_query.append(await self.search_query(job, query, outcome))
    except SearchUnavailable as exc:
        outcome.events.append(StageEvent("image_search", "unavailable", {"reason": str(exc)}))
        return None
    hits = await self.filter_hits(job, interleave(per_query), outcome)
    fetched = await self.download_all(hits[: policy.max_candidates], outcome)
    fetched = await self.drop_duplicates(job, fetched, outcome)
    semaphore = asyncio.Semaphore(JUDGE_CONCURRENCY)

    async def judge(item: tuple[SearchHit, FetchedImage]) -> tuple[FetchedImage, Candidate]:
        hit, image = item
        candidate = self.candidate_for(image, "search_api", hit)
        async with semaphore:
            await self.judge_candidate(job, facts, image.image, evidence, candidate, outcome)
        return image, candidate

    judged = await asyncio.gather(*(judge(item) for item in fetched))
    outcome.candidates.extend(candidate for _, candidate in judged)
    ranked = sorted(judged, key=lambda pair: rank_key(pair[1], self.threshold), reverse=True)
    best = ranked[0] if ranked else None
    approved = best is not None and bool(best[1].match) and (best[1].confidence or 0) >= self.threshold
    outcome.events.append(
        StageEvent(
            "image_search",
            "approved" if approved else "nothing_good_enough",
            {"queries": len(queries), "judged": len(judged), "ms": elapsed_ms(started)},
        )
    )
    return best if approved else None
