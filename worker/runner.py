"""The run loop: claim only as many jobs as there are free slots, keep their leases alive, and on
SIGTERM/SIGINT stop claiming, let in-flight jobs finish within a grace period and hand back the rest.

Every lifetime (pool, HTTP sessions, listener, lease keeper, health server) is wired here, in
`open_worker`, and nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar
from uuid import UUID

import aiohttp
import asyncpg
import openai
from loguru import logger

from worker.budget import OPENAI, BudgetLimits, SpendLedger
from worker.health import HealthServer
from worker.images import FetchPolicy, ImagePool, ImageUnavailable, guarded_session, image_session
from worker.lifetimes import BackgroundTask
from worker.listener import JobListener
from worker.logs import elapsed_ms, log_loop_exception
from worker.maintenance import QueueSweeper
from worker.offindex import OffExportIndex
from worker.offline.system_deps import system_file
from worker.pipeline import AttributeExtractor, PaidStagesPaused, PermanentJobError, Pipeline, SearchPolicy
from worker.queue import (
    DATABASE_FAULTS,
    REJECTED_CANDIDATE,
    ClaimedJob,
    CompletionRefused,
    JobKind,
    JobOutcome,
    JobQueue,
    LeaseLost,
    is_transient_db_error,
)
from worker.ratelimit import HostRateLimiter
from worker.realtime_wakeup import RealtimeWakeup
from worker.settings import SearchProvider, Settings, StorageBackend, WakeupMode
from worker.stages.browser import BrowserImageFinder, BrowserSearchConfig
from worker.stages.image_search import BraveImageSearch, ImageSearch, parse_domains
from worker.stages.openai_judge import OpenAIJudge, OpenAIQuotaExhausted, ProductFacts, new_openai_client
from worker.stages.openfoodfacts import OffUnavailable, OpenFoodFactsClient
from worker.stages.plan import stage_plan
from worker.stages.queries import ProductAttributes, extract_product_attributes
from worker.stats import LoopLagMonitor, RunnerStats, WorkerSnapshot
from worker.storage import ImageStore, LocalImageStore, StorageFailed, StorageRefused, SupabaseImageStore

RUNNABLE_KINDS: list[JobKind] = ["enrich", "approve"]  # browser jobs need the operator's browser worker
T = TypeVar("T")
# Faults that say nothing about the picture or the product: the job is retried with backoff.
TRANSIENT_ERRORS = (OffUnavailable, StorageFailed, ImageUnavailable)
# Retrying cannot help (now): the job fails at once with the message. StorageRefused is a
# StorageFailed (a Storage fault) that the service itself says is final: it is listed here, and wins.
PERMANENT_ERRORS = (PermanentJobError, ValueError, StorageRefused, OpenAIQuotaExhausted)
RECORD_RETRY_MAX_DELAY = 5.0


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class _AlreadyRecorded(Exception):
    """An earlier try of a state change committed; its answer was lost with the connection."""


class LeaseKeeper(BackgroundTask):
    """Renews the leases of every running job in one round trip, three times per lease period.
    A job whose lease was taken by another worker is cancelled: its result would be refused."""

    task_name = "imagefill-leases"

    def __init__(self, runner: Runner) -> None:
        super().__init__()
        self._runner = runner
        self._interval = max(runner.queue.lease_seconds / 3, 1.0)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            held_ids = list(self._runner.active)
            if not held_ids:
                continue
            asked_at = time.monotonic()
            try:
                still_held = {UUID(str(i)) for i in await self._runner.queue.extend_leases(held_ids)}
            except DATABASE_FAULTS as exc:
                logger.bind(error=f"{type(exc).__name__}: {exc}").warning("lease_extend_failed")
                continue
            except Exception as exc:  # anything else must not end the renewals silently
                error = f"{type(exc).__name__}: {exc}"
                logger.opt(exception=exc).bind(error=error).error("lease_extend_failed")
                continue
            for job_id in still_held:
                self._runner.lease_renewed(job_id, asked_at)
            for job_id in set(held_ids) - still_held:
                # A job recording its own end is not lost: its completion just committed (or
                # will learn about a real loss itself, from the SQL's lease check).
                if job_id not in self._runner.finishing:
                    self._runner.lease_lost(job_id)


class Runner:
    def __init__(
        self,
        queue: JobQueue,
        pipeline: Pipeline,
        *,
        concurrency: int,
        poll_seconds: float,
        grace_seconds: float,
        kinds: list[JobKind] | None = None,
        batch_id: UUID | None = None,
    ) -> None:
        self.queue = queue
        self.pipeline = pipeline
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self.grace_seconds = grace_seconds
        self.kinds = kinds or RUNNABLE_KINDS
        self.batch_id = batch_id  # a backfill's runner claims only its own batch
        self.active: dict[UUID, tuple[ClaimedJob, asyncio.Task[None]]] = {}
        self.stats = RunnerStats()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._hurry = asyncio.Event()  # a second stop: hand back at once, no grace period
        self._handing_back: set[UUID] = set()
        self._started: set[UUID] = set()  # jobs whose task has begun (and will hand back itself)
        self.finishing: set[UUID] = set()  # jobs whose end is being recorded
        # Until when (time.monotonic()) each held lease is surely still ours, with a margin for
        # clock skew: the limit for retrying a state change while the database is away.
        self._lease_valid_until: dict[UUID, float] = {}

    @property
    def _lease_margin(self) -> float:
        return min(5.0, self.queue.lease_seconds / 10)

    def lease_renewed(self, job_id: UUID, asked_at: float) -> None:
        if job_id in self.active:
            self._lease_valid_until[job_id] = asked_at + self.queue.lease_seconds - self._lease_margin

    def wake(self, reason: str = "") -> None:
        self._wake.set()

    def stop(self) -> None:
        if not self._stopping.is_set():
            logger.bind(active=len(self.active)).info("worker_stopping")
        elif not self._hurry.is_set():
            logger.bind(active=len(self.active)).info("worker_handing_back_now")
            self._hurry.set()
        self._stopping.set()
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def lease_lost(self, job_id: UUID) -> None:
        entry = self.active.get(job_id)
        if entry is not None:
            self.stats.leases_lost += 1
            logger.bind(job_id=str(job_id)).warning("lease_lost")
            entry[1].cancel()

    async def run(self, until_idle: Callable[[], Awaitable[bool]] | None = None) -> None:
        """Claims and runs jobs until stop(); with `until_idle`, also stops when nothing is
        running, nothing was claimed and `until_idle()` says the work is done."""
        while not self.stopping:
            self._wake.clear()
            claimed = await self._claim_free_slots()
            if until_idle is not None and not claimed and not self.active and await self._idle(until_idle):
                break
            if claimed and self._free_slots() > 0:
                continue  # there may be more due work: claim again right away
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
            except TimeoutError:
                await self._flush_broadcasts()
        await self._drain()
        # A job cancelled while its completion was on the way is still recorded: let that end
        # before the pool closes.
        await self.queue.completions_recorded()

    async def _flush_broadcasts(self) -> None:
        """On a poll tick: the Realtime pings a burst left pending go out."""
        try:
            await self.queue.flush_broadcasts()
        except DATABASE_FAULTS as exc:
            logger.bind(error=f"{type(exc).__name__}: {exc}").warning("broadcast_flush_failed")

    async def _idle(self, until_idle: Callable[[], Awaitable[bool]]) -> bool:
        """`until_idle()`, where a database fault means "not yet": the claim retries the same way."""
        try:
            return await until_idle()
        except DATABASE_FAULTS as exc:
            logger.bind(error=f"{type(exc).__name__}: {exc}").warning("idle_check_failed")
            return False

    def _free_slots(self) -> int:
        """Slots for new jobs. A job whose result is being recorded no longer does the work the
        concurrency limit is for (requests, pictures), so its slot is free while its completion
        travels, up to as many recording jobs again as the concurrency (a slow database then
        holds the claims back)."""
        working = len(self.active) - len(self.finishing)
        return min(self.concurrency - working, 2 * self.concurrency - len(self.active))

    async def _claim_free_slots(self) -> int:
        free = self._free_slots()
        if free <= 0:
            return 0
        # The lease starts when the claim's transaction does, which may be long before its answer
        # arrives (the claim can wait for a product row a customer's transaction holds).
        asked_at = time.monotonic()
        try:
            jobs = await self.queue.claim(free, self.kinds, self.batch_id)
        except DATABASE_FAULTS as exc:
            logger.bind(error=f"{type(exc).__name__}: {exc}").warning("claim_failed")
            if isinstance(exc, asyncpg.InternalClientError):
                await self.queue.recycle_connections()
            return 0
        started = 0
        for job in jobs:
            job_id = job.job_id
            self._lease_valid_until[job_id] = asked_at + self.queue.lease_seconds - self._lease_margin
            running = self.active.get(job_id)
            if running is not None and running[0].payload == job.payload and job_id not in self.finishing:
                # Our own job whose lease lapsed (renewals failed for a while) came back through
                # crash recovery: the claim renewed its lease; the task already running it goes on.
                logger.bind(job_id=str(job_id)).warning("own_job_reclaimed")
                continue
            # Otherwise the old run is recording its end, and this claim is a new run: its retry
            # (released with no backoff, claimed before the old run's answer arrived), or a person
            # decided again (a different payload) and the job was queued anew. The new run waits
            # for the old task to end.
            previous = running[1] if running is not None else None
            task = asyncio.create_task(self._handle(job, after=previous), name=f"job-{job_id}")
            self.active[job_id] = (job, task)
            started += 1
        if jobs:
            self.stats.claimed += started
            self.stats.last_claim_at = time.time()
        return started

    async def _handle(self, job: ClaimedJob, after: asyncio.Task[None] | None = None) -> None:
        job_id = job.job_id
        self._started.add(job_id)
        started = time.monotonic()
        try:
            try:
                if after is not None:
                    await asyncio.wait({after})
                    started = time.monotonic()
                outcome = await self.pipeline.run(job)
            except asyncio.CancelledError:
                if job_id in self._handing_back:
                    await self._release(job, "worker encerrado antes de terminar o job")
                # A lost lease needs nothing: the job already belongs to another worker.
                raise
            except PaidStagesPaused as exc:
                self._finishing(job_id)
                await self._defer(job, exc)
                return
            except Exception as exc:
                self._finishing(job_id)
                await self._fail(job, exc, started)
                return
            self._finishing(job_id)
            await self._complete(job, outcome, started)
        finally:
            self._forget(job_id)

    async def _complete(self, job: ClaimedJob, outcome: JobOutcome, started: float) -> None:
        log = logger.bind(
            job_id=str(job.job_id), product_id=job.product_id, kind=job.kind, attempt=job.attempts
        )
        try:
            stored = await self._record(job, "complete", lambda: self.queue.complete(job, outcome))
        except _AlreadyRecorded:
            stored = outcome.image_status
        except LeaseLost:
            self.stats.leases_lost += 1
            log.bind(ms=elapsed_ms(started)).warning("lease_lost_on_finish")
            return
        except CompletionRefused as exc:
            # The database will not take this result: IF003, a person rejected the candidate while
            # the job ran (the next run knows it); anything else, a result its rules forbid. Fail
            # the job with the reason, instead of leaving it running until the lease expires and
            # redoing it as if the worker had crashed.
            log.bind(error=str(exc)).warning("complete_refused")
            if exc.sqlstate == REJECTED_CANDIDATE:
                reason = (
                    "a imagem escolhida foi rejeitada por uma pessoa enquanto o job rodava;"
                    " nova tentativa sem ela"
                )
            else:
                reason = f"o banco recusou o resultado: {exc}"
            await self._record_failure(job, reason, exc.sqlstate == REJECTED_CANDIDATE, started)
            return
        except Exception as exc:  # the lease will expire and another worker will redo the job
            log.bind(db_error=f"{type(exc).__name__}: {exc}", ms=elapsed_ms(started)).error(
                "complete_not_recorded"
            )
            return
        if stored == "superseded":
            log.bind(ms=elapsed_ms(started)).info("job_superseded")
            return
        self.stats.completed += 1
        log.bind(outcome=stored, ms=elapsed_ms(started)).info("job_done")

    def _finishing(self, job_id: UUID) -> None:
        self.finishing.add(job_id)
        self._wake.set()  # its slot is free: claim the next job while this one is recorded

    def _forget(self, job_id: UUID) -> None:
        entry = self.active.get(job_id)
        if entry is not None and entry[1] is not asyncio.current_task() and not entry[1].done():
            # A newer run of this job took the entry over (it forgets itself when it ends): this
            # old run only stops counting as one being recorded.
            self.finishing.discard(job_id)
            return
        self._started.discard(job_id)
        self.active.pop(job_id, None)
        self._handing_back.discard(job_id)
        self.finishing.discard(job_id)
        self._lease_valid_until.pop(job_id, None)
        self._wake.set()

    async def _record(self, job: ClaimedJob, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """Records a job's end, retrying while the database is away and the lease is surely still
        ours (the work itself is never redone). When an earlier try may have committed before its
        answer was lost, a lease-lost refusal is checked against the row: a job that is no longer
        running, and that nobody else could have taken while our lease lasted, was recorded by us."""
        job_id = job.job_id
        delay = 0.2
        uncertain = False
        while True:
            try:
                return await call()
            except LeaseLost:
                if uncertain and (await self.queue.job_status(job_id))[0] != "running":
                    logger.bind(job_id=str(job_id), call=what).info("recorded_before_connection_loss")
                    raise _AlreadyRecorded() from None
                raise
            except Exception as exc:
                if not is_transient_db_error(exc):
                    raise
                left = self._lease_valid_until.get(job_id, 0.0) - time.monotonic()
                if left <= delay:
                    raise
                uncertain = True
                logger.bind(
                    job_id=str(job_id),
                    call=what,
                    error=f"{type(exc).__name__}: {exc}",
                    retry_in=round(delay, 2),
                    lease_left=round(left, 1),
                ).warning("record_retry")
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECORD_RETRY_MAX_DELAY)

    async def _fail(self, job: ClaimedJob, exc: Exception, started: float) -> None:
        known = isinstance(exc, TRANSIENT_ERRORS + PERMANENT_ERRORS)
        message = str(exc) if known else f"erro inesperado: {type(exc).__name__}: {exc}"
        if not known:
            logger.bind(job_id=str(job.job_id), product_id=job.product_id, error=message).opt(
                exception=exc
            ).error("job_crashed")
        await self._record_failure(job, message, not isinstance(exc, PERMANENT_ERRORS), started)

    async def _record_failure(self, job: ClaimedJob, message: str, retryable: bool, started: float) -> None:
        bound = logger.bind(
            job_id=str(job.job_id), product_id=job.product_id, error=message, ms=elapsed_ms(started)
        )
        try:
            status = await self._record(
                job, "fail", lambda: self.queue.fail(job, message, retryable=retryable)
            )
        except _AlreadyRecorded:
            return
        except LeaseLost:
            self.stats.leases_lost += 1
            return
        except Exception as db_exc:  # the lease will expire and another worker will retry the job
            bound.bind(db_error=f"{type(db_exc).__name__}: {db_exc}").error("fail_not_recorded")
            return
        if status == "superseded":
            bound.info("job_superseded")
            return
        if status == "queued":
            self.stats.retried += 1
        else:
            self.stats.failed += 1
        bound.bind(status=status).warning("job_failed")

    async def _defer(self, job: ClaimedJob, paused: PaidStagesPaused) -> None:
        """A budget cap: the job waits for the window to reset, its attempt not counted."""
        log = logger.bind(
            job_id=str(job.job_id), product_id=job.product_id, reason=str(paused), until=paused.resets_at
        )
        try:
            await self._record(
                job, "defer", lambda: self.queue.defer(job, paused.resets_at, str(paused), paused.events)
            )
        except (_AlreadyRecorded, LeaseLost):
            return
        except Exception as exc:  # the lease will expire and another worker will meet the cap again
            log.bind(db_error=f"{type(exc).__name__}: {exc}").error("defer_not_recorded")
            return
        self.stats.deferred += 1
        log.warning("budget_reached_job_deferred")

    async def _release(self, job: ClaimedJob, reason: str) -> None:
        try:
            await self.queue.release(job, reason)
            self.stats.released += 1
            logger.bind(job_id=str(job.job_id), product_id=job.product_id).info("job_released")
        except LeaseLost:
            pass
        except Exception as exc:  # the lease will expire and another worker will reclaim it
            logger.bind(job_id=str(job.job_id), error=str(exc)).warning("release_failed")

    async def _drain(self) -> None:
        """Grace period for in-flight jobs, then hand back whatever is still running."""
        if not self.active:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.grace_seconds
        pending = {task for _, task in self.active.values()}
        while pending and not self._hurry.is_set() and loop.time() < deadline:
            hurry = asyncio.ensure_future(self._hurry.wait())
            done, _ = await asyncio.wait(
                pending | {hurry}, timeout=deadline - loop.time(), return_when=asyncio.FIRST_COMPLETED
            )
            hurry.cancel()
            pending -= done
        never_started = []
        for job_id, (job, task) in list(self.active.items()):
            if task in pending:
                self._handing_back.add(job_id)
                if job_id not in self._started:
                    never_started.append(job)  # cancelled before its first step: no handler runs
                task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        for job in never_started:
            await self._release(job, "worker encerrado antes de começar o job")
            self._forget(job.job_id)


def build_store(settings: Settings) -> ImageStore:
    if settings.storage_backend is StorageBackend.local:
        return LocalImageStore(
            settings.local_storage_dir, settings.storage_bucket, settings.local_storage_public_url
        )
    assert settings.supabase_url and settings.supabase_service_role_key  # checked by Settings
    return SupabaseImageStore(
        settings.supabase_url, settings.supabase_service_role_key.get_secret_value(), settings.storage_bucket
    )


async def check_store(store: ImageStore) -> None:
    """Before the first job: a wrong key, a missing or private bucket, an unwritable folder stop
    the worker with the reason (StorageRefused). Storage unreachable right now is no reason not to
    start: the jobs retry their uploads."""
    try:
        found = await store.check()
    except StorageRefused:
        raise
    except StorageFailed as exc:
        logger.bind(error=str(exc)).warning("storage_check_inconclusive")
        return
    logger.bind(detail=found).info("storage_check_ok")


async def keep_session_state(_conn: asyncpg.Connection) -> None:
    """The pool's reset on release. asyncpg's default runs RESET ALL, UNLISTEN *, CLOSE ALL and
    an advisory-unlock query on every release (~1.5 per job). This pool's connections never
    change session state: the job functions set their flag with set_config(..., is_local => true),
    nobody LISTENs on them (the listener has its own connection). asyncpg still rolls back a
    transaction left open before calling this."""


def sweeper_for(runner: Runner, settings: Settings) -> QueueSweeper:
    return QueueSweeper(
        runner.queue,
        settings.worker_sweep_seconds,
        settings.retention_done_jobs_days,
        settings.retention_events_days,
    )


def build_openai_client(
    settings: Settings, pacer: HostRateLimiter | None = None
) -> openai.AsyncOpenAI | None:
    """None without a key: stage 2 off, nothing auto-approved. `OPENAI_BASE_URL` unset means the
    SDK's own default (which also reads the OPENAI_BASE_URL environment variable)."""
    if settings.openai_api_key is None:
        return None
    return new_openai_client(
        settings.openai_api_key.get_secret_value(),
        settings.openai_base_url,
        settings.openai_timeout_seconds,
        settings.openai_max_retries,
        pacer,
    )


