"""`imagefill migrate`: installs Imagefill's SQL straight from the installed package.

The migrations are rendered from the templates shipped inside the package (`worker/sql/`), for
the user's catalogue table, and every pending one is applied in ONE transaction: an install
applies completely or not at all. What is installed is read from `imagefill.schema_migrations`,
which each rendered migration fills in itself, so a database installed with the Supabase CLI
(one file or one per template) is recognised too. The app's own
`supabase_migrations.schema_migrations` is never written: its history stays the app's, and its
next `supabase db push` still matches its own folder.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from worker.database import connect
from worker.schema import CatalogueTable, RenderedMigration, render_migrations, requirement_met


@dataclass(frozen=True)
class CataloguePending:
    """Products that lack a picture after the install, and why they are (not) queued."""

    without_image: int
    with_valid_gtin: int
    queued: int


async def installed_versions(conn: asyncpg.Connection) -> set[str]:
    exists = await conn.fetchval("select to_regclass('imagefill.schema_migrations') is not null")
    if not exists:
        return set()
    return {row["version"] for row in await conn.fetch("select version from imagefill.schema_migrations")}


async def pending_migrations(
    conn: asyncpg.Connection, table: CatalogueTable | None = None
) -> list[RenderedMigration]:
    done = await installed_versions(conn)
    return [m for m in render_migrations(table) if m.version not in done]


async def waiting_migrations(
    conn: asyncpg.Connection, table: CatalogueTable | None = None
) -> list[RenderedMigration]:
    """Pending migrations this database cannot take yet (e.g. the bucket without Storage)."""
    return [m for m in await pending_migrations(conn, table) if not await requirement_met(conn, m)]


async def apply_migrations(dsn: str, table: CatalogueTable | None = None) -> list[RenderedMigration]:
    """Applies every pending migration that this database can take in one transaction and
    returns them (in order); the waiting ones (`waiting_migrations`) stay pending."""
    migrations = render_migrations(table)  # refuses loudly when the templates are missing
    conn = await connect(dsn)
    try:
        done = await installed_versions(conn)
        pending = [m for m in migrations if m.version not in done]
        applied = []
        if pending:
            async with conn.transaction():
                for migration in pending:
                    # Checked in order, inside the transaction: an earlier migration may create
                    # what a later one needs.
                    if await requirement_met(conn, migration):
                        await conn.execute(migration.sql)
                        applied.append(migration)
        return applied
    finally:
        await conn.close()


async def catalogue_pending(
    conn: asyncpg.Connection, table: CatalogueTable | None = None
) -> CataloguePending:
    """What is left to do after an install: the triggers only queue products inserted or changed
    from now on, so the catalogue that was already there waits for `imagefill backfill`."""
    catalogue = table or CatalogueTable()
    tokens = catalogue.tokens()
    row = await conn.fetchrow(
        f"select count(*) filter (where p.image_status <> 'ok') as without_image,"
        f"       count(*) filter (where p.image_status in ('missing', 'error') and p.gtin is not null)"
        f"         as with_valid_gtin,"
        f"       count(*) filter (where exists (select 1 from public.image_jobs j"
        f"         where j.product_id = p.{tokens['col_id']} and j.status in ('queued', 'running')))"
        f"         as queued"
        f"  from {tokens['products']} p"
    )
    assert row is not None
    return CataloguePending(int(row["without_image"]), int(row["with_valid_gtin"]), int(row["queued"]))
