"""The panel's queries stay flat as the catalogue grows: their PLANS are checked (never timings).

auto_explain logs the plan of every statement inside the RPCs, so the test sees what the
functions really run: index scans for their predicates, no WindowAgg over every row in review,
no per-row subplans, and progress counters that do not read the catalogue at all.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.harness import MigratedDatabase, Templates, ean13, explained_connection
from worker.backfill import FAILURES_SQL, OLDEST_QUEUED_SQL

PRODUCTS = 40_000


@pytest.fixture(scope="module")
def big_db(templates: Templates) -> MigratedDatabase:
    return templates.fresh_database()


@pytest.fixture(scope="module")
async def seeded(big_db: MigratedDatabase) -> MigratedDatabase:
    conn = await asyncpg.connect(big_db.superuser_dsn)
    try:
        # 45 % in review with candidates, the rest without a valid EAN (so no job is enqueued).
        await conn.execute(
            """
            insert into public.products (name, ean, image_status, image_candidate_urls)
            select 'P' || g, case when g % 20 < 9 then 'ean-' || g end,
                   case when g % 20 < 9 then 'needs_review' else 'missing' end::public.image_status,
                   case when g % 20 < 9 then jsonb_build_array(
                     jsonb_build_object('url', 'https://img.example/' || g || '.jpg', 'confidence', 0.5),
                     jsonb_build_object('url', 'https://img.example/' || g || '-b.jpg', 'confidence', 0.7))
                   else '[]'::jsonb end
              from generate_series(1, $1::int) g
            """,
            PRODUCTS,
        )
        await conn.execute(
            """
            insert into public.image_jobs (product_id, status, run_after, finished_at, last_error)
            select id, s::public.image_job_status, now() - random() * interval '1 day',
                   case when s in ('done', 'failed') then now() end,
                   case when s = 'failed' then 'erro ' || (random() * 5)::int end
              from (select id, case when random() < 0.8 then 'done'
                                    when random() < 0.5 then 'failed' else 'queued' end as s
                      from public.products) x
            """
        )
        await conn.execute("vacuum analyze public.products")
        await conn.execute("vacuum analyze public.image_jobs")
    finally:
        await conn.close()
    return big_db


@pytest.fixture
async def explained(seeded: MigratedDatabase) -> AsyncIterator[tuple[asyncpg.Connection, list[str]]]:
    async with explained_connection(seeded.superuser_dsn) as explained:
        yield explained


def _assert_flat(plan_text: str) -> None:
    assert "WindowAgg" not in plan_text, plan_text[:6000]
    assert "SubPlan" not in plan_text, plan_text[:6000]
    assert "Seq Scan on products" not in plan_text, plan_text[:6000]
    assert "Seq Scan on image_jobs" not in plan_text, plan_text[:6000]


async def test_review_queue_last_page_by_cursor_is_an_index_range_scan(
    explained: tuple[asyncpg.Connection, list[str]],
) -> None:
    conn, plans = explained
    last_keys = await conn.fetch(
        "select id from public.products where image_status = 'needs_review' order by id desc limit 21"
    )
    cursor = last_keys[-1]["id"]
    await conn.fetch("select * from public.image_review_queue(1, 0)")  # asyncpg's type introspection
    plans.clear()
    page = await conn.fetch("select * from public.image_review_queue(20, 0, $1)", cursor)
    plan_text = "\n".join(plans)
    # The last page: exactly the 20 keys after the cursor, in key order, with the full total.
    assert [r["product_id"] for r in page] == [r["id"] for r in reversed(last_keys[:20])]
    assert {r["total_count"] for r in page} == {PRODUCTS * 9 // 20}
    assert json.loads(page[0]["candidates"])[0]["confidence"] == 0.7
    assert "products_image_review_idx" in plan_text, plan_text[:6000]
    assert "Index Cond: (id >" in plan_text, plan_text[:6000]
    _assert_flat(plan_text)


async def test_review_queue_first_page_without_cursor_keeps_the_old_call(
    explained: tuple[asyncpg.Connection, list[str]],
) -> None:
    conn, plans = explained
    first = await conn.fetch("select * from public.image_review_queue(10, 0)")
    plans.clear()
    second = await conn.fetch("select * from public.image_review_queue(10, 10)")
    by_cursor = await conn.fetch(
        "select * from public.image_review_queue(10, 0, $1)", first[-1]["product_id"]
    )
    assert [r["product_id"] for r in second] == [r["product_id"] for r in by_cursor]
    _assert_flat("\n".join(plans))


async def test_progress_of_the_whole_catalogue_reads_only_the_counters(
    explained: tuple[asyncpg.Connection, list[str]],
) -> None:
    conn, plans = explained
    await conn.fetchval("select public.image_backfill_progress(null)")
    plans.clear()
    progress = json.loads(await conn.fetchval("select public.image_backfill_progress(null)"))
    plan_text = "\n".join(plans)
    assert progress["total"] == PRODUCTS
    assert progress["needs_review"] == PRODUCTS * 9 // 20
    assert "on products" not in plan_text and "on image_jobs" not in plan_text, plan_text[:6000]
    assert "image_tally" in plan_text, plan_text[:6000]


async def test_status_queries_read_only_the_rows_they_report(
    explained: tuple[asyncpg.Connection, list[str]],
) -> None:
    conn, _ = explained
    for sql, index in (
        (OLDEST_QUEUED_SQL, "image_jobs_queued_age_idx"),
        (FAILURES_SQL, "image_jobs_failed_idx"),
    ):
        plan = "\n".join(r[0] for r in await conn.fetch(f"explain {sql}"))
        assert index in plan, plan
        assert "Seq Scan" not in plan, plan


async def test_counters_match_a_full_count_after_every_kind_of_change(db: MigratedDatabase) -> None:
    """Inserts, updates, deletes, job transitions through the real functions, folds and TRUNCATE:
    the maintained counters always equal what a full count says."""
    conn = await asyncpg.connect(db.dsn)

    async def check() -> None:
        progress = json.loads(await conn.fetchval("select public.image_backfill_progress(null)"))
        truth = await conn.fetchrow(
            """
            select count(*) as total,
                   count(*) filter (where image_status = 'ok') as ok,
                   count(*) filter (where image_status = 'needs_review') as needs_review,
                   count(*) filter (where image_status = 'error') as error,
                   count(*) filter (where image_status in ('missing', 'fetching')) as missing,
                   count(*) filter (where gtin is null and image_status <> 'ok') as invalid_ean,
                   (select count(*) from public.image_jobs where status = 'queued') as queued,
                   (select count(*) from public.image_jobs where status = 'running') as running
              from public.products
            """
        )
        expected = dict(truth)
        assert {k: progress[k] for k in expected} == expected

    try:
        await check()
        await conn.execute(
            "insert into public.products (name, ean) select 'C' || g,"
            " case when g % 3 = 0 then 'x' || g else $1 end from generate_series(1, 300) g",
            ean13(42),
        )
        await conn.execute(
            "insert into public.products (name, ean) select 'D' || g, ean from"
            " (select g, $1::text as ean from generate_series(1, 50) g) s",
            ean13(43),
        )
        await check()
        claimed = await conn.fetch("select * from imagefill.claim_image_jobs('w', 40, 60)")
        await check()
        for job in claimed[:30]:
            await conn.execute("select imagefill.complete_image_job($1, 'w', 'needs_review')", job["job_id"])
        for job in claimed[30:]:
            await conn.execute("select imagefill.fail_image_job($1, 'w', 'falhou', false)", job["job_id"])
        await check()
        assert await conn.fetchval("select imagefill.compact_image_tally()") > 0
        assert await conn.fetchval("select count(*) from imagefill.image_tally") <= 14
        await check()
        await conn.execute("update public.products set ean = 'invalido' where name like 'C1%'")
        await conn.execute("delete from public.products where name like 'C2%'")
        await check()
        await conn.execute("truncate public.image_jobs")
        await check()
    finally:
        await conn.close()
