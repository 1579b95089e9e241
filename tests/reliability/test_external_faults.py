"""Open Food Facts, the picture hosts and Storage misbehaving: every case ends in its documented
state with a last_error (or a review reason) a person can read, and retries keep their backoff."""

from __future__ import annotations

import itertools
import json
from typing import Any

import asyncpg

from tests.harness import MigratedDatabase, ean13, insert_products, wait_until
from tests.reliability.conftest import SpawnWorker, non_json_lines, report
from worker.offline.services import OfflineServices

TERMINAL = ("needs_review", "ok", "error")


async def _settle(conn: asyncpg.Connection, ids: list[str], within: float = 300) -> dict[str, dict[str, Any]]:
    async def done() -> bool:
        n = await conn.fetchval(
            "select count(*) from public.products"
            " where id = any($1::uuid[]) and image_status::text <> all($2)",
            ids,
            list(TERMINAL),
        )
        return n == 0

    await wait_until(done, within=within, interval=0.1)
    rows = await conn.fetch(
        "select p.id::text, p.image_status::text as status, p.image_candidate_urls as candidates,"
        " j.status::text as job_status, j.attempts, j.last_error,"
        " (select jsonb_agg(jsonb_build_object('stage', e.stage, 'outcome', e.outcome, 'detail', e.detail)"
        "         order by e.id) from public.image_job_events e where e.product_id = p.id) as events"
        " from public.products p join public.image_jobs j on j.product_id = p.id"
        " where p.id = any($1::uuid[])",
        ids,
    )
    return {
        r["id"]: {
            **dict(r),
            "candidates": json.loads(r["candidates"]),
            "events": json.loads(r["events"] or "[]"),
        }
        for r in rows
    }


async def test_open_food_facts_faults_end_in_documented_states(
    fresh_db: MigratedDatabase, services: OfflineServices, spawn_worker: SpawnWorker
) -> None:
    off = services.off
    assert off is not None
    codes = {
        name: ean13(i, "200")
        for i, name in enumerate(
            [
                "throttled",
                "error500",
                "hang",
                "empty",
                "html",
                "wrong_types",
                "oversized",
                "redirect_internal",
            ],
            1,
        )
    }
    off.always_fail[codes["error500"]] = 500
    off.raw[codes["throttled"]] = (429, b"", {"Retry-After": "1"})
    off.delays[codes["hang"]] = 3.0
    off.raw[codes["empty"]] = (200, b"", {"Content-Type": "application/json"})
    off.raw[codes["html"]] = (
        200,
        b"<html><body>manuten\xc3\xa7\xc3\xa3o</body></html>",
        {"Content-Type": "text/html"},
    )
    off.raw[codes["wrong_types"]] = (
        200,
        json.dumps({"status": 1, "product": {"brands": {"x": 1}}}).encode(),
        {"Content-Type": "application/json"},
    )
    off.raw[codes["oversized"]] = (
        200,
        b"{" + b" " * (3 * 1024 * 1024) + b"}",
        {"Content-Type": "application/json"},
    )
    off.raw[codes["redirect_internal"]] = (302, b"", {"Location": "http://169.254.169.254/latest/meta-data/"})

    conn = await asyncpg.connect(fresh_db.dsn)
    try:
        ids = await insert_products(conn, fresh_db.catalogue, [(n, c) for n, c in codes.items()])
        by_name = dict(zip(codes, ids, strict=True))
        worker = spawn_worker(
            fresh_db.dsn, OFF_TIMEOUT_SECONDS="1", OFF_MAX_RETRIES="1", WORKER_CONCURRENCY="8"
        )
        state = await _settle(conn, ids)
    finally:
        await conn.close()

    # Transient faults: retried until the attempts run out; the product shows `error` with a
    # last_error that names the fault and says no retry is coming.
    for name, expected in [
        ("throttled", "HTTP 429"),
        ("error500", "HTTP 500"),
        ("hang", "TimeoutError"),
        ("empty", "resposta vazia"),
        ("html", "não é JSON"),
    ]:
        row = state[by_name[name]]
        assert (row["status"], row["job_status"], row["attempts"]) == ("error", "failed", 5), (name, row)
        assert expected in row["last_error"] and "sem novas tentativas" in row["last_error"], (name, row)
        assert "tentará de novo" not in row["last_error"]
    # Unusable answers: stage 1 found nothing; a person decides, and the reason is on record.
    for name, expected in [
        ("wrong_types", "formato inesperado"),
        ("oversized", "grande demais"),
        ("redirect_internal", "bloqueado"),
    ]:
        row = state[by_name[name]]
        assert (row["status"], row["job_status"], row["attempts"]) == ("needs_review", "done", 1), (name, row)
        [off_event] = [e for e in row["events"] if e["stage"] == "openfoodfacts"]
        assert off_event["outcome"] == "invalid_response" and expected in off_event["detail"]["reason"], row
        assert "\n" not in off_event["detail"]["reason"] and len(off_event["detail"]["reason"]) < 300
    assert not non_json_lines(worker)
    report(
        "external_faults_off",
        products=len(codes),
        off_requests=len(off.requests),
        states={n: state[by_name[n]]["status"] for n in codes},
    )


