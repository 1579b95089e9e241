"""Audit of automatic approvals through its SQL functions, as the panel calls them: the list, confirm,
undo (the product back through the pipeline, the picture rejected), a person's approval left alone,
the race with a new automatic approval, the stratified sample and the measured precision."""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from tests.audit_history import NOT_OPERATOR, as_operator, generate_history
from tests.harness import MigratedDatabase, ean13, insert_products


async def claim(worker: asyncpg.Connection, product_id: str) -> asyncpg.Record:
    """Claims the product's job for worker 'w'; any other job claimed on the way goes back to the queue."""
    jobs = await worker.fetch("select * from imagefill.claim_image_jobs('w', 100, 600)")
    await worker.execute(
        "update public.image_jobs set status = 'queued', locked_by = null, locked_until = null"
        " where id = any($1::uuid[])",
        [j["job_id"] for j in jobs if j["product_id"] != product_id],
    )
    [job] = [j for j in jobs if j["product_id"] == product_id]
    return job


async def auto_approve(
    worker: asyncpg.Connection,
    product_id: str,
    original: str,
    source: str = "openfoodfacts",
    confidence: float = 0.91,
    reason: str = "mesmo produto, mesma embalagem",
    page_host: str | None = None,
    batched: bool = False,
) -> Any:
    """The worker's real completion of an enrich job that stored `original` (one call or batched)."""
    job = await claim(worker, product_id)
    stored = f"https://storage.example/product-images/products/{product_id}/main.jpg"
    result: dict[str, object] = {"original_url": original}
    if page_host:
        result |= {"page_url": f"https://{page_host}/p", "page_host": page_host}
    candidates = [
        {"url": original, "source": source, "confidence": confidence, "reason": reason, "dhash": "ab" * 8}
    ]
    if batched:
        item = {
            "job_id": str(job["job_id"]),
            "image_status": "ok",
            "image_url": stored,
            "image_source": source,
            "image_confidence": confidence,
            "candidates": candidates,
            "events": [],
            "result": result,
            "payload": json.loads(job["payload"]),
        }
        rows = await worker.fetch(
            "select * from imagefill.complete_image_jobs('w', $1::jsonb)", json.dumps([item])
        )
        assert rows[0]["error_code"] is None, rows
    else:
        await worker.execute(
            "select imagefill.complete_image_job($1, 'w', 'ok', $2, $3::public.image_source, $4,"
            " p_candidates => $5::jsonb, p_result => $6::jsonb)",
            job["job_id"],
            stored,
            source,
            confidence,
            json.dumps(candidates),
            json.dumps(result),
        )
    return job["job_id"]


async def audit_list(
    panel: asyncpg.Connection, mode: str = "sample", limit: int = 20
) -> list[asyncpg.Record]:
    return list(await panel.fetch("select * from public.image_audit_queue($1, $2)", mode, limit))


@pytest.fixture
async def pair(fresh_db: MigratedDatabase) -> Any:
    worker = await asyncpg.connect(fresh_db.dsn)
    panel = await asyncpg.connect(fresh_db.dsn)
    await as_operator(panel)
    yield worker, panel
    await worker.close()
    await panel.close()


