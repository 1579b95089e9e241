"""complete_image_jobs (one call for many finished jobs) leaves the database exactly as calling
complete_image_job once per job would: same products, jobs, events and counters, same answer per
job, for every case the single call knows (ok, needs_review, lease lost, superseded, stale EAN, a
person's choice kept, a rejected candidate, invalid outcomes, a broken constraint)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from tests.harness import (
    DEFAULT_CATALOGUE,
    PRODUTOS_CATALOGUE,
    Catalogue,
    MigratedDatabase,
    Templates,
    ean13,
    insert_products,
)

PRODUCTS = 11
REJECTED_URL = "https://cdn.example/rejeitada.jpg"


def outcome_for(index: int) -> dict[str, Any]:
    """What the worker brings back for product `index` (same in both databases)."""
    base: dict[str, Any] = {
        "image_status": "needs_review",
        "candidates": [
            {"url": f"https://cdn.example/{index}.jpg", "source": "openfoodfacts", "confidence": 0.4}
        ],
        "events": [{"stage": "openfoodfacts", "outcome": "found", "detail": {"n": index}}],
        "result": {"stages": ["openfoodfacts"]},
    }
    if index in (0, 4, 9):  # ok; 4 meets a person's approval, 9 an EAN change
        base.update(image_status="ok", image_url=f"https://cdn.example/{index}.jpg")
        base.update(image_source="openfoodfacts", image_confidence=0.93)
    if index == 5:  # a candidate a person rejected meanwhile
        base.update(
            image_status="ok", image_url=REJECTED_URL, image_source="search_api", image_confidence=0.9
        )
    if index == 7:  # ok without a picture
        base.update(image_status="ok")
    if index == 8:  # not a status at all
        base.update(image_status="bogus")
    if index == 10:  # confidence out of range: the catalogue's constraint refuses it
        base.update(image_status="ok", image_url="https://cdn.example/10.jpg", image_source="openfoodfacts")
        base.update(image_confidence=1.5)
    return base


async def give_a_persons_picture(conn: asyncpg.Connection, cat: Catalogue, product_id: str) -> None:
    """A person approved a picture for this product (reviewed, so automation never replaces it)."""
    await conn.execute(
        f"update {cat.qualified} set image_status = 'ok', image_url = 'https://cdn.example/pessoa.jpg',"
        " image_source = 'manual', image_confidence = 1, image_updated_at = now(),"
        f" image_reviewed_by = gen_random_uuid() where {cat.id}::text = $1",
        product_id,
    )


async def prepare(db: MigratedDatabase) -> tuple[asyncpg.Connection, list[dict[str, Any]]]:
    """Products, their enrich jobs claimed by w1, then what happens while the jobs run."""
    cat = db.catalogue
    conn = await asyncpg.connect(db.dsn)
    ids = await insert_products(conn, cat, [(f"Produto {i + 1}", ean13(9000 + i)) for i in range(PRODUCTS)])
    claimed = {
        r["product_id"]: (str(r["job_id"]), json.loads(r["payload"]))
        for r in await conn.fetch("select * from imagefill.claim_image_jobs('w1', 50, 600)")
    }
    assert len(claimed) == PRODUCTS
    job = {i: claimed[pid][0] for i, pid in enumerate(ids)}
    # 2: another worker took the job over (lease lost).
    await conn.execute("update public.image_jobs set locked_by = 'w2' where id = $1", job[2])
    # 3 and 9: a person changed the EAN while the job ran (the result is stale).
    for i in (3, 9):
        await conn.execute(
            f"update {cat.qualified} set {cat.ean} = $2 where {cat.id}::text = $1", ids[i], ean13(9500 + i)
        )
    # 4: a person approved a picture meanwhile (never overwritten by automation).
    await give_a_persons_picture(conn, cat, ids[4])
    # 5: the candidate the worker brings was rejected by a person.
    await conn.execute(
        "insert into public.image_rejected_candidates (product_id, url) values ($1::text::"
        + ("bigint" if cat is PRODUTOS_CATALOGUE else "uuid")
        + ", $2)",
        ids[5],
        REJECTED_URL,
    )
    # 6: a new decision rewrote the job's payload (the worker's result is superseded).
    await conn.execute(
        "update public.image_jobs set payload = payload || '{\"force\": true}' where id = $1", job[6]
    )
    items = [{"job_id": job[i], "payload": claimed[ids[i]][1], **outcome_for(i)} for i in range(PRODUCTS)]
    return conn, items


async def complete_one_by_one(conn: asyncpg.Connection, items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    answers = []
    for item in items:
        try:
            row = await conn.fetchrow(
                "select (j).result ->> 'outcome' as outcome from (select imagefill.complete_image_job("
                "$1::uuid, 'w1', $2::public.image_status, $3, $4::public.image_source, $5,"
                " $6::jsonb, $7::jsonb, $8::jsonb, $9::jsonb) as j) x",
                item["job_id"],
                item["image_status"],
                item.get("image_url"),
                item.get("image_source"),
                # As decimal text: JSON carries 0.93 to the batch as the numeric 0.93, while a
                # float parameter arrives as 0.93000000000000004884981308350688777863979339599609375.
                None if item.get("image_confidence") is None else Decimal(str(item["image_confidence"])),
                json.dumps(item["candidates"]),
                json.dumps(item["events"]),
                json.dumps(item["result"]),
                json.dumps(item["payload"]),
            )
            answers.append((row["outcome"], None))
        except asyncpg.PostgresError as exc:
            answers.append((None, exc.sqlstate))
    return answers


async def complete_in_one_call(
    conn: asyncpg.Connection, items: list[dict[str, Any]]
) -> list[tuple[Any, ...]]:
    rows = await conn.fetch(
        "select item, job_id::text, outcome, error_code, error_message"
        " from imagefill.complete_image_jobs('w1', $1::jsonb) order by item",
        json.dumps(items),
    )
    assert [r["item"] for r in rows] == list(range(1, len(items) + 1)), "one answer per item"
    assert [r["job_id"] for r in rows] == [i["job_id"] for i in items]
    assert all(r["error_message"] for r in rows if r["error_code"]), "every refusal says why"
    return [(r["outcome"], r["error_code"]) for r in rows]


async def snapshot(conn: asyncpg.Connection, cat: Catalogue) -> Any:
    """Everything the completions may touch, keyed by product name (ids differ between databases)."""
    products = await conn.fetch(
        f"select {cat.name} as name, image_status::text, image_url, image_source::text, image_confidence,"
        " image_updated_at is not null as dated,"
        " (select coalesce(jsonb_agg(c - 'job_id' - 'at' order by o), '[]') from"
        "   jsonb_array_elements(image_candidate_urls) with ordinality as e(c, o)) as candidates"
        f" from {cat.qualified} order by 1"
    )
    jobs = await conn.fetch(
        f"select p.{cat.name} as name, kind::text, status::text, attempts, locked_by, last_error, result,"
        " payload, finished_at is not null as finished, run_after <= now() as due"
        f" from public.image_jobs j join {cat.qualified} p on p.{cat.id} = j.product_id"
        " order by 1, kind, status, j.created_at"
    )
    events = await conn.fetch(
        f"select p.{cat.name} as name, j.status::text as job_status, e.stage, e.outcome, e.detail"
        " from public.image_job_events e join public.image_jobs j on j.id = e.job_id"
        f" join {cat.qualified} p on p.{cat.id} = e.product_id order by 1, j.status, e.id"
    )
    counters = {
        k: v for k, v in json.loads(await conn.fetchval("select imagefill.image_counters()")).items() if v
    }
    state = {
        "products": [dict(r) for r in products],
        "jobs": [dict(r) for r in jobs],
        "events": [dict(r) for r in events],
        "counters": counters,
    }
    return json.loads(json.dumps(state, default=str))


Prepare = Callable[[MigratedDatabase], Awaitable[tuple[asyncpg.Connection, list[dict[str, Any]]]]]


async def answers_of_both_ways(
    templates: Templates, catalogue: Catalogue, prepare: Prepare
) -> list[tuple[Any, ...]]:
    """The same situation in two identical databases, recorded one call per job in one and in a
    single call in the other: the answers and everything written must be the same."""
    single_db, batch_db = templates.fresh_database(catalogue), templates.fresh_database(catalogue)
    single, single_items = await prepare(single_db)
    batch, batch_items = await prepare(batch_db)
    try:
        by_single = await complete_one_by_one(single, single_items)
        assert await complete_in_one_call(batch, batch_items) == by_single
        after, before = await snapshot(batch, catalogue), await snapshot(single, catalogue)
        for key in before:
            assert after[key] == before[key], key
        return by_single
    finally:
        await single.close()
        await batch.close()


@pytest.mark.parametrize("catalogue", [DEFAULT_CATALOGUE, PRODUTOS_CATALOGUE], ids=["products", "produtos"])
async def test_one_call_for_many_jobs_equals_one_call_per_job(
    templates: Templates, catalogue: Catalogue
) -> None:
    by_single = await answers_of_both_ways(templates, catalogue, prepare)
    # Every case happened, so the comparison covers each path of both functions.
    assert by_single == [
        ("ok", None),
        ("needs_review", None),
        (None, "IF001"),  # lease lost
        ("stale", None),
        ("kept_human_choice", None),
        (None, "IF003"),  # rejected candidate
        ("superseded", None),
        (None, "IF002"),  # ok without a picture
        (None, "22P02"),  # not a status
        ("stale", None),
        (None, "23514"),  # confidence out of range
    ]


async def prepare_other_kinds(
    db: MigratedDatabase,
) -> tuple[asyncpg.Connection, list[dict[str, Any]]]:
    """Approve and browser jobs next to enrichments (two jobs of one product in one batch), a
    forced run over a person's picture, and values the single call refuses or rounds."""
    cat = db.catalogue
    conn = await asyncpg.connect(db.dsn)
    ids = await insert_products(conn, cat, [(f"Outro {i + 1}", ean13(9700 + i)) for i in range(6)])
    # 0: a person's picture, and a forced run over it (force may overwrite it).
    await give_a_persons_picture(conn, cat, ids[0])
    await conn.execute(
        "update public.image_jobs j set payload = j.payload || '{\"force\": true}', status = 'queued'"
        f" from {cat.qualified} p where p.{cat.id} = j.product_id and p.{cat.id}::text = $1",
        ids[0],
    )
    # 1 and 2: an approval and a browser search beside the product's enrichment.
    await conn.execute(
        "insert into public.image_jobs (product_id, kind, payload)"
        f" select {cat.id}, 'approve'::public.image_job_kind,"
        ' \'{"url": "https://cdn.example/aprovada-1.jpg"}\'::jsonb'
        f" from {cat.qualified} where {cat.id}::text = $1"
        f" union all select {cat.id}, 'browser', '{{}}'::jsonb"
        f" from {cat.qualified} where {cat.id}::text = $2",
        ids[1],
        ids[2],
    )
    claimed = {
        (r["product_id"], r["kind"]): (str(r["job_id"]), json.loads(r["payload"]))
        for r in await conn.fetch("select * from imagefill.claim_image_jobs('w1', 50, 600)")
    }
    assert len(claimed) == 8

    def item(i: int, kind: str, **outcome: Any) -> dict[str, Any]:
        job_id, payload = claimed[(ids[i], kind)]
        base = {"image_url": None, "image_source": None, "image_confidence": None, "candidates": []}
        return {**base, "events": [], "result": {}, **outcome, "job_id": job_id, "payload": payload}

    ok = {"image_status": "ok", "image_source": "openfoodfacts"}
    items = [
        item(0, "enrich", **ok, image_url="https://cdn.example/0.jpg", image_confidence=0.8),
        item(1, "enrich", image_status="needs_review", candidates=[{"url": "https://cdn.example/c1.jpg"}]),
        item(
            1,
            "approve",
            image_status="ok",
            image_url="https://cdn.example/aprovada-1.jpg",
            image_source="manual",
            image_confidence=1,
        ),
        item(
            2,
            "browser",
            image_status="needs_review",
            candidates=[{"url": "https://cdn.example/b2.jpg", "source": "browser"}],
        ),
        item(3, "enrich", image_status="needs_review", candidates={"url": "not a list"}),
        item(4, "enrich", image_status="needs_review", image_confidence=5, image_source="search_api"),
        item(5, "enrich", **ok, image_url="https://cdn.example/5.jpg", image_confidence=0.9995),
    ]
    return conn, items


