"""The migrations: idempotent, safe over an existing catalogue, identical to the template rendering."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from tests.harness import ROOT, Templates, ean13, log_plans
from worker.migrate import apply_migrations
from worker.schema import CatalogueTable, render_migrations

MIGRATIONS = ROOT / "supabase" / "migrations"


def test_committed_migrations_are_the_default_rendering() -> None:
    rendered = {m.filename: m.sql for m in render_migrations()}
    committed = {p.name: p.read_text() for p in MIGRATIONS.glob("*.sql")}
    assert committed == rendered, "run `imagefill schema render --out supabase/migrations` and commit"


def test_render_refuses_unsafe_identifiers() -> None:
    with pytest.raises(ValueError, match="nome inválido"):
        render_migrations(CatalogueTable(table="x'; drop table y; --"))
    with pytest.raises(ValueError, match="tipo de chave"):
        render_migrations(CatalogueTable(id_type="json"))


async def test_every_migration_applies_twice(templates: Templates) -> None:
    db = templates.empty_database()
    conn = await asyncpg.connect(db.dsn)
    try:
        triggers = []
        for _ in range(2):
            for path in sorted(MIGRATIONS.glob("*.sql")):
                await conn.execute(path.read_text())
            triggers.append(
                await conn.fetchval("select count(*) from pg_trigger where tgname like 'imagefill\\_%'")
            )
        # Enqueue on insert/update, reset on EAN change, blank image_url to NULL, a person's
        # picture on insert/update, the four panel-counter triggers, the three that keep jobs
        # tied to their products (delete, truncate, key change), and the Realtime broadcast of
        # counter changes (the tally's).
        assert triggers == [14, 14]
        # The counters were seeded once, not once per run.
        assert await conn.fetchval("select count(*) from imagefill.image_tally") == 0
    finally:
        await conn.close()


async def test_migrate_records_what_it_installed_outside_the_apps_history(templates: Templates) -> None:
    db = templates.empty_database()
    first = await apply_migrations(db.dsn)
    second = await apply_migrations(db.dsn)
    assert [m.version for m in first] == [m.version for m in render_migrations()]
    assert second == []
    conn = await asyncpg.connect(db.dsn)
    try:
        recorded = await conn.fetchval("select count(*) from imagefill.schema_migrations")
        assert recorded == len(first)
        # The Supabase CLI's own history table is the app's: never written by `imagefill migrate`.
        assert await conn.fetchval("select to_regclass('supabase_migrations.schema_migrations')") is None
    finally:
        await conn.close()


async def test_applies_over_an_existing_catalogue_without_losing_data(templates: Templates) -> None:
    db = templates.empty_database()
    conn = await asyncpg.connect(db.dsn)
    try:
        await conn.execute(
            """
            create table public.products (
              id uuid primary key default gen_random_uuid(),
              name text not null, brand text, ean text, image_url text, price numeric(10, 2));
            alter table public.products enable row level security;
            """
        )
        await conn.execute(
            "insert into public.products (name, brand, ean, image_url, price)"
            " select 'P' || g, 'B' || g, case when g % 3 = 0 then 'abc' || g else $1 end,"
            "        case when g % 4 = 0 then 'https://cdn.example/' || g || '.jpg' end, g * 1.5"
            " from generate_series(1, 500) g",
            ean13(7),
        )
        before = await conn.fetch(
            "select id, name, brand, ean, image_url, price from public.products order by id"
        )
        await apply_migrations(db.dsn)
        after = await conn.fetch(
            "select id, name, brand, ean, image_url, price from public.products order by id"
        )
        assert [tuple(r) for r in after] == [tuple(r) for r in before]

        # Pictures that were already there are a person's: ok, manual, never re-enqueued.
        had_image = await conn.fetch(
            "select image_status::text, image_source::text, image_confidence from public.products"
            " where image_url is not null"
        )
        assert len(had_image) == 125
        assert {tuple(r) for r in had_image} == {("ok", "manual", 1)}
        assert (
            await conn.fetchval("select count(*) from public.products where image_status = 'missing'") == 375
        )
        assert (
            await conn.fetchval("select count(*) from public.products where ean like 'abc%' and gtin is null")
            == 166
        )
    finally:
        await conn.close()


async def test_claim_is_served_by_the_partial_index_on_a_large_queue(templates: Templates) -> None:
    """EXPLAIN of the claim's own statements (auto_explain sees inside the function) on 100k jobs."""
    db = templates.fresh_database()
    conn = await asyncpg.connect(db.superuser_dsn)
    try:
        await conn.execute(
            "insert into public.products (name, ean) select 'P' || g, null from generate_series(1, 100000) g"
        )
        await conn.execute(
            "insert into public.image_jobs (product_id, status, run_after, finished_at)"
            " select id, case when random() < 0.7 then 'done' else 'queued' end::public.image_job_status,"
            "        now() - random() * interval '1 day', null from public.products"
        )
        await conn.execute("analyze public.image_jobs; analyze public.products")
        plans = await log_plans(conn)
        claimed = await conn.fetch(
            "select * from imagefill.claim_image_jobs('explain', 5, 60, '{enrich,approve}')"
        )
        assert len(claimed) == 5
        plan_text = "\n".join(plans)
        claim_plans = [p for p in plans if "image_jobs" in p and "skip locked" in p.lower()]
        assert claim_plans, plan_text[:4000]
        assert "image_jobs_claim_idx" in plan_text, plan_text[:4000]
        assert "Seq Scan on image_jobs" not in plan_text, plan_text[:4000]
    finally:
        await conn.close()


def test_migration_template_files_are_named_by_concern() -> None:
    names = [Path(m.filename).stem for m in render_migrations()]
    assert all(name.split("_", 1)[1].startswith("imagefill_") for name in names)