async def test_automatic_approvals_are_listed_newest_first_and_a_persons_approval_is_not(
    fresh_db: MigratedDatabase, pair: Any
) -> None:
    worker, panel = pair
    cat = fresh_db.catalogue
    ids = await insert_products(
        worker, cat, [("Suco de uva 1L", ean13(601)), ("Biscoito", ean13(602)), ("Café 500g", ean13(603))]
    )
    await worker.execute(
        f"update {cat.qualified} set {cat.brand} = 'Aurora' where {cat.id}::text = $1", ids[0]
    )
    await auto_approve(worker, ids[0], "https://images.openfoodfacts.org/a.jpg", confidence=0.97)
    await auto_approve(
        worker,
        ids[1],
        "https://cdn.loja.example/b.jpg",
        source="search_api",
        confidence=0.83,
        reason="rótulo e marca conferem",
        page_host="www.loja.example",
        batched=True,
    )
    # A person approves the third product's picture: never an automatic approval.
    await worker.execute(
        "update public.image_jobs set status = 'done', finished_at = now() where product_id::text = $1",
        ids[2],
    )
    await panel.fetchval("select public.approve_product_image($1::uuid, 'https://x.example/c.jpg')", ids[2])
    job = await claim(worker, ids[2])
    await worker.execute(
        "select imagefill.complete_image_job($1, 'w', 'ok', 'https://storage.example/c.jpg', 'manual', 1,"
        ' p_result => \'{"original_url": "https://x.example/c.jpg"}\'::jsonb, p_payload => $2::jsonb)',
        job["job_id"],
        job["payload"],
    )

    rows = await audit_list(panel, "all")
    assert [str(r["product_id"]) for r in rows] == [ids[1], ids[0]]
    search, off = rows
    assert (search["source"], search["site"], float(search["confidence"]), float(search["band"])) == (
        "search_api",
        "www.loja.example",
        0.83,
        0.80,
    )
    assert search["reason"] == "rótulo e marca conferem"
    assert search["original_url"] == "https://cdn.loja.example/b.jpg"
    assert search["image_url"].endswith(f"/products/{ids[1]}/main.jpg")
    assert (off["source"], off["site"], off["name"], off["brand"], off["ean"]) == (
        "openfoodfacts",
        None,
        "Suco de uva 1L",
        "Aurora",
        ean13(601),
    )
    assert off["is_current"] and off["verdict"] is None
    # Two approvals in a week with a minimum of 20: both are in the sample.
    assert [r["approval_id"] for r in await audit_list(panel)] == [search["approval_id"], off["approval_id"]]
    page2 = await panel.fetch(
        "select * from public.image_audit_queue('all', 1, $1, $2)",
        search["approved_at"],
        search["approval_id"],
    )
    assert [r["approval_id"] for r in page2] == [off["approval_id"]]


async def test_confirm_records_the_verdict_and_undo_sends_the_product_back_without_the_picture(
    fresh_db: MigratedDatabase, pair: Any
) -> None:
    worker, panel = pair
    cat = fresh_db.catalogue
    ids = await insert_products(worker, cat, [("Arroz 1kg", ean13(611)), ("Feijão 1kg", ean13(612))])
    await auto_approve(worker, ids[0], "https://images.openfoodfacts.org/arroz.jpg")
    await auto_approve(worker, ids[1], "https://cdn.loja.example/feijao-errado.jpg", source="search_api")
    by_product = {str(r["product_id"]): r for r in await audit_list(panel)}

    confirmed = json.loads(
        await panel.fetchval("select public.confirm_auto_approval($1)", by_product[ids[0]]["approval_id"])
    )
    assert confirmed["verdict"] == "confirmed"
    undone = json.loads(
        await panel.fetchval(
            "select public.undo_auto_approval($1, 'outra marca')", by_product[ids[1]]["approval_id"]
        )
    )
    assert (undone["verdict"], undone["superseded"], undone["status"]) == ("wrong", False, "missing")

    product = await worker.fetchrow(
        f"select image_status::text, image_url, image_reviewed_by from {cat.qualified}"
        f" where {cat.id}::text = $1",
        ids[1],
    )
    assert tuple(product) == ("missing", None, None)
    job = await worker.fetchrow(
        "select id, kind::text, status::text from public.image_jobs where product_id::text = $1"
        " and status = 'queued'",
        ids[1],
    )
    assert (job["kind"], job["status"], str(job["id"])) == ("enrich", "queued", undone["job_id"])
    # The worker is told, with the job, that this picture is refused for the product.
    claimed = await claim(worker, ids[1])
    assert claimed["rejected_urls"] == ["https://cdn.loja.example/feijao-errado.jpg"]
    hashes = await worker.fetchval("select imagefill.rejected_picture_hashes($1)", ids[1])
    assert hashes == ["ab" * 8]
    # The confirmed one kept its picture; both verdicts are in the trail and out of the sample.
    assert (
        await worker.fetchval(
            f"select image_status::text from {cat.qualified} where {cat.id}::text = $1", ids[0]
        )
        == "ok"
    )
    events = await worker.fetch(
        "select outcome, detail from public.image_job_events where stage = 'audit' order by id"
    )
    assert [e["outcome"] for e in events] == ["confirmed", "wrong"]
    assert json.loads(events[1]["detail"])["reason"] == "outra marca"
    assert await audit_list(panel) == []
    with pytest.raises(asyncpg.PostgresError, match="já foi desfeita como errada") as refused:
        await panel.fetchval("select public.confirm_auto_approval($1)", by_product[ids[1]]["approval_id"])
    assert refused.value.sqlstate == "IF021"
    with pytest.raises(asyncpg.PostgresError, match="não encontrada") as missing:
        await panel.fetchval("select public.undo_auto_approval(987654321)")
    assert missing.value.sqlstate == "P0002"