async def test_picture_faults_retry_or_go_to_review(
    fresh_db: MigratedDatabase, services: OfflineServices, spawn_worker: SpawnWorker
) -> None:
    """Defect 7: a fault that may pass retries the job; only an unusable picture goes to review."""
    off = services.off
    assert off is not None and services.storage is not None
    base = services.image_base_url
    kinds = [
        "unavailable",
        "throttled",
        "reset",
        "slow",
        "html",
        "huge",
        "redirect-metadata",
        "redirect-loop",
    ]
    codes = {kind: ean13(i, "201") for i, kind in enumerate(kinds, 1)}
    for kind, code in codes.items():
        off.add_product(
            code,
            based_on="22007377",
            selected_images={},
            image_url=None,
            image_front_url=f"{base}/hostile/{kind}.jpg",
        )
    services.image_host.slow_seconds = 5
    services.storage.fail_uploads = 0

    conn = await asyncpg.connect(fresh_db.dsn)
    try:
        ids = await insert_products(conn, fresh_db.catalogue, [(k, c) for k, c in codes.items()])
        by_kind = dict(zip(codes, ids, strict=True))
        worker = spawn_worker(fresh_db.dsn, IMAGE_DOWNLOAD_TIMEOUT_SECONDS="1", WORKER_CONCURRENCY="8")
        state = await _settle(conn, ids)
    finally:
        await conn.close()

    for kind in ("unavailable", "throttled", "reset", "slow"):
        row = state[by_kind[kind]]
        assert (row["status"], row["job_status"], row["attempts"]) == ("error", "failed", 5), (kind, row)
        assert row["last_error"].startswith(("falha temporária", "tempo esgotado", "erro de rede")), row
        assert services.image_host.requests[f"/hostile/{kind}.jpg"] == 5, "one download per attempt"
    for kind, reason in [
        ("html", "HTML"),
        ("huge", "grande demais"),
        ("redirect-metadata", "169.254.169.254"),
        ("redirect-loop", "redirecionamentos demais"),
    ]:
        row = state[by_kind[kind]]
        assert (row["status"], row["job_status"], row["attempts"]) == ("needs_review", "done", 1), (kind, row)
        [candidate] = row["candidates"]
        assert candidate["usable"] is False and reason in candidate["reason"], (kind, candidate)
    assert not non_json_lines(worker)
    report(
        "external_faults_pictures",
        products=len(codes),
        states={k: state[by_kind[k]]["status"] for k in codes},
    )


async def test_retry_gaps_follow_the_backoff(
    fresh_db: MigratedDatabase, services: OfflineServices, spawn_worker: SpawnWorker
) -> None:
    """base x 2^(n-1), +/-20 %: each gap is at least 80 % of its step (never asserted from above:
    a slow machine may only make gaps longer)."""
    off = services.off
    assert off is not None
    code = ean13(1, "202")
    off.always_fail[code] = 503
    conn = await asyncpg.connect(fresh_db.dsn)
    try:
        [product_id] = await insert_products(conn, fresh_db.catalogue, [("Backoff", code)])
        await conn.execute(
            "update public.image_jobs set max_attempts = 3 where product_id = $1::uuid", product_id
        )
        spawn_worker(fresh_db.dsn, WORKER_RETRY_BACKOFF_SECONDS="1", OFF_MAX_RETRIES="0")
        await _settle(conn, [product_id], within=60)
    finally:
        await conn.close()
    times = [r.at for r in off.requests_for(code)]
    assert len(times) == 3
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[0] >= 0.8 * 1 and gaps[1] >= 0.8 * 2, gaps
    report("retry_backoff", base_seconds=1, gaps_seconds=[round(g, 2) for g in gaps])


async def test_storage_outage_is_retried_until_the_picture_lands(
    fresh_db: MigratedDatabase, services: OfflineServices, spawn_worker: SpawnWorker
) -> None:
    assert services.storage is not None
    services.storage.fail_uploads = 2
    spawn_worker(fresh_db.dsn)
    conn = await asyncpg.connect(fresh_db.dsn)
    try:
        [product_id] = await insert_products(conn, fresh_db.catalogue, [("Porto", "5601077161035")])
        candidates = await wait_until(
            lambda: conn.fetchval(
                "select image_candidate_urls from public.products where id = $1::uuid"
                " and image_status = 'needs_review'",
                product_id,
            )
        )
        url = json.loads(candidates)[0]["url"]
        await conn.execute("set role authenticated")
        await conn.execute(
            "select set_config('request.jwt.claims', $1, false)",
            json.dumps({"sub": "99999999-0000-0000-0000-0000000000aa", "role": "authenticated"}),
        )
        await conn.execute("select public.approve_product_image($1::uuid, $2)", product_id, url)
        await conn.execute("reset role")
        state = await _settle(conn, [product_id], within=60)
    finally:
        await conn.close()
    row = state[product_id]
    assert row["status"] == "ok"
    fails = [e for e in row["events"] if e["stage"] == "fail"]
    assert [e["outcome"] for e in fails] == ["retry"] * len(fails) and len(fails) >= 1
    assert "Supabase Storage" in fails[0]["detail"]["error"]
