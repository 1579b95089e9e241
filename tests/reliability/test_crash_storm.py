"""Crash storm: three `imagefill run` processes share a few hundred enrich and approve jobs while
one of them is killed with SIGKILL every ~2 s and started again. Nothing may be lost, nothing
completed twice, no product left `fetching`, and every stored picture must match its URL's hash.

Default: 300 jobs, ~16 s of kills. IMAGEFILL_HEAVY=1: 1200 jobs, ~60 s of kills."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import signal
import time
from urllib.parse import parse_qs, urlsplit

import asyncpg

from tests.harness import MigratedDatabase, ean13, wait_until
from tests.reliability.conftest import HEAVY, SpawnWorker, log_events, non_json_lines, report
from worker.offline.services import OfflineServices

JOBS = 1200 if HEAVY else 300
STORM_SECONDS = 60.0 if HEAVY else 16.0
KILL_EVERY = 2.0
OPERATOR = json.dumps({"sub": "99999999-0000-0000-0000-0000000000bb", "role": "authenticated"})


async def _enqueue(
    conn: asyncpg.Connection, db: MigratedDatabase, services: OfflineServices
) -> dict[str, str]:
    """Half enrichments (OFF products), half approvals (a third of them approved twice, the second
    decision arriving while the first may already run). Returns product id -> expected final URL."""
    assert services.off is not None
    base = services.image_base_url
    enrich = JOBS // 2
    codes = [ean13(i, "300") for i in range(enrich)]
    for code in codes:
        services.off.add_product(code, based_on="22007377")
        services.off.delays[code] = random.uniform(0.3, 1.0)
    await conn.executemany(
        "insert into public.products (name, ean) values ($1, $2)", [(f"Enriquecer {c}", c) for c in codes]
    )
    approvals = JOBS - enrich
    rows = await conn.fetch(
        "insert into public.products (name, image_status, image_candidate_urls)"
        " select 'Aprovar ' || i, 'needs_review',"
        "   jsonb_build_array("
        "     jsonb_build_object('url', $1 || '/static/a' || i || '.jpg', 'source', 'search_api'),"
        "     jsonb_build_object('url', $1 || '/static/b' || i || '.jpg', 'source', 'search_api'))"
        " from generate_series(1, $2) i returning id::text, name",
        base,
        approvals,
    )
    expected: dict[str, str] = {}
    await conn.execute("set role authenticated")
    await conn.execute("select set_config('request.jwt.claims', $1, false)", OPERATOR)
    for row in rows:
        i = row["name"].split()[-1]
        await conn.execute(
            "select public.approve_product_image($1::uuid, $2)", row["id"], f"{base}/static/a{i}.jpg"
        )
        expected[row["id"]] = f"{base}/static/a{i}.jpg"
    await conn.execute("reset role")
    return expected


async def _approve_again(conn: asyncpg.Connection, expected: dict[str, str], base: str) -> None:
    await conn.execute("set role authenticated")
    await conn.execute("select set_config('request.jwt.claims', $1, false)", OPERATOR)
    for product_id, url in list(expected.items())[::3]:
        second = url.replace("/static/a", "/static/b")
        await conn.execute("select public.approve_product_image($1::uuid, $2)", product_id, second)
        expected[product_id] = second
    await conn.execute("reset role")


async def test_crash_storm_loses_nothing_and_completes_nothing_twice(
    fresh_db: MigratedDatabase, services: OfflineServices, spawn_worker: SpawnWorker
) -> None:
    assert services.storage is not None and services.off is not None
    services.image_host.latency_seconds = 0.2
    services.storage.latency_seconds = 0.1
    env = {
        "WORKER_CONCURRENCY": "5",
        "WORKER_LEASE_SECONDS": "10",
        "WORKER_SWEEP_SECONDS": "2",
        "WORKER_POLL_SECONDS": "1",
    }
    workers = [spawn_worker(fresh_db.dsn, **env) for _ in range(3)]
    for worker in workers:
        await wait_until(lambda w=worker: asyncio.sleep(0, "listener_connected" in w.log()), within=60)

    conn = await asyncpg.connect(fresh_db.dsn)
    try:
        started = time.monotonic()
        expected = await _enqueue(conn, fresh_db, services)
        await asyncio.sleep(0.5)
        await _approve_again(conn, expected, services.image_base_url)

        kills = 0
        rng = random.Random(9)
        storm_end = time.monotonic() + STORM_SECONDS
        while time.monotonic() < storm_end:
            await asyncio.sleep(KILL_EVERY)
            victim = rng.randrange(len(workers))
            workers[victim].proc.send_signal(signal.SIGKILL)
            workers[victim].proc.wait(timeout=10)
            kills += 1
            workers[victim] = spawn_worker(fresh_db.dsn, **env)

        async def drained() -> bool:
            active = await conn.fetchval(
                "select count(*) from public.image_jobs where status in ('queued', 'running')"
            )
            return active == 0

        await wait_until(drained, within=300, interval=0.25)
        drain_seconds = time.monotonic() - started

        jobs = await conn.fetch(
            "select id, kind::text, status::text, attempts, product_id::text, result from public.image_jobs"
        )
        products = await conn.fetch(
            "select id::text, image_status::text, image_url, image_source::text from public.products"
        )
        superseded = await conn.fetchval(
            "select count(*) from public.image_job_events where stage = 'complete' and outcome = 'superseded'"
        )
        completions = await conn.fetch(
            "select job_id, count(*) as n from public.image_job_events where stage = 'complete'"
            " and outcome <> 'superseded' group by job_id"
        )
    finally:
        await conn.close()

    # Every job terminal, none completed twice.
    assert {j["status"] for j in jobs} <= {"done", "failed"}
    assert len(jobs) >= JOBS
    duplicates = sum(1 for c in completions if c["n"] > 1)
    assert duplicates == 0
    done = {j["id"] for j in jobs if j["status"] == "done"}
    assert {c["job_id"] for c in completions} == done, "every done job has exactly one completion"

    # No product left in flight; every approval ended with its person's latest decision.
    by_status: dict[str, int] = {}
    for p in products:
        by_status[p["image_status"]] = by_status.get(p["image_status"], 0) + 1
    assert "fetching" not in by_status and "missing" not in by_status, by_status
    results = {j["product_id"]: json.loads(j["result"] or "{}") for j in jobs if j["kind"] == "approve"}
    for p in products:
        if p["id"] not in expected:
            assert p["image_status"] in ("needs_review", "error"), p
            continue
        if p["image_status"] != "ok":
            assert p["image_status"] == "needs_review", p  # exhausted: back to review
            continue
        assert results[p["id"]].get("original_url") == expected[p["id"]], "the latest decision won"
        # The stored objects exist and match the URL's ?v= hash.
        version = parse_qs(urlsplit(p["image_url"]).query)["v"][0]
        main = services.storage.objects[("product-images", f"products/{p['id']}/main.jpg")]
        assert ("product-images", f"products/{p['id']}/thumb_256.jpg") in services.storage.objects
        assert hashlib.sha256(main.data).hexdigest().startswith(version)

    survivors = [w for w in workers if w.proc.poll() is None]
    assert len(survivors) == 3
    assert not non_json_lines(*survivors)
    events = log_events(*survivors)
    report(
        "crash_storm",
        jobs=len(jobs),
        kills=kills,
        duplicates=duplicates,
        drain_seconds=round(drain_seconds, 1),
        ok=by_status.get("ok", 0),
        needs_review=by_status.get("needs_review", 0),
        error=by_status.get("error", 0),
        failed_jobs=sum(1 for j in jobs if j["status"] == "failed"),
        max_attempts_used=max(j["attempts"] for j in jobs),
        superseded=superseded,
        lease_lost_in_survivors=sum(1 for e in events if e.get("event", "").startswith("lease_lost")),
    )