async def test_undo_is_refused_when_a_person_chose_the_products_picture(
    fresh_db: MigratedDatabase, pair: Any
) -> None:
    worker, panel = pair
    cat = fresh_db.catalogue
    [pid] = await insert_products(worker, cat, [("Leite 1L", ean13(621))])
    await auto_approve(worker, pid, "https://images.openfoodfacts.org/leite.jpg")
    [approval] = await audit_list(panel)
    # A person then picks another picture in the review (an approve job the worker stores).
    await panel.fetchval("select public.approve_product_image($1::uuid, 'https://x.example/leite.jpg')", pid)
    job = await claim(worker, pid)
    await worker.execute(
        "select imagefill.complete_image_job($1, 'w', 'ok', 'https://storage.example/l.jpg', 'manual', 1,"
        " p_payload => $2::jsonb)",
        job["job_id"],
        job["payload"],
    )
    with pytest.raises(asyncpg.PostgresError, match="aprovada por uma pessoa") as refused:
        await panel.fetchval("select public.undo_auto_approval($1)", approval["approval_id"])
    assert refused.value.sqlstate == "IF020"
    row = await worker.fetchrow(
        f"select image_status::text, image_url from {cat.qualified} where {cat.id}::text = $1", pid
    )
    assert tuple(row) == ("ok", "https://storage.example/l.jpg")
    assert await worker.fetchval("select count(*) from public.image_rejected_candidates") == 0


async def test_audit_functions_refuse_anon_and_non_operators(fresh_db: MigratedDatabase) -> None:
    conn = await asyncpg.connect(fresh_db.dsn)
    try:
        calls = [
            "select * from public.image_audit_queue()",
            "select public.confirm_auto_approval(1)",
            "select public.undo_auto_approval(1)",
            "select * from public.image_audit_precision()",
            "select * from public.image_audit_threshold()",
        ]
        await conn.execute("set role anon")
        for call in calls:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch(call)
        await conn.execute("reset role")
        await as_operator(conn, NOT_OPERATOR)
        for call in calls:
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="Acesso negado"):
                await conn.fetch(call)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("select * from imagefill.audit_settings")
    finally:
        await conn.close()