def build_search(
    settings: Settings, session: aiohttp.ClientSession, pacer: HostRateLimiter | None = None
) -> ImageSearch | None:
    if not all(s.active for s in stage_plan(settings) if s.stage == "image_search"):
        return None
    assert settings.image_search_api_key is not None
    if settings.image_search_provider is SearchProvider.brave:
        return BraveImageSearch(
            session,
            api_key=settings.image_search_api_key.get_secret_value(),
            base_url=settings.image_search_base_url,
            country=settings.image_search_country,
            language=settings.image_search_language,
            pacer=pacer,
        )
    return None


def attribute_extractor(client: openai.AsyncOpenAI | None, model: str) -> AttributeExtractor:
    async def extract(product: ProductFacts) -> ProductAttributes:
        return await extract_product_attributes(product, client, model)

    return extract


def log_stage_plan(settings: Settings) -> None:
    for state in stage_plan(settings):
        logger.bind(stage=state.stage, active=state.active, detail=state.detail).info("stage_plan")


@contextlib.asynccontextmanager
async def open_worker(
    settings: Settings,
    worker_id: str | None = None,
    batch_id: UUID | None = None,
    kinds: list[JobKind] | None = None,
) -> AsyncIterator[Runner]:
    """Opens every resource a worker needs, in order, and closes them in reverse. With
    WORKER_BROWSER (or `kinds` naming it) the worker also takes the operator's `browser` jobs."""
    kinds = kinds or ([*RUNNABLE_KINDS, "browser"] if settings.worker_browser else RUNNABLE_KINDS)
    worker_id = worker_id or new_worker_id()
    server_settings = {"application_name": f"imagefill worker {worker_id}"[:63]}
    pool = await asyncpg.create_pool(
        settings.database_url,
        min_size=1,
        max_size=settings.worker_concurrency + 2,
        server_settings=server_settings,
        # The transaction pooler cannot keep prepared statements between transactions.
        statement_cache_size=0 if settings.uses_transaction_pooler else 100,
        reset=keep_session_state,
    )
    policy = FetchPolicy.from_allow_list(
        settings.image_fetch_allow_hosts,
        max_bytes=settings.image_max_bytes,
        timeout_seconds=settings.image_download_timeout_seconds,
    )
    try:
        # Every outbound call goes through the same SSRF policy (OFF redirects included).
        async with (
            guarded_session(policy, limit=10) as api_session,
            image_session(policy, connections=max(20, settings.worker_concurrency)) as images,
            contextlib.AsyncExitStack() as stack,
        ):
            off_index = None
            if settings.off_index_path is not None:
                off_index = OffExportIndex(settings.off_index_path)
                stack.callback(off_index.close)
            off = OpenFoodFactsClient(
                api_session,
                base_url=settings.off_base_url,
                user_agent=settings.off_user_agent,
                limiter=HostRateLimiter(
                    settings.rate_limit_dir, "openfoodfacts", settings.off_rate_limit_per_minute
                ),
                timeout_seconds=settings.off_timeout_seconds,
                max_retries=settings.off_max_retries,
                backoff_base_seconds=settings.off_retry_backoff_seconds,
                index=off_index,
                policy=policy,
                max_body_bytes=settings.off_max_body_bytes,
            )
            store = build_store(settings)
            stack.push_async_callback(store.close)
            await check_store(store)
            image_pool = await stack.enter_async_context(ImagePool())
            pacers = provider_pacers(settings)
            client = build_openai_client(settings, pacers[OPENAI])
            if client is not None:
                stack.push_async_callback(client.close)
            queue = JobQueue(
                pool, worker_id, settings.worker_lease_seconds, settings.worker_retry_backoff_seconds
            )
            spend = SpendLedger(
                pool,
                BudgetLimits.from_settings(settings),
                settings.prices,
                settings.image_search_price_per_1000 / 1000,
                hold_seconds=settings.worker_lease_seconds,
            )
            # A raised cap takes effect with this worker's settings: the jobs a cap deferred go on.
            await spend.record_caps()
            resumed = await spend.resume_deferred()
            if resumed:
                logger.bind(jobs=resumed).info("budget_deferred_jobs_resumed")
            browser = None
            if "browser" in kinds:
                browser = await stack.enter_async_context(
                    BrowserImageFinder(browser_config(settings), policy)
                )
            pipeline = Pipeline(
                off=off,
                image_session=images,
                fetch_policy=policy,
                image_pool=image_pool,
                store=store,
                threshold=settings.image_confidence_threshold,
                max_side=settings.image_max_side,
                judge=OpenAIJudge(client, settings.openai_model) if client is not None else None,
                search=build_search(
                    settings,
                    api_session,
                    pacers.get(settings.image_search_provider.value)
                    if settings.image_search_provider is not None
                    else None,
                ),
                ledger=queue,
                attributes=attribute_extractor(client, settings.openai_model),
                search_policy=SearchPolicy(
                    results_per_query=settings.image_search_results_per_query,
                    max_candidates=settings.image_search_max_candidates,
                    min_side=settings.image_search_min_side,
                    blocked_domains=parse_domains(settings.image_search_blocked_domains),
                ),
                browser=browser,
                browser_max_candidates=settings.browser_max_candidates,
                browser_min_side=settings.browser_min_image_side,
                answer_ttl_seconds=round(settings.answer_cache_ttl_hours * 3600),
                spend=spend,
                pacers=pacers,
            )
            yield Runner(
                queue,
                pipeline,
                concurrency=settings.worker_concurrency,
                poll_seconds=settings.worker_poll_seconds,
                grace_seconds=settings.worker_shutdown_grace_seconds,
                batch_id=batch_id,
                kinds=kinds,
            )
    finally:
        await pool.close()


