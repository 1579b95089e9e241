"""A person edits a product's EAN while its job waits or runs: the queued job takes the new code
along (no paid run for the old one), an EAN made invalid ends the queued job with the reason
instead of leaving the product `fetching`, and a running job's stale result queues the new code."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.harness import DEFAULT_CATALOGUE, MigratedDatabase, ean13, insert_products


@pytest.fixture
async def conn(fresh_db: MigratedDatabase) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(fresh_db.dsn)
    yield connection
    await connection.close()


async def product_and_jobs(conn: asyncpg.Connection, product_id: str) -> tuple[str, list[tuple[str, str]]]:
    status = await conn.fetchval(
        "select image_status::text from public.products where id = $1::uuid", product_id
    )
    jobs = await conn.fetch(
        "select status::text, coalesce(payload ->> 'gtin', '') as gtin, last_error from public.image_jobs"
        " where product_id = $1::uuid order by created_at, status",
        product_id,
    )
    return status, [(j["status"], j["gtin"]) for j in jobs]


async def complete(conn: asyncpg.Connection, job: asyncpg.Record) -> str:
    return str(
        await conn.fetchval(
            "select (imagefill.complete_image_job($1, 'w1', 'needs_review', p_payload => $2::jsonb)).result"
            " ->> 'outcome'",
            job["job_id"],
            job["payload"],
        )
    )


async def test_a_queued_job_takes_the_new_ean_along(conn: asyncpg.Connection) -> None:
    [product] = await insert_products(conn, DEFAULT_CATALOGUE, [("Café 500g", ean13(61))])
    await conn.execute("update public.products set ean = $2 where id = $1::uuid", product, ean13(62))
    status, jobs = await product_and_jobs(conn, product)
    assert (status, jobs) == ("missing", [("queued", ean13(62))]), "one job, for the new code"

    [job] = await conn.fetch("select * from imagefill.claim_image_jobs('w1', 5)")
    assert job["product_gtin"] == ean13(62)
    # The run was for the current code: its result counts, and nothing is queued again.
    assert await complete(conn, job) == "needs_review"
    assert await product_and_jobs(conn, product) == ("needs_review", [("done", ean13(62))])


async def test_an_ean_made_invalid_ends_the_queued_job_with_the_reason(conn: asyncpg.Connection) -> None:
    [product] = await insert_products(conn, DEFAULT_CATALOGUE, [("Arroz 5kg", ean13(63))])
    await conn.execute("update public.products set ean = '789123' where id = $1::uuid", product)
    status, jobs = await product_and_jobs(conn, product)
    assert (status, jobs) == ("missing", [("failed", ean13(63))])
    reason = await conn.fetchval(
        "select last_error from public.image_jobs where product_id = $1::uuid", product
    )
    assert "EAN do produto mudou para um código inválido" in reason
    assert await conn.fetch("select * from imagefill.claim_image_jobs('w1', 5)") == [], "nothing to run"
    progress = json.loads(await conn.fetchval("select public.image_backfill_progress(null)"))
    assert progress["invalid_ean"] == 1 and progress["queued"] == 0 and progress["missing"] == 1

    # Fixing the code puts the product back in the queue.
    await conn.execute("update public.products set ean = $2 where id = $1::uuid", product, ean13(64))
    assert (await product_and_jobs(conn, product))[1] == [("failed", ean13(63)), ("queued", ean13(64))]


async def test_a_running_job_whose_ean_changed_queues_the_new_code(conn: asyncpg.Connection) -> None:
    [product] = await insert_products(conn, DEFAULT_CATALOGUE, [("Feijão 1kg", ean13(65))])
    [job] = await conn.fetch("select * from imagefill.claim_image_jobs('w1', 5)")
    await conn.execute("update public.products set ean = $2 where id = $1::uuid", product, ean13(66))
    assert await complete(conn, job) == "stale"
    assert await product_and_jobs(conn, product) == ("missing", [("done", ean13(65)), ("queued", ean13(66))])

    # Made invalid while running: the stale result queues nothing, and the product is not left
    # `fetching` (the EAN change already put it back to missing).
    [job] = await conn.fetch("select * from imagefill.claim_image_jobs('w1', 5)")
    await conn.execute("update public.products set ean = 'não é EAN' where id = $1::uuid", product)
    assert await complete(conn, job) == "stale"
    status, jobs = await product_and_jobs(conn, product)
    assert status == "missing" and [s for s, _ in jobs] == ["done", "done"]