@pytest.mark.parametrize("undo_first", [True, False], ids=["undo-commits-first", "approval-commits-first"])
async def test_an_undo_racing_a_new_automatic_approval_loses_nothing(
    fresh_db: MigratedDatabase, pair: Any, undo_first: bool
) -> None:
    worker, panel = pair
    cat = fresh_db.catalogue
    [pid] = await insert_products(worker, cat, [("Azeite 500ml", ean13(631))])
    await auto_approve(worker, pid, "https://images.openfoodfacts.org/azeite-errado.jpg")
    [first] = await audit_list(panel)
    # A forced re-run is already running when the operator presses X.
    await worker.execute("select public.enqueue_product_image($1::uuid, true)", pid)
    job = await claim(worker, pid)
    newer = "https://cdn.loja.example/azeite-certo.jpg"
    complete = (
        "select imagefill.complete_image_job($1, 'w', 'ok', 'https://storage.example/az.jpg',"
        " 'search_api', 0.9, p_candidates => $2::jsonb, p_result => $3::jsonb, p_payload => $4::jsonb)"
    )
    args = (
        job["job_id"],
        json.dumps([{"url": newer, "source": "search_api", "confidence": 0.9, "reason": "confere"}]),
        json.dumps({"original_url": newer, "page_host": "loja.example"}),
        job["payload"],
    )
    undo = "select public.undo_auto_approval($1)"
    first_tx = panel.transaction() if undo_first else worker.transaction()
    await first_tx.start()
    if undo_first:
        await panel.fetchval(undo, first["approval_id"])
        second = asyncio.ensure_future(worker.fetchval(complete, *args))
    else:
        await worker.fetchval(complete, *args)
        second = asyncio.ensure_future(panel.fetchval(undo, first["approval_id"]))
    # The second one waits for the product's row lock held by the first.
    other = asyncpg.connect(fresh_db.dsn)
    observer = await other
    try:

        async def blocked() -> bool:
            return bool(
                await observer.fetchval(
                    "select count(*) from pg_stat_activity where wait_event_type = 'Lock'"
                    " and datname = current_database()"
                )
            )

        for _ in range(500):
            if await blocked():
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the second call never waited for the first")
        await first_tx.commit()
        answer = await second
    finally:
        await observer.close()

    product = await worker.fetchrow(
        f"select image_status::text, image_url, image_source::text from {cat.qualified}"
        f" where {cat.id}::text = $1",
        pid,
    )
    # Either way the later automatic picture is the product's, and the wrong one stays rejected.
    assert tuple(product) == ("ok", "https://storage.example/az.jpg", "search_api")
    assert await worker.fetchval(
        "select array_agg(url) from public.image_rejected_candidates where product_id::text = $1", pid
    ) == ["https://images.openfoodfacts.org/azeite-errado.jpg"]
    approvals = await worker.fetch(
        "select original_url, verdict from public.image_auto_approvals order by id"
    )
    assert [(a["original_url"], a["verdict"]) for a in approvals] == [
        ("https://images.openfoodfacts.org/azeite-errado.jpg", "wrong"),
        (newer, None),
    ]
    trail = await worker.fetch(
        "select stage, outcome, detail from public.image_job_events"
        " where product_id::text = $1 and stage in ('audit', 'complete') order by id",
        pid,
    )
    steps = [(e["stage"], e["outcome"]) for e in trail][1:]
    if undo_first:
        assert steps == [("audit", "wrong"), ("complete", "ok")]
    else:
        assert steps == [("complete", "ok"), ("audit", "wrong")]
        assert json.loads(answer)["superseded"] is True
        assert json.loads(trail[-1]["detail"])["superseded"] is True
    # The newer approval is the one left to audit.
    assert [r["original_url"] for r in await audit_list(panel)] == [newer]


BANDS = (0.80, 0.85, 0.90, 0.95)
SOURCES = ("openfoodfacts", "search_api", "browser")


async def test_the_sample_is_proportional_per_stratum_with_the_weekly_minimum(
    fresh_db: MigratedDatabase, pair: Any
) -> None:
    worker, panel = pair
    rng = random.Random(19)
    monday = datetime(2026, 10, 5, tzinfo=UTC)
    # Ten weeks: nine busy ones (~1,100 approvals) and a quiet one (100), uneven strata.
    weights = {
        (s, b): w
        for (s, b), w in zip(
            [(s, b) for s in SOURCES for b in BANDS], [2, 3, 5, 30, 3, 4, 8, 15, 1, 2, 3, 24], strict=True
        )
    }
    rows = []
    for week in range(10):
        size = 100 if week == 3 else 1100
        for _ in range(size):
            source, band = rng.choices(list(weights), weights=list(weights.values()))[0]
            confidence = round(band + rng.uniform(0, 0.0499), 3)
            rows.append((source, confidence, monday + timedelta(weeks=week, seconds=rng.uniform(0, 604_799))))
    assert len(rows) == 10_000
    await generate_history(worker, fresh_db.catalogue, rows)

    sample: list[asyncpg.Record] = []
    cursor: tuple[Any, Any] = (None, None)
    while True:
        page = await panel.fetch("select * from public.image_audit_queue('sample', 200, $1, $2)", *cursor)
        sample += page
        if len(page) < 200:
            break
        cursor = (page[-1]["approved_at"], page[-1]["approval_id"])
    keys = [(r["approved_at"], r["approval_id"]) for r in sample]
    assert keys == sorted(keys, reverse=True) and len(set(keys)) == len(keys)

    def week_of(at: datetime) -> int:
        return (at - monday) // timedelta(weeks=1)

    def band_of(confidence: float) -> float:
        return min(round(math.floor(round(confidence * 20, 6)) / 20, 2), 0.95)

    population = Counter((week_of(at), s, band_of(c)) for s, c, at in rows)
    drawn = Counter((week_of(r["approved_at"]), r["source"], float(r["band"])) for r in sample)
    for week in range(10):
        total = sum(n for (w, *_), n in population.items() if w == week)
        got = sum(n for (w, *_), n in drawn.items() if w == week)
        assert got >= 20, f"week {week}: {got} < weekly minimum"
        rate = max(0.05, 20 / total)
        for (w, s, b), n in population.items():
            if w != week:
                continue
            expected = min(n, max(math.ceil(0.05 * n), math.ceil(20 * n / total)))
            assert drawn[(w, s, b)] == expected, (w, s, b, n)
            assert abs(drawn[(w, s, b)] / n - rate) <= 1 / n + 1e-9
    # Over the whole history each stratum's share of the sample is within 2.5 points of its share
    # of the approvals (the ceilings give each of the 12 strata up to one extra pick a week, on
    # ~60 picks: rare strata are a little over-represented, never missing).
    for stratum in weights:
        share_population = sum(n for (w, s, b), n in population.items() if (s, b) == stratum) / len(rows)
        share_sample = sum(n for (w, s, b), n in drawn.items() if (s, b) == stratum) / len(sample)
        assert abs(share_population - share_sample) < 0.025, stratum
    # The sample is stable: the same call gives the same rows; `all` shows the rest too.
    again = await panel.fetch("select approval_id from public.image_audit_queue('sample', 200)")
    assert [r["approval_id"] for r in again] == [r["approval_id"] for r in sample[:200]]
    everything = await panel.fetch("select in_sample from public.image_audit_queue('all', 200)")
    assert len(everything) == 200 and 0 < sum(r["in_sample"] for r in everything) < 200


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