def provider_pacers(settings: Settings) -> dict[str, HostRateLimiter]:
    """Each paid provider's plan limit, shared by every worker process on this host."""
    pacers = {OPENAI: HostRateLimiter(settings.rate_limit_dir, OPENAI, settings.openai_requests_per_minute)}
    if settings.image_search_provider is not None:
        name = settings.image_search_provider.value
        per_minute = settings.image_search_rate_per_second * 60
        pacers[name] = HostRateLimiter(settings.rate_limit_dir, name, per_minute)
    return pacers


def browser_config(settings: Settings) -> BrowserSearchConfig:
    return BrowserSearchConfig(
        executable=settings.browser_executable or system_file("chromium"),
        url_templates=settings.browser_search_templates,
        min_side=settings.browser_min_image_side,
        page_timeout_seconds=settings.browser_page_timeout_seconds,
    )


def wakeup_for(settings: Settings, runner: Runner) -> JobListener | RealtimeWakeup:
    """WORKER_WAKEUP: what wakes the runner before its poll does. `poll`: a listener that never
    starts (so /health says nothing is connected); the runner's poll runs in every mode."""
    if settings.worker_wakeup is WakeupMode.realtime:
        assert settings.supabase_url and settings.supabase_service_role_key  # settings validated
        return RealtimeWakeup(
            settings.supabase_url, settings.supabase_service_role_key.get_secret_value(), runner.wake
        )
    return JobListener(
        settings.database_url,
        runner.wake,
        listen_supported=not settings.uses_transaction_pooler,
        poll_only=settings.worker_wakeup is WakeupMode.poll,
    )


