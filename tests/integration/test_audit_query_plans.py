"""The audit list and the precision figures stay flat as approvals pile up: their PLANS are checked
(auto_explain inside the functions, never timings), and the folded weekly counts the sample is
drawn from always equal a full count."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from tests.audit_history import audit_list, generate_history
from tests.harness import MigratedDatabase, Templates, explained_connection

APPROVALS = 20_000
NEWEST = datetime(2026, 11, 30, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
async def seeded(templates: Templates) -> MigratedDatabase:
    db = templates.fresh_database()
    conn = await asyncpg.connect(db.superuser_dsn)
    rng = random.Random(7)
    try:
        rows = [
            (
                rng.choice(("openfoodfacts", "search_api", "browser")),
                round(rng.uniform(0.8, 1.0), 3),
                NEWEST - timedelta(hours=rng.uniform(0, 40 * 7 * 24)),
            )
            for _ in range(APPROVALS)
        ]
        await generate_history(conn, db.catalogue, rows)
        # Every week's sample but the newest four's has been audited.
        await conn.execute(
            """
            update public.image_auto_approvals a set verdict = 'confirmed', audited_at = now()
              from (select w.week, c.* from (select distinct week from public.image_auto_approvals
                                              where week < '2026-11-02') w
                    cross join lateral imagefill.audit_sample_cuts(w.week) c) s
             where a.week = s.week and a.source = s.source and a.band = s.band
               and (a.sample_key, a.id)
                   <= (coalesce(s.cut_key, 'infinity'), coalesce(s.cut_id, 9223372036854775807))
            """
        )
        await conn.execute("vacuum analyze public.image_auto_approvals")
        await conn.execute("vacuum analyze public.products")
    finally:
        await conn.close()
    return db


@pytest.fixture
async def explained(seeded: MigratedDatabase) -> AsyncIterator[tuple[asyncpg.Connection, list[str]]]:
    async with explained_connection(seeded.superuser_dsn) as explained:
        yield explained


def assert_flat(plan_text: str) -> None:
    assert "Seq Scan on image_auto_approvals" not in plan_text, plan_text[:8000]
    assert "Seq Scan on products" not in plan_text, plan_text[:8000]


@pytest.mark.parametrize("mode", ["sample", "all"])
async def test_the_audit_lists_last_page_by_cursor_reads_only_its_rows(
    explained: tuple[asyncpg.Connection, list[str]], mode: str
) -> None:
    conn, plans = explained
    rows = await audit_list(conn, mode)
    assert len(rows) == (APPROVALS if mode == "all" else len(rows)) and len(rows) > 40
    anchor = rows[-21]
    plans.clear()
    last = await conn.fetch(
        "select * from public.image_audit_queue($1, 20, $2, $3)",
        mode,
        anchor["approved_at"],
        anchor["approval_id"],
    )
    assert [r["approval_id"] for r in last] == [r["approval_id"] for r in rows[-20:]]
    plan_text = "\n".join(plans)
    index = "image_auto_approvals_pending_idx" if mode == "sample" else "image_auto_approvals_recent_idx"
    assert index in plan_text, plan_text[:8000]
    assert_flat(plan_text)


async def test_precision_and_threshold_read_only_the_audited_rows(
    explained: tuple[asyncpg.Connection, list[str]],
) -> None:
    conn, plans = explained
    await conn.fetch("select * from public.image_audit_precision()")
    plans.clear()
    rows = await conn.fetch("select * from public.image_audit_precision()")
    await conn.fetch("select * from public.image_audit_threshold()")
    audited = await conn.fetchval(
        "select count(*) from public.image_auto_approvals where verdict is not null"
    )
    assert rows[-1]["audited"] == audited and 0 < audited < APPROVALS / 5
    plan_text = "\n".join(plans)
    assert "image_auto_approvals_audited_idx" in plan_text, plan_text[:8000]
    assert_flat(plan_text)


async def test_folded_weekly_counts_equal_a_full_count(seeded: MigratedDatabase) -> None:
    conn = await asyncpg.connect(seeded.superuser_dsn)
    try:
        # Deleting products takes their approvals along and the counts follow.
        await conn.execute(
            f"delete from {seeded.catalogue.qualified} where {seeded.catalogue.name} like 'Produto 1%'"
        )
        counted = """
            select week, source::text, band, n from (
              select week, source, band, sum(n)::bigint as n from imagefill.audit_week_counts
               group by 1, 2, 3) c where n <> 0 order by 1, 2, 3"""
        truth = """
            select week, source::text, band, count(*) as n from public.image_auto_approvals
             group by 1, 2, 3 order by 1, 2, 3"""
        assert [tuple(r) for r in await conn.fetch(counted)] == [tuple(r) for r in await conn.fetch(truth)]
        folded_rows = await conn.fetchval("select count(*) from imagefill.audit_week_counts")
        assert folded_rows < APPROVALS / 4  # folded now and then, not one row per approval
    finally:
        await conn.close()