@pytest.mark.parametrize("catalogue", [DEFAULT_CATALOGUE, PRODUTOS_CATALOGUE], ids=["products", "produtos"])
async def test_other_kinds_and_odd_values_equal_one_call_per_job(
    templates: Templates, catalogue: Catalogue
) -> None:
    by_single = await answers_of_both_ways(templates, catalogue, prepare_other_kinds)
    assert by_single == [
        ("ok", None),  # forced over a person's picture
        ("needs_review", None),  # the enrichment of a product with an approval in the batch
        ("ok", None),  # that approval
        ("needs_review", None),  # a browser search
        (None, "22023"),  # candidates that are not a list: refused alone
        ("needs_review", None),  # a confidence out of range, ignored with needs_review
        ("ok", None),  # a confidence the column rounds
    ]


async def test_an_empty_batch_records_nothing(db: MigratedDatabase) -> None:
    conn = await asyncpg.connect(db.dsn)
    try:
        assert await conn.fetch("select * from imagefill.complete_image_jobs('w1', '[]')") == []
        assert await conn.fetch("select * from imagefill.complete_image_jobs('w1', null)") == []
        with pytest.raises(asyncpg.InvalidParameterValueError):
            await conn.fetch("select * from imagefill.complete_image_jobs('', '[]')")
    finally:
        await conn.close()
