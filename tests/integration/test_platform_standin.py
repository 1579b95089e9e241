"""The platform stand-in behaves like Supabase Cloud where our migrations could trip."""

from __future__ import annotations

import asyncpg
import pytest

from tests.harness import Templates


@pytest.mark.parametrize(
    "statement",
    [
        "create table auth.imagefill_x (id int)",
        "create function storage.imagefill_f() returns int language sql as 'select 1'",
        "create table realtime.imagefill_x (id int)",
        "create table extensions.imagefill_x (id int)",
    ],
)
async def test_postgres_cannot_create_objects_in_platform_schemas(
    templates: Templates, statement: str
) -> None:
    db = templates.empty_database()
    conn = await asyncpg.connect(db.dsn)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(statement)
    finally:
        await conn.close()


async def test_postgres_is_a_demoted_member_of_the_api_roles(templates: Templates) -> None:
    db = templates.empty_database()
    conn = await asyncpg.connect(db.dsn)
    try:
        role = await conn.fetchrow(
            "select rolsuper, rolcreatedb, rolcreaterole, rolbypassrls from pg_roles"
            " where rolname = 'postgres'"
        )
        assert tuple(role) == (False, True, True, True)
        for api_role in ("anon", "authenticated", "service_role"):
            assert await conn.fetchval("select pg_has_role('postgres', $1, 'member')", api_role)
        assert await conn.fetchval("select rolbypassrls from pg_roles where rolname = 'service_role'")
        await conn.execute(
            "select set_config('request.jwt.claims', $1, false)",
            '{"sub": "11111111-1111-1111-1111-111111111111", "role": "authenticated"}',
        )
        assert str(await conn.fetchval("select auth.uid()")) == "11111111-1111-1111-1111-111111111111"
        assert await conn.fetchval("select auth.role()") == "authenticated"
        await conn.execute("set request.jwt.claim.sub = '22222222-2222-2222-2222-222222222222'")
        assert str(await conn.fetchval("select auth.uid()")) == "22222222-2222-2222-2222-222222222222", (
            "the singular request.jwt.claim.sub wins, as in Supabase's definition"
        )
        assert (
            await conn.fetchval("select count(*) from pg_publication where pubname = 'supabase_realtime'")
            == 1
        )
    finally:
        await conn.close()
