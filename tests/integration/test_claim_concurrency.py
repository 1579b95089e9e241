"""8 workers racing on 1,000 jobs never claim one job twice."""

from __future__ import annotations

import asyncio

import asyncpg

from tests.harness import MigratedDatabase, ean13, insert_products


async def test_eight_connections_never_claim_the_same_job(catalogue_db: MigratedDatabase) -> None:
    setup = await asyncpg.connect(catalogue_db.dsn)
    try:
        await insert_products(
            setup, catalogue_db.catalogue, [(f"Produto {i}", ean13(i)) for i in range(1000)]
        )
        assert await setup.fetchval("select count(*) from public.image_jobs where status = 'queued'") == 1000
    finally:
        await setup.close()

    async def worker(name: str) -> list[str]:
        conn = await asyncpg.connect(catalogue_db.dsn)
        claimed: list[str] = []
        try:
            while True:
                rows = await conn.fetch(
                    "select job_id::text from imagefill.claim_image_jobs($1, 7, 60)", name
                )
                if not rows:
                    return claimed
                claimed.extend(r["job_id"] for r in rows)
        finally:
            await conn.close()

    results = await asyncio.gather(*(worker(f"w{i}") for i in range(8)))
    every_claim = [job for claims in results for job in claims]
    assert len(every_claim) == 1000
    assert len(set(every_claim)) == 1000, "a job was claimed twice"
    assert sum(1 for claims in results if claims) >= 2, "the race never happened"
