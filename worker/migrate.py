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
from worker.schema import (
    CatalogueTable,
    RenderedMigration,
    SchemaError,
    installed_checksums,
    not_installed,
    render_migrations,
    requirement_met,
)


@dataclass(frozen=True)
class CataloguePending:
    """Products that lack a picture after the install, in groups that do not overlap (they add
    up to `without_image`), so a re-run after some work says the same true thing."""

    without_image: int
    # Valid GTIN, a job queued or running (or the product being fetched).
    queued: int
    # Valid GTIN, missing or error, no active job: what `imagefill backfill` would take.
    outside_queue: int
    # Valid GTIN, waiting for a person on the review panel.
    in_review: int
    # No valid GTIN: never queued until the code is fixed.
    invalid_gtin: int

    @property
    def with_valid_gtin(self) -> int:
        return self.without_image - self.invalid_gtin


OPTION_NAMES = {
    "schema": "--schema",
    "table": "--table",
    "id_column": "--id-column",
    "id_type": "--id-type",
    "name_column": "--name-column",
    "brand_column": "--brand-column",
    "ean_column": "--ean-column",
    "image_url_column": "--image-url-column",
}


def resolve_mapping(stored: CatalogueTable | None, given: dict[str, str]) -> CatalogueTable:
    """The catalogue to install for: the stored mapping when there is one (options that repeat it
    are fine, options that contradict it are refused), else the options given (defaults for the
    rest)."""
    if stored is None:
        return CatalogueTable(**given)
    conflicts = [
        f"{OPTION_NAMES[name]} {value} (gravado: {getattr(stored, name)})"
        for name, value in given.items()
        if getattr(stored, name) != value
    ]
    if conflicts:
        raise SchemaError(
            f"o Imagefill já está instalado neste banco para {stored.schema}.{stored.table}, e"
            f" {', '.join(conflicts)} contradiz o mapeamento gravado na primeira instalação"
            " (imagefill.catalogue_mapping). Rode `imagefill migrate` sem essas opções."
        )
    return stored


async def installed_elsewhere(conn: asyncpg.Connection, table: CatalogueTable) -> str | None:
    """An install made before the mapping was recorded (57_catalogue_mapping.sql) is known by the
    table its enqueue trigger is on: that table's name, when it is not `table`."""
    found: str | None = await conn.fetchval(
        "select t.tgrelid::regclass::text from pg_trigger t where t.tgname = 'imagefill_enqueue_on_insert'"
        " and t.tgrelid is distinct from to_regclass($1) limit 1",
        table.tokens()["products_literal"],
    )
    return found


async def pending_migrations(
    conn: asyncpg.Connection, table: CatalogueTable | None = None
) -> list[RenderedMigration]:
    return not_installed(render_migrations(table), await installed_checksums(conn))


async def waiting_migrations(
    conn: asyncpg.Connection, table: CatalogueTable | None = None
) -> list[RenderedMigration]:
    """Pending migrations this database cannot take yet (e.g. the bucket without Storage)."""
    return [m for m in await pending_migrations(conn, table) if not await requirement_met(conn, m)]


async def apply_migrations(dsn: str, table: CatalogueTable | None = None) -> list[RenderedMigration]:
    """Applies every pending migration (new, or changed since it was recorded) that this
    database can take in one transaction and returns them (in order); the waiting ones
    (`waiting_migrations`) stay pending."""
    migrations = render_migrations(table)  # refuses loudly when the templates are missing
    conn = await connect(dsn)
    try:
        pending = not_installed(migrations, await installed_checksums(conn))
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
        f"""
        select count(*) filter (where p.image_status <> 'ok') as without_image,
               count(*) filter (where p.image_status <> 'ok' and p.gtin is null) as invalid_gtin,
               count(*) filter (where p.image_status = 'needs_review' and p.gtin is not null) as in_review,
               count(*) filter (where p.image_status in ('missing', 'error') and p.gtin is not null
                                  and not exists (select 1 from public.image_jobs j
                                                   where j.product_id = p.{tokens["col_id"]}
                                                     and j.kind = 'enrich'
                                                     and j.status in ('queued', 'running')))
                 as outside_queue
          from {tokens["products"]} p
        """
    )
    assert row is not None
    without_image, invalid, in_review, outside = (
        int(row["without_image"]),
        int(row["invalid_gtin"]),
        int(row["in_review"]),
        int(row["outside_queue"]),
    )
    # The rest of the products with a valid GTIN have a job (or are being fetched right now).
    queued = without_image - invalid - in_review - outside
    return CataloguePending(without_image, queued, outside, in_review, invalid)
