"""Access control exactly as PostgREST applies it: each request is a transaction with
`set local role <jwt role>` and `request.jwt.claims` set from the JWT. anon reaches nothing;
a signed-in non-operator reaches no review RPC and no job row; an operator reviews but cannot
write the tables or call the worker's functions; every SECURITY DEFINER function pins its
search_path (checked from pg_proc)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from tests.harness import MigratedDatabase, Templates

PRODUCT = "80000000-0000-0000-0000-000000000001"
OPERATOR_SUB = "99999999-0000-0000-0000-0000000000d1"
OUTSIDER_SUB = "99999999-0000-0000-0000-0000000000d2"
# The README's way of restricting operators: here, only OPERATOR_SUB is one.
OPERATORS_ONLY = f"""
create or replace function public.is_image_operator()
returns boolean language sql stable security definer set search_path = ''
as $$ select auth.uid() = '{OPERATOR_SUB}'::uuid $$;
"""
REVIEW_CALLS = [
    "select public.enqueue_image_backfill(10)",
    "select public.image_backfill_progress(null)",
    "select * from public.image_review_queue(10, 0)",
    f"select public.approve_product_image('{PRODUCT}', 'https://img.example/x.jpg')",
    f"select public.reject_product_image('{PRODUCT}', 'errada')",
    f"select public.enqueue_product_image('{PRODUCT}')",
    f"select public.request_browser_search('{PRODUCT}')",
]
WORKER_CALLS = [
    "select * from imagefill.claim_image_jobs('x', 1)",
    "select imagefill.extend_image_job_leases('x', '{}'::uuid[])",
    "select imagefill.fail_exhausted_leases()",
    "select imagefill.record_image_job_event(gen_random_uuid(), 's', 'o')",
]
TABLE_WRITES = [
    "insert into public.image_jobs (product_id) values ('{p}')",
    "update public.image_jobs set status = 'done'",
    "delete from public.image_jobs",
    "insert into public.image_job_events (stage, outcome) values ('x', 'y')",
    "insert into public.image_rejected_candidates (product_id, url) values ('{p}', 'https://x/y.jpg')",
    "delete from public.image_rejected_candidates",
]


@pytest.fixture(scope="module")
def acl_db(templates: Templates) -> MigratedDatabase:
    return templates.fresh_database()


@pytest.fixture
async def conn(acl_db: MigratedDatabase) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(acl_db.dsn)
    await connection.execute(OPERATORS_ONLY)
    await connection.execute(
        f"insert into public.products (id, name, ean) values ('{PRODUCT}', 'Leite', '7891000100103')"
        " on conflict do nothing"
    )
    try:
        yield connection
    finally:
        await connection.close()


async def as_request(conn: asyncpg.Connection, role: str, sub: str | None, sql: str) -> list[Any]:
    """One PostgREST request: a transaction, the JWT's role and claims set locally."""
    claims: dict[str, Any] = {"role": role}
    if sub:
        claims["sub"] = sub
    async with conn.transaction():
        await conn.execute(f"set local role {role}")
        await conn.execute("select set_config('request.jwt.claims', $1, true)", json.dumps(claims))
        return list(await conn.fetch(sql))


async def denied(conn: asyncpg.Connection, role: str, sub: str | None, sql: str) -> bool:
    try:
        await as_request(conn, role, sub, sql)
    except asyncpg.InsufficientPrivilegeError:
        return True
    return False


async def test_anon_reaches_nothing(conn: asyncpg.Connection) -> None:
    for sql in REVIEW_CALLS + WORKER_CALLS:
        assert await denied(conn, "anon", None, sql), sql
    for table in ("image_jobs", "image_job_events", "image_rejected_candidates"):
        assert await denied(conn, "anon", None, f"select * from public.{table}"), table
    for sql in TABLE_WRITES:
        assert await denied(conn, "anon", None, sql.format(p=PRODUCT)), sql
    # From the catalogue: no Imagefill function but the pure normalize_gtin is executable by anon.
    open_to_anon = await conn.fetch(
        "select p.oid::regprocedure::text as f from pg_proc p join pg_namespace n on n.oid = p.pronamespace"
        " where n.nspname in ('public', 'imagefill') and has_function_privilege('anon', p.oid, 'execute')"
        " and p.prokind = 'f' and (n.nspname = 'imagefill' or p.prosrc ~ 'image')"
    )
    assert [r["f"] for r in open_to_anon] == []


async def test_a_signed_in_non_operator_reaches_no_rpc_and_no_job_row(conn: asyncpg.Connection) -> None:
    await conn.execute(f"select public.enqueue_product_image('{PRODUCT}')")  # a job exists to be seen
    assert await conn.fetchval("select count(*) from public.image_jobs") >= 1
    for sql in REVIEW_CALLS:
        try:
            await as_request(conn, "authenticated", OUTSIDER_SUB, sql)
        except asyncpg.InsufficientPrivilegeError as exc:
            assert "Acesso negado" in str(exc), sql
        else:
            raise AssertionError(f"non-operator reached {sql}")
    for table in ("image_jobs", "image_job_events", "image_rejected_candidates"):
        rows = await as_request(
            conn, "authenticated", OUTSIDER_SUB, f"select count(*) as n from public.{table}"
        )
        assert rows[0]["n"] == 0, table
    for sql in WORKER_CALLS:
        assert await denied(conn, "authenticated", OUTSIDER_SUB, sql), sql


async def test_an_operator_reviews_but_cannot_write_tables_or_run_worker_functions(
    conn: asyncpg.Connection,
) -> None:
    for sql in (
        "select public.image_backfill_progress(null)",
        "select * from public.image_review_queue(10, 0)",
    ):
        await as_request(conn, "authenticated", OPERATOR_SUB, sql)
    jobs = await as_request(
        conn, "authenticated", OPERATOR_SUB, "select id, status, last_error, attempts from public.image_jobs"
    )
    assert jobs, "operators read the jobs the panel shows"
    assert await denied(conn, "authenticated", OPERATOR_SUB, "select locked_by from public.image_jobs")
    assert await denied(conn, "authenticated", OPERATOR_SUB, "select * from public.image_jobs"), (
        "select * would include the lease columns"
    )
    for sql in TABLE_WRITES:
        assert await denied(conn, "authenticated", OPERATOR_SUB, sql.format(p=PRODUCT)), sql
    for sql in WORKER_CALLS:
        assert await denied(conn, "authenticated", OPERATOR_SUB, sql), sql


async def test_every_security_definer_function_pins_its_search_path(conn: asyncpg.Connection) -> None:
    rows = await conn.fetch(
        "select p.oid::regprocedure::text as f, p.prosecdef, coalesce(p.proconfig, '{}') as config"
        " from pg_proc p join pg_namespace n on n.oid = p.pronamespace"
        " where n.nspname in ('public', 'imagefill') and p.prokind in ('f', 'p')"
    )

    def search_path(config: list[str]) -> str | None:
        return next((c.split("=", 1)[1] for c in config if c.startswith("search_path=")), None)

    definers = [r for r in rows if r["prosecdef"]]
    assert len(definers) >= 8, "the review RPCs are SECURITY DEFINER"
    # A definer runs with its owner's rights: an empty (or catalog-only) path, names qualified.
    loose = [r["f"] for r in definers if search_path(r["config"]) not in ("", '""', "pg_catalog")]
    assert loose == []
    unpinned = [r["f"] for r in rows if search_path(r["config"]) is None]
    assert unpinned == [], "every Imagefill function pins its search_path"