async def queue_is_drained(runner: Runner) -> bool:
    """No job this worker could run is due now (jobs waiting for a backoff do not count)."""
    due = await runner.queue.due_count(runner.kinds)
    return due == 0


async def run_worker(settings: Settings, *, once: bool = False) -> RunnerStats:
    """`imagefill run`: the long-running listener process (`--once`: until the queue is drained)."""
    async with open_worker(settings) as runner:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(log_loop_exception)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, runner.stop)
        logger.bind(worker_id=runner.queue.worker_id, concurrency=runner.concurrency).info("worker_started")
        log_stage_plan(settings)
        listener = wakeup_for(settings, runner)
        loop_lag = LoopLagMonitor()

        def snapshot() -> WorkerSnapshot:
            return WorkerSnapshot(
                worker_id=runner.queue.worker_id,
                listener_connected=listener.connected,
                listener_connections=listener.connections,
                wakeup=settings.worker_wakeup.value,
                stopping=runner.stopping,
                active_jobs=len(runner.active),
                concurrency=runner.concurrency,
                stats=runner.stats,
                loop_lag=loop_lag.histogram,
            )

        # Listed in this order so they close in reverse: the health server first, the lease
        # keeper last (leases must stay alive while in-flight jobs finish).
        async with (
            LeaseKeeper(runner),
            sweeper_for(runner, settings),
            loop_lag,
            listener,
            HealthServer(snapshot, settings.worker_health_port),
        ):
            await runner.run(until_idle=(lambda: queue_is_drained(runner)) if once else None)
        logger.bind(**runner.stats.__dict__).info("worker_stopped")
        return runner.stats
