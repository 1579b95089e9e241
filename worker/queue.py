"""The only module that calls the job SQL functions. The database owns job state; this maps
Python calls onto `imagefill.*` functions and their error codes onto exceptions."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import asyncpg
from loguru import logger
from pydantic import BaseModel, ValidationError

from worker.batching import GroupCommit

JobKind = Literal["enrich", "approve", "browser"]
LEASE_LOST = "IF001"
REJECTED_CANDIDATE = "IF003"
# complete_image_jobs did not record this item: its product was held by another transaction, and a
# batch of several products never waits for one (it could deadlock with the customer's writes).
PRODUCT_BUSY = "IF004"
# SQLSTATE classes that mean "the database is not reachable right now", not "your call is wrong":
# 08 connection exception, 53 insufficient resources, 57 operator intervention (shutdown, restart).
_TRANSIENT_SQLSTATE_CLASSES = ("08", "53", "57")


# What a call onto the database raises while the server restarts or the network drops. asyncpg's
# InternalClientError ("another operation is in progress") is a connection caught half-way through
# an error when the server went away; it is not an InterfaceError, so it is named here.
_CONNECTION_FAULTS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)
DATABASE_FAULTS: tuple[type[BaseException], ...] = (asyncpg.PostgresError, *_CONNECTION_FAULTS)


class LeaseLost(Exception):
    """Another worker holds this job now; our result must be dropped."""


class CompletionRefused(Exception):
    """The database refused to record this job's result (an invalid outcome IF002, a candidate a
    person rejected IF003, a bad value); the message says why."""

    def __init__(self, sqlstate: str, message: str) -> None:
        super().__init__(f"{message} [{sqlstate}]")
        self.sqlstate = sqlstate


def is_transient_db_error(exc: BaseException) -> bool:
    """True when the same call may succeed once the database is back (restart, outage, network)."""
    if isinstance(exc, (*_CONNECTION_FAULTS, TimeoutError)):
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    return isinstance(exc, asyncpg.PostgresError) and str(sqlstate or "")[:2] in _TRANSIENT_SQLSTATE_CLASSES


class ClaimedJob(BaseModel):
    job_id: UUID
    product_id: str
    kind: JobKind
    attempts: int
    max_attempts: int
    batch_id: UUID | None
    payload: dict[str, Any]
    locked_until: datetime
    product_name: str | None
    product_brand: str | None
    product_ean: str | None
    product_gtin: str | None
    rejected_urls: list[str]


@dataclass
class StageEvent:
    stage: str
    outcome: str
    detail: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"stage": self.stage, "outcome": self.outcome, "detail": self.detail}


@dataclass
class Candidate:
    """One image considered for a product: kept in `image_candidate_urls` for audit and review."""

    url: str
    source: str
    confidence: float | None = None
    reason: str | None = None
    query: str | None = None
    usable: bool | None = None  # False: kept for the audit, never offered to a reviewer
    match: bool | None = None
    packshot: bool | None = None  # whole package, front face, plain background (the judge's view)
    width: int | None = None
    height: int | None = None
    page_url: str | None = None  # where a search result was found (provenance)
    page_host: str | None = None
    license: str | None = None  # of the picture, when known (Open Food Facts: CC BY-SA 3.0)
    attribution: str | None = None
    cutout_url: str | None = None  # transparent main.png stored beside main.jpg
    rank: int | None = None  # 1 = best, after ranking
    sha256: str | None = None
    # The picture hash (worker.picture_identity; the key keeps its first name, from when it was a
    # grey dHash): the same picture at another URL is the same picture.
    dhash: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class JobOutcome:
    image_status: Literal["ok", "needs_review"]
    image_url: str | None = None
    image_source: str | None = None
    image_confidence: float | None = None
    candidates: list[Candidate] = field(default_factory=list)
    events: list[StageEvent] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)


# One answer of complete_image_jobs: `outcome`, or `error_code` and `error_message`.
Answer = dict[str, Any]

# At most this many completions share one call (and one transaction) of complete_image_jobs.
COMPLETION_BATCH_MAX = 50


class JobQueue:
    def __init__(
        self, pool: asyncpg.Pool, worker_id: str, lease_seconds: int, retry_backoff_seconds: int = 30
    ) -> None:
        self._pool = pool
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.retry_backoff_seconds = retry_backoff_seconds
        self._broadcasts: bool | None = None  # is Broadcast from the database installed?
        self._completions: GroupCommit[dict[str, Any], Answer] = GroupCommit(
            self._complete_many, max_batch=COMPLETION_BATCH_MAX, whole_batch_fault=is_transient_db_error
        )

    async def recycle_connections(self) -> None:
        """Replace every pooled connection as it comes back: one of them was left mid-protocol."""
        await self._pool.expire_connections()

    async def claim(
        self, limit: int, kinds: list[JobKind] | None = None, batch_id: UUID | None = None
    ) -> list[ClaimedJob]:
        """`batch_id`: only that backfill batch's jobs (None: any job)."""
        if limit < 1:
            return []
        rows = await self._pool.fetch(
            "select * from imagefill.claim_image_jobs($1, $2, $3, $4::public.image_job_kind[], $5::uuid)",
            self.worker_id,
            limit,
            self.lease_seconds,
            kinds,
            batch_id,
        )
        jobs = []
        for row in rows:
            try:
                jobs.append(
                    ClaimedJob.model_validate(
                        {
                            **dict(row),
                            "payload": json.loads(row["payload"]),
                            "rejected_urls": list(row["rejected_urls"]),
                        }
                    )
                )
            except ValidationError as exc:
                # A job written by hand with a payload that is not an object: it can never run.
                # It fails alone, with the reason; the jobs claimed with it go on.
                reason = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                logger.bind(job_id=str(row["job_id"]), error=reason).error("job_unreadable")
                await self._fail_job(
                    row["job_id"], f"job ilegível (payload ou campos inválidos): {reason}", retryable=False
                )
        return jobs

    async def due_count(self, kinds: list[JobKind] | None = None) -> int:
        """Jobs claimable now or running (read-only: it changes no job state)."""
        count = await self._pool.fetchval(
            "select count(*) from public.image_jobs where (status = 'running' or"
            " (status = 'queued' and run_after <= now())) and ($1::public.image_job_kind[] is null"
            " or kind = any ($1::public.image_job_kind[]))",
            kinds,
        )
        return int(count or 0)

    async def extend_leases(self, job_ids: list[UUID]) -> set[UUID]:
        """Renews every lease in one round trip; returns the jobs still held."""
        if not job_ids:
            return set()
        rows = await self._pool.fetch(
            "select imagefill.extend_image_job_leases($1, $2::uuid[], $3) as id",
            self.worker_id,
            job_ids,
            self.lease_seconds,
        )
        return {row["id"] for row in rows}

    async def complete(self, job: ClaimedJob, outcome: JobOutcome) -> str:
        """Returns what happened: the stored outcome (`ok`, `needs_review`, `stale`, ...), or
        `superseded` when a person decided again while the job ran (it is queued again).
        Completions that finish together are recorded together (worker.batching.GroupCommit)."""
        item = {
            "job_id": str(job.job_id),
            "image_status": outcome.image_status,
            "image_url": outcome.image_url,
            "image_source": outcome.image_source,
            "image_confidence": outcome.image_confidence,
            "candidates": [c.as_json() for c in outcome.candidates],
            "events": [e.as_json() for e in outcome.events],
            "result": outcome.result,
            "payload": job.payload,
        }
        row = await self._completions.submit(item)
        if row["error_code"] == PRODUCT_BUSY:
            # Alone, the call waits for the product's lock as a single completion always did.
            row = (await self._complete_many([item]))[0]
        if row["error_code"] == LEASE_LOST:
            raise LeaseLost(str(row["error_message"]))
        if row["error_code"] is not None:
            raise CompletionRefused(str(row["error_code"]), str(row["error_message"]))
        return str(row["outcome"])

    async def _complete_many(self, items: list[dict[str, Any]]) -> list[Answer]:
        rows = await self._pool.fetch(
            "select item, outcome, error_code, error_message"
            " from imagefill.complete_image_jobs($1, $2::jsonb)",
            self.worker_id,
            json.dumps(items),
        )
        # Answers come back by position: two items of one job never take each other's answer.
        by_position: dict[int, Answer] = {row["item"]: dict(row) for row in rows}
        unanswered: Answer = {
            "outcome": None,
            "error_code": "XX000",
            "error_message": "complete_image_jobs não respondeu por este item",
        }
        return [by_position.get(position, unanswered) for position in range(1, len(items) + 1)]

    async def completions_recorded(self) -> None:
        """Waits until every completion handed to `complete` has been answered."""
        await self._completions.wait_idle()

    async def fail(
        self, job: ClaimedJob, error: str, *, retryable: bool, events: list[StageEvent] | None = None
    ) -> str:
        """Returns the job's new status: `queued` (will retry) or `failed`."""
        return await self._fail_job(
            job.job_id, error, retryable=retryable, events=events, payload=job.payload
        )

    async def _fail_job(
        self,
        job_id: UUID,
        error: str,
        *,
        retryable: bool,
        events: list[StageEvent] | None = None,
        payload: dict[str, Any] | None = None,
    ) -> str:
        """`fail` for a job known by its id; without the payload it ran with (a job whose payload
        could not be read), the supersession check is skipped."""
        row = await self._call(
            "select j.status::text as status, j.result ->> 'outcome' as outcome"
            " from imagefill.fail_image_job($1, $2, $3, $4, $5::jsonb, $6, $7::jsonb) j",
            job_id,
            self.worker_id,
            error,
            retryable,
            json.dumps([e.as_json() for e in events or []]),
            self.retry_backoff_seconds,
            None if payload is None else json.dumps(payload),
        )
        if row and row["outcome"] == "superseded":
            return "superseded"
        return str(row["status"]) if row else "unknown"

    async def job_status(self, job_id: UUID) -> tuple[str, str | None]:
        """(status, locked_by) of one job, read-only: tells whether a state change whose answer
        was lost in a connection drop did commit."""
        row = await self._pool.fetchrow(
            "select status::text, locked_by from public.image_jobs where id = $1", job_id
        )
        return (str(row["status"]), row["locked_by"]) if row else ("missing", None)

    async def defer(
        self, job: ClaimedJob, until: datetime, reason: str, events: list[StageEvent] | None = None
    ) -> None:
        """Puts the job back to wait until `until` (a budget window's reset): no attempt counted."""
        await self._call(
            "select imagefill.defer_image_job($1, $2, $3, $4, $5::jsonb)",
            job.job_id,
            self.worker_id,
            until,
            reason,
            json.dumps([e.as_json() for e in events or []]),
        )

    async def release(self, job: ClaimedJob, reason: str) -> None:
        await self._call("select imagefill.release_image_job($1, $2, $3)", job.job_id, self.worker_id, reason)

    async def sweep(self, done_days: int, event_days: int, batch: int = 5000) -> dict[str, Any]:
        """One periodic sweep (imagefill.sweep_image_queue): what it failed, folded and purged."""
        raw = await self._pool.fetchval(
            "select imagefill.sweep_image_queue($1, $2, $3)", done_days, event_days, batch
        )
        result: dict[str, Any] = json.loads(raw)
        return result

    async def flush_broadcasts(self) -> int:
        """Sends the Realtime pings a burst left pending (75_realtime_broadcast.sql): the last
        change of a burst reaches the panels within a poll tick. Nothing where that migration is
        not installed (checked once)."""
        if self._broadcasts is None:
            self._broadcasts = bool(
                await self._pool.fetchval(
                    "select to_regprocedure('imagefill.flush_broadcasts()') is not null"
                )
            )
        if not self._broadcasts:
            return 0
        return int(await self._pool.fetchval("select imagefill.flush_broadcasts()") or 0)

    async def cached_verdict(
        self, product_id: str, image_sha256: str, model: str, facts_sha256: str
    ) -> dict[str, Any] | None:
        raw = await self._pool.fetchval(
            "select imagefill.cached_verdict($1, $2, $3, $4)", product_id, image_sha256, model, facts_sha256
        )
        return json.loads(raw) if raw else None

    async def store_verdict(
        self, product_id: str, image_sha256: str, model: str, facts_sha256: str, verdict: dict[str, Any]
    ) -> None:
        await self._pool.execute(
            "select imagefill.store_verdict($1, $2, $3, $4, $5::jsonb)",
            product_id,
            image_sha256,
            model,
            facts_sha256,
            json.dumps(verdict),
        )

    async def cached_answer(
        self, product_id: str, purpose: str, question_sha256: str, ttl_seconds: int
    ) -> Any | None:
        """A paid answer (search hits, extracted attributes) to the same question, if young enough."""
        if ttl_seconds <= 0:
            return None
        raw = await self._pool.fetchval(
            "select imagefill.cached_answer($1, $2, $3, $4)",
            product_id,
            purpose,
            question_sha256,
            ttl_seconds,
        )
        return json.loads(raw) if raw else None

    async def store_answer(self, product_id: str, purpose: str, question_sha256: str, answer: Any) -> None:
        await self._pool.execute(
            "select imagefill.store_answer($1, $2, $3, $4::jsonb)",
            product_id,
            purpose,
            question_sha256,
            json.dumps(answer),
        )

    async def rejected_picture_hashes(self, product_id: str) -> list[str]:
        """Perceptual hashes of the pictures a person rejected for this product (at any URL)."""
        rows = await self._pool.fetchval("select imagefill.rejected_picture_hashes($1)", product_id)
        return list(rows or [])

    async def record_usage(
        self,
        job: ClaimedJob,
        model: str,
        purpose: str,
        input_tokens: int = 0,
        output_tokens: int = 0,
        requests: int = 1,
    ) -> None:
        await self._pool.execute(
            "select imagefill.record_usage($1, $2, $3, $4, $5, $6)",
            job.job_id,
            model,
            purpose,
            input_tokens,
            output_tokens,
            requests,
        )

    async def _call(self, sql: str, *args: Any) -> asyncpg.Record | None:
        try:
            return await self._pool.fetchrow(sql, *args)
        except asyncpg.PostgresError as exc:
            if getattr(exc, "sqlstate", None) == LEASE_LOST:
                raise LeaseLost(str(exc)) from None
            raise
