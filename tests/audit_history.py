"""A history of automatic approvals for the audit tests, and the panel's session."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg

from tests.harness import insert_products

OPERATOR_ID = "99999999-0000-0000-0000-00000000abcd"
OPERATOR = json.dumps({"sub": OPERATOR_ID, "role": "authenticated"})
NOT_OPERATOR = json.dumps({"role": "authenticated"})  # signed in, but no user id: not an operator


async def as_operator(conn: asyncpg.Connection, claims: str = OPERATOR) -> None:
    """What PostgREST does for a signed-in user's supabase.rpc(...) call."""
    await conn.execute("set role authenticated")
    await conn.execute("select set_config('request.jwt.claims', $1, false)", claims)


async def generate_history(
    conn: asyncpg.Connection,
    cat: Any,
    rows: list[tuple[str, float, datetime]],
    products: list[tuple[str, str | None]] | None = None,
    originals: list[str] | None = None,
) -> list[str]:
    """Products holding automatic pictures, finished through the job update the trigger watches.
    rows: (source, confidence, approved at); products: (name, ean) of each (default: no EAN);
    originals: the approved candidate's URL of each (default: one per product)."""
    ids = await insert_products(conn, cat, products or [(f"Produto {i}", None) for i in range(len(rows))])
    await conn.execute(
        f"update {cat.qualified} p set image_status = 'ok',"
        f" image_url = 'https://s.example/' || p.{cat.id} || '.jpg',"
        " image_source = x.source::public.image_source, image_confidence = x.confidence,"
        " image_updated_at = x.at"
        " from unnest($1::text[], $2::text[], $3::numeric[], $4::timestamptz[]) x(id, source, confidence, at)"
        f" where p.{cat.id}::text = x.id",
        ids,
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
    )
    # A product with an EAN already has its queued job (the insert trigger); the others get one.
    await conn.execute(
        "insert into public.image_jobs (product_id, kind, status, locked_by, locked_until)"
        " select unnest($1::text[])::uuid, 'enrich', 'running', 'w', now() + interval '1 hour'"
        " on conflict (product_id, kind) where status in ('queued', 'running') do nothing",
        ids,
    )
    await conn.execute(
        "update public.image_jobs j set status = 'done', finished_at = now(), locked_by = null,"
        " locked_until = null, result = jsonb_build_object('outcome', 'ok', 'original_url',"
        " coalesce(x.original, 'https://o.example/' || j.product_id))"
        " from unnest($1::text[], $2::text[]) x(id, original)"
        " where j.product_id::text = x.id and j.status in ('queued', 'running')",
        ids,
        originals or [None] * len(ids),
    )
    return ids