async def test_precision_per_source_and_band_with_wilson_interval_and_a_suggested_threshold(
    fresh_db: MigratedDatabase, pair: Any
) -> None:
    worker, panel = pair
    at = datetime(2026, 11, 2, 12, tzinfo=UTC)
    # openfoodfacts 0.95: 300 (all right); search_api 0.85: 30 (27 right); search_api 0.80: 10 (6 right).
    history = (
        [("openfoodfacts", 0.97, at)] * 300
        + [("search_api", 0.87, at)] * 30
        + [("search_api", 0.81, at)] * 10
    )
    await generate_history(worker, fresh_db.catalogue, history)
    wrong = {("search_api", 0.85): 3, ("search_api", 0.80): 4}
    await worker.execute("update imagefill.audit_settings set sample_rate = 1")
    items = await panel.fetch("select * from public.image_audit_queue('sample', 200)")
    items += await panel.fetch(
        "select * from public.image_audit_queue('sample', 200, $1, $2)",
        items[-1]["approved_at"],
        items[-1]["approval_id"],
    )
    assert len(items) == 340
    for item in items:
        stratum = (item["source"], float(item["band"]))
        if wrong.get(stratum, 0):
            wrong[stratum] -= 1
            await panel.fetchval("select public.undo_auto_approval($1)", item["approval_id"])
        else:
            await panel.fetchval("select public.confirm_auto_approval($1)", item["approval_id"])

    rows = {
        (r["source"], None if r["band"] is None else float(r["band"])): r
        for r in await panel.fetch("select * from public.image_audit_precision()")
    }
    expected = {
        ("openfoodfacts", 0.95): (300, 300),
        ("search_api", 0.85): (30, 27),
        ("search_api", 0.80): (10, 6),
        ("search_api", None): (40, 33),
        (None, 0.80): (10, 6),
        (None, None): (340, 333),
    }
    for key, (n, k) in expected.items():
        row = rows[key]
        low, high = wilson(k, n)
        assert (row["audited"], row["correct"]) == (n, k)
        assert row["measured_precision"] == pytest.approx(k / n)
        assert (row["wilson_low"], row["wilson_high"]) == (pytest.approx(low), pytest.approx(high))
    assert rows[("search_api", 0.80)]["wilson_low"] == pytest.approx(0.3127, abs=1e-4)

    threshold = {
        float(r["threshold"]): r
        for r in await panel.fetch("select * from public.image_audit_threshold(0.98)")
    }
    assert [t for t, r in threshold.items() if r["meets_target"]] == [0.95]
    assert (threshold[0.95]["audited"], threshold[0.85]["audited"]) == (300, 330)
    assert threshold[0.95]["wilson_low"] == pytest.approx(wilson(300, 300)[0])
