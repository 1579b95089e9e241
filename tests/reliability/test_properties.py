"""Property tests (hypothesis) against the real SQL: GTIN normalization agrees between Python and
SQL on every input, and random interleavings of the job life cycle never reach an illegal state."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from tests.harness import MigratedDatabase, Templates
from worker.gtin import check_digit, normalize_gtin

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "eans.txt"
ALPHABET = "0123456789 \t\n.-_aX٣３\u00a0+"
PRODUCT = "70000000-0000-0000-0000-000000000001"
SLOW_OK = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]
OPERATOR = json.dumps({"sub": "99999999-0000-0000-0000-0000000000cc", "role": "authenticated"})


class SyncDb:
    """One connection driven from synchronous hypothesis code through a private event loop."""

    def __init__(self, dsn: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.conn: asyncpg.Connection = self.loop.run_until_complete(asyncpg.connect(dsn))

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def fetchval(self, sql: str, *args: Any) -> Any:
        return self.run(self.conn.fetchval(sql, *args))

    def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        return list(self.run(self.conn.fetch(sql, *args)))

    def execute(self, sql: str, *args: Any) -> None:
        self.run(self.conn.execute(sql, *args))

    def close(self) -> None:
        self.run(self.conn.close())
        self.loop.close()


@pytest.fixture(scope="module")
def sync_db(templates: Templates) -> Iterator[SyncDb]:
    db: MigratedDatabase = templates.fresh_database()
    # As the worker and the panel connect: the migration role, a member of service_role.
    sync = SyncDb(db.dsn)
    try:
        yield sync
    finally:
        sync.close()


def _corpus() -> list[str]:
    lines = [line for line in CORPUS.read_text().splitlines() if not line.startswith("#")]
    return [line.replace("\\t", "\t").replace("\\n", "\n").replace("\\u00a0", "\u00a0") for line in lines]


@st.composite
def gtin_like(draw: st.DrawFn) -> str:
    """Mostly right length and check digit, dressed with separators, sometimes one digit off."""
    length = draw(st.sampled_from([8, 12, 13, 14]))
    body = draw(st.text("0123456789", min_size=length - 1, max_size=length - 1))
    digit = check_digit(body)
    if draw(st.booleans()):
        digit = (digit + draw(st.integers(1, 9))) % 10
    out = []
    for ch in body + str(digit):
        out.append(ch)
        if draw(st.integers(0, 6)) == 0:
            out.append(draw(st.sampled_from([" ", "-", ".", "\t", "_", "\u00a0"])))
    return "".join(out)


def test_the_ean_corpus_agrees(sync_db: SyncDb) -> None:
    codes = _corpus()
    assert len(codes) >= 20
    sql = sync_db.fetch(
        "select public.normalize_gtin(c) as g from unnest($1::text[]) with ordinality u(c, n) order by n",
        codes,
    )
    assert [normalize_gtin(c) for c in codes] == [r["g"] for r in sql]


def test_gtin_normalization_agrees_between_python_and_sql(sync_db: SyncDb) -> None:
    seen_valid = []

    @settings(max_examples=300, deadline=None, database=None, suppress_health_check=SLOW_OK)
    @given(st.one_of(gtin_like(), st.text(ALPHABET, max_size=20)))
    def agrees(code: str) -> None:
        sql = sync_db.fetchval("select public.normalize_gtin($1)", code)
        assert normalize_gtin(code) == sql
        if sql is not None:
            seen_valid.append(sql)

    agrees()
    assert len(seen_valid) > 20, "the generator reaches valid codes too"


class JobLifecycle(RuleBasedStateMachine):
    """Two workers and a person act on one product in any order; time passes (leases expire).
    The model keeps only what a worker believes (the jobs it claimed, with their payloads) and
    the person's latest approval; the database must stay legal and honour that approval."""

    db: SyncDb

    def __init__(self) -> None:
        super().__init__()
        self.db.execute(
            "truncate public.image_jobs, public.image_job_events, public.image_rejected_candidates cascade"
        )
        self.db.execute("delete from public.products")
        self.db.execute(
            "insert into public.products (id, name, ean) values ($1::uuid, 'Produto', '7891000100103')",
            PRODUCT,
        )
        # worker -> job id -> (kind, product, payload as claimed), in claim order: draws pick by
        # position, never by the (random) job id, so hypothesis can replay and shrink a run.
        self.held: dict[str, dict[str, tuple[str, str, dict[str, Any]]]] = {"w1": {}, "w2": {}}
        self.latest_approval: str | None = None
        self.stored_approvals: list[tuple[str, str | None]] = []

    def _as_operator(self, sql: str, *args: Any) -> Any:
        async def call() -> Any:
            async with self.db.conn.transaction():
                await self.db.conn.execute("set local role authenticated")
                await self.db.conn.execute("select set_config('request.jwt.claims', $1, true)", OPERATOR)
                return await self.db.conn.fetchval(sql, *args)

        return self.db.run(call())

    def _worker_call(self, worker: str, sql: str, *args: Any) -> str:
        """Runs a worker function; 'lease_lost' when the SQL refuses (IF001)."""
        try:
            return str(self.db.fetchval(sql, *args))
        except asyncpg.PostgresError as exc:
            if exc.sqlstate == "IF001":
                return "lease_lost"
            raise

    @rule(worker=st.sampled_from(["w1", "w2"]))
    def claim(self, worker: str) -> None:
        for row in self.db.fetch("select * from imagefill.claim_image_jobs($1, 2, 60)", worker):
            self.held[worker][str(row["job_id"])] = (
                row["kind"],
                str(row["product_id"]),
                json.loads(row["payload"]),
            )

    @rule(worker=st.sampled_from(["w1", "w2"]))
    def renew(self, worker: str) -> None:
        ids = list(self.held[worker])
        if ids:
            kept = {
                str(r["id"])
                for r in self.db.fetch(
                    "select imagefill.extend_image_job_leases($1, $2::uuid[], 60) as id", worker, ids
                )
            }
            for job_id in set(ids) - kept:
                del self.held[worker][job_id]

    @rule(worker=st.sampled_from(["w1", "w2"]), data=st.data())
    def complete(self, worker: str, data: st.DataObject) -> None:
        if not self.held[worker]:
            return
        job_id = data.draw(st.sampled_from(list(self.held[worker])))
        kind, _product, payload = self.held[worker].pop(job_id)
        if kind == "approve":
            url, status = f"stored:{payload['url']}", "ok"
            args: tuple[Any, ...] = (job_id, worker, status, url, "manual", 1)
        else:
            status = data.draw(st.sampled_from(["ok", "needs_review"]))
            args = (job_id, worker, status) + (
                (f"stored:auto-{job_id}", "openfoodfacts", 0.9) if status == "ok" else (None, None, None)
            )
        result = self._worker_call(
            worker,
            "select (j).status::text from (select imagefill.complete_image_job($1::uuid, $2,"
            " $3::public.image_status, $4, $5::public.image_source, $6, p_payload => $7::jsonb) as j) x",
            *args,
            json.dumps(payload),
        )
        if kind == "approve" and result == "done":
            self.stored_approvals.append((payload["url"], self.latest_approval))

    @rule(worker=st.sampled_from(["w1", "w2"]), data=st.data())
    def complete_together(self, worker: str, data: st.DataObject) -> None:
        """Several held jobs recorded in one call, as the worker's group commit does."""
        if not self.held[worker]:
            return
        chosen = data.draw(
            st.lists(st.sampled_from(list(self.held[worker])), min_size=1, max_size=3, unique=True)
        )
        items = []
        for job_id in chosen:
            kind, _product, payload = self.held[worker].pop(job_id)
            if kind == "approve":
                outcome: dict[str, Any] = {"image_status": "ok", "image_url": f"stored:{payload['url']}"}
                outcome.update(image_source="manual", image_confidence=1)
            elif data.draw(st.booleans()):
                outcome = {"image_status": "ok", "image_url": f"stored:auto-{job_id}"}
                outcome.update(image_source="openfoodfacts", image_confidence=0.9)
            else:
                outcome = {"image_status": "needs_review"}
            items.append({"job_id": job_id, "payload": payload, **outcome})
        rows = self.db.fetch(
            "select job_id::text, outcome, error_code from imagefill.complete_image_jobs($1, $2::jsonb)",
            worker,
            json.dumps(items),
        )
        answers = {r["job_id"]: r for r in rows}
        assert set(answers) == set(chosen), "one answer per job"
        for item in items:
            answer = answers[item["job_id"]]
            assert answer["error_code"] in (None, "IF001"), answer
            approved = item.get("image_source") == "manual"
            if approved and answer["error_code"] is None and answer["outcome"] != "superseded":
                self.stored_approvals.append((item["payload"]["url"], self.latest_approval))

    @rule(worker=st.sampled_from(["w1", "w2"]), retryable=st.booleans(), data=st.data())
    def fail(self, worker: str, retryable: bool, data: st.DataObject) -> None:
        if not self.held[worker]:
            return
        job_id = data.draw(st.sampled_from(list(self.held[worker])))
        _kind, _product, payload = self.held[worker].pop(job_id)
        self._worker_call(
            worker,
            "select (imagefill.fail_image_job($1::uuid, $2, 'falhou', $3, p_backoff_base_seconds => 0,"
            " p_payload => $4::jsonb)).status",
            job_id,
            worker,
            retryable,
            json.dumps(payload),
        )

    @rule(worker=st.sampled_from(["w1", "w2"]), data=st.data())
    def release(self, worker: str, data: st.DataObject) -> None:
        if not self.held[worker]:
            return
        job_id = data.draw(st.sampled_from(list(self.held[worker])))
        self.held[worker].pop(job_id)
        self._worker_call(worker, "select (imagefill.release_image_job($1::uuid, $2)).status", job_id, worker)

    @rule()
    def leases_expire(self) -> None:
        """Time passes: every running lease runs out (the workers do not know yet)."""
        self.db.execute(
            "update public.image_jobs set locked_until = now() - interval '1 second' where status = 'running'"
        )

    @rule()
    def sweep(self) -> None:
        self.db.fetchval("select imagefill.fail_exhausted_leases()")

    @rule(
        url=st.sampled_from(
            ["https://img.example/a.jpg", "https://img.example/b.jpg", "https://img.example/c.jpg"]
        )
    )
    def approve(self, url: str) -> None:
        self._as_operator("select public.approve_product_image($1::uuid, $2)", PRODUCT, url)
        self.latest_approval = url

    @rule(retry=st.booleans())
    def reject(self, retry: bool) -> None:
        self._as_operator(
            "select public.reject_product_image($1::uuid, 'não é o produto', $2)", PRODUCT, retry
        )

    @rule(force=st.booleans())
    def enqueue(self, force: bool) -> None:
        self._as_operator("select public.enqueue_product_image($1::uuid, $2)", PRODUCT, force)

    @invariant()
    def the_database_stays_legal(self) -> None:
        problems = self.db.fetch(
            """
            select 'two active jobs of one kind' as problem from public.image_jobs
             where status in ('queued', 'running') group by product_id, kind having count(*) > 1
            union all
            select 'running without a lease' from public.image_jobs
             where status = 'running' and (locked_by is null or locked_until is null)
            union all
            select 'lease on a job that is not running' from public.image_jobs
             where status <> 'running' and locked_by is not null
            union all
            select 'more attempts than allowed' from public.image_jobs where attempts > max_attempts
            union all
            select 'finished without finished_at' from public.image_jobs
             where status in ('done', 'failed') and finished_at is null
            union all
            select 'completed twice' from public.image_job_events
             where stage = 'complete' and outcome <> 'superseded' group by job_id having count(*) > 1
            union all
            select 'fetching with no job at work' from public.products p
             where p.image_status = 'fetching' and not exists (
               select 1 from public.image_jobs j
                where j.product_id = p.id and j.status in ('queued', 'running'))
            union all
            select 'ok without provenance' from public.products
             where image_status = 'ok' and (image_url is null or image_source is null
                   or image_confidence is null or image_updated_at is null)
            """
        )
        assert [p["problem"] for p in problems] == []

    @invariant()
    def a_stored_approval_is_the_latest_decision(self) -> None:
        for stored, latest in self.stored_approvals:
            assert stored == latest, f"approval {stored} stored while the latest decision was {latest}"


def test_job_lifecycle_never_reaches_an_illegal_state(sync_db: SyncDb) -> None:
    JobLifecycle.db = sync_db
    run_state_machine_as_test(
        JobLifecycle,
        settings=settings(
            max_examples=40,
            stateful_step_count=30,
            deadline=None,
            database=None,
            suppress_health_check=SLOW_OK,
        ),
    )
