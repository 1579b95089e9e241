"""A bulk insert of products enqueues one job per product whose ids come from one random UUID
per statement plus the row number: they must stay unique (within and across statements), be
version-4 UUIDs, and each job must carry its own product's GTIN. Both renderings."""

from __future__ import annotations

import uuid

import asyncpg

from tests.harness import MigratedDatabase, ean13, insert_products


async def test_bulk_enqueued_jobs_have_unique_v4_ids_and_their_own_gtin(
    catalogue_db: MigratedDatabase,
) -> None:
    c = catalogue_db.catalogue
    conn = await asyncpg.connect(catalogue_db.dsn)
    try:
        first = await insert_products(conn, c, [(f"IDs A {i}", ean13(8000 + i)) for i in range(300)])
        second = await insert_products(conn, c, [(f"IDs B {i}", ean13(8300 + i)) for i in range(300)])
        # Two statements in one transaction each draw their own prefix too.
        async with conn.transaction():
            third = await insert_products(conn, c, [(f"IDs C {i}", ean13(8600 + i)) for i in range(50)])
            third += await insert_products(conn, c, [(f"IDs D {i}", ean13(8650 + i)) for i in range(50)])
        products = first + second + third
        rows = await conn.fetch(
            "select j.id, j.product_id::text as product_id, j.payload ->> 'gtin' as gtin,"
            " p.gtin as product_gtin"
            f" from public.image_jobs j join {c.qualified} p on p.{c.id} = j.product_id"
            " where j.product_id::text = any ($1::text[])",
            products,
        )
        assert sorted(r["product_id"] for r in rows) == sorted(products), "one job per product"
        ids = [r["id"] for r in rows]
        assert len(set(ids)) == len(ids) == 700
        assert all(isinstance(i, uuid.UUID) and i.version == 4 and i.variant == uuid.RFC_4122 for i in ids)
        assert len({i.hex[:24] for i in ids}) == 4, "one random prefix per statement"
        assert all(r["gtin"] == r["product_gtin"] is not None for r in rows)
        await conn.execute(f"delete from {c.qualified} where {c.name} like 'IDs %'")
    finally:
        await conn.close()
