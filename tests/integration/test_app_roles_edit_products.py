"""The app's own roles edit the catalogue through Imagefill's triggers: a planogram editor signed in
as `authenticated` (supabase-js) or a server route as `service_role` inserts products, changes an
EAN, writes and clears a picture. None of them has any right on the private `imagefill` schema, so
every trigger function that touches it must run as its owner (SECURITY DEFINER)."""

from __future__ import annotations

import json

import asyncpg
import pytest

from tests.harness import MigratedDatabase, ean13

# What an app whose signed-in users edit the catalogue has (Imagefill turns RLS on for the table).
APP_GRANT = (
    "grant select, insert, update, delete on public.products to authenticated, service_role;"
    " create policy app_users_edit on public.products for all to authenticated using (true) with check (true)"
)
USER_CLAIMS = json.dumps({"sub": "00000000-0000-4000-8000-00000000a99a", "role": "authenticated"})


async def jobs_for(conn: asyncpg.Connection, product_id: str) -> list[str]:
    rows = await conn.fetch(
        "select status::text from public.image_jobs where product_id = $1::uuid order by created_at",
        product_id,
    )
    return [r["status"] for r in rows]


@pytest.mark.parametrize("role", ["authenticated", "service_role"])
async def test_the_apps_roles_insert_change_the_ean_and_write_pictures(
    fresh_db: MigratedDatabase, role: str
) -> None:
    conn = await asyncpg.connect(fresh_db.dsn)
    try:
        await conn.execute(APP_GRANT)

        async def as_app(sql: str, *args: object) -> object:
            async with conn.transaction():
                await conn.execute(f"set local role {role}")
                await conn.execute("select set_config('request.jwt.claims', $1, true)", USER_CLAIMS)
                return await conn.fetchval(sql, *args)

        product = str(
            await as_app(
                "insert into public.products (name, ean) values ('Café 500g', $1) returning id", ean13(7001)
            )
        )
        assert await jobs_for(conn, product) == ["queued"]
        # The job ran and found nothing: in review. A person fixes the EAN: back to missing, queued.
        await conn.execute(
            "update public.image_jobs set status = 'done', finished_at = now() where product_id = $1::uuid",
            product,
        )
        await conn.execute(
            "select imagefill.as_automation(true);"
            f" update public.products set image_status = 'needs_review' where id = '{product}'::uuid;"
            " select imagefill.as_automation(false);"
        )
        await as_app("update public.products set ean = $2 where id = $1::uuid", product, ean13(7002))
        status = await conn.fetchval(
            "select image_status::text from public.products where id = $1::uuid", product
        )
        assert status == "missing"
        assert await jobs_for(conn, product) == ["done", "queued"]

        # A picture written by the app is the person's: ok/manual, the queued job ends unrun.
        await as_app(
            "update public.products set image_url = 'https://example.com/cafe.jpg' where id = $1::uuid",
            product,
        )
        row = await conn.fetchrow(
            "select image_status::text, image_source::text from public.products where id = $1::uuid", product
        )
        assert tuple(row) == ("ok", "manual")
        assert await jobs_for(conn, product) == ["done", "done"]
        # Cleared: no picture again, queued again.
        await as_app("update public.products set image_url = null where id = $1::uuid", product)
        status = await conn.fetchval(
            "select image_status::text from public.products where id = $1::uuid", product
        )
        assert status == "missing"
        assert await jobs_for(conn, product) == ["done", "done", "queued"]
        # A blank picture is no picture (the app's form sent an empty field).
        await as_app("update public.products set image_url = '  ' where id = $1::uuid", product)
        row = await conn.fetchrow(
            "select image_url, image_status::text from public.products where id = $1::uuid", product
        )
        assert tuple(row) == (None, "missing")
        await as_app("delete from public.products where id = $1::uuid", product)
        assert await jobs_for(conn, product) == []
    finally:
        await conn.close()
