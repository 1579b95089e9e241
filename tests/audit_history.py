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


async def complete_claimed_jobs(
    conn: asyncpg.Connection,
    approvals: dict[str, tuple[str, str, float, str, str | None]],
) -> None:
    """Claims the queued enrich jobs of these products and completes each as the worker does when the
    judge approved a picture (imagefill.complete_image_job with outcome ok). approvals: product id ->
    (stored picture URL, source, confidence, the judge's reason, page host of a search picture)."""
    jobs = await conn.fetch("select * from imagefill.claim_image_jobs('w', 10000, 600)")
    claimed = {str(j["product_id"]): j["job_id"] for j in jobs}
    assert set(approvals) <= set(claimed), "every product must have a queued enrich job"
    for product_id, (stored, source, confidence, reason, host) in approvals.items():
        original = f"{stored}?original"
        result: dict[str, object] = {"outcome": "ok", "original_url": original}
        if host:
            result |= {"page_url": f"https://{host}/produto", "page_host": host}
        candidates = [{"url": original, "source": source, "confidence": confidence, "reason": reason}]
        await conn.execute(
            "select imagefill.complete_image_job($1, 'w', 'ok', $2, $3::public.image_source, $4,"
            " p_candidates => $5::jsonb, p_result => $6::jsonb)",
            claimed[product_id],
            stored,
            source,
            confidence,
            json.dumps(candidates),
            json.dumps(result),
        )
    # Jobs claimed on the way for other products go back to the queue.
    await conn.execute(
        "update public.image_jobs set status = 'queued', locked_by = null, locked_until = null"
        " where status = 'running' and locked_by = 'w'"
    )


async def audit_list(conn: asyncpg.Connection, mode: str) -> list[asyncpg.Record]:
    """Every row of the audit list (`image_audit_queue`, "sample" or "all"), paged through by its
    cursor 200 at a time, newest first."""
    rows: list[asyncpg.Record] = []
    page = await conn.fetch("select * from public.image_audit_queue($1, 200)", mode)
    while page:
        rows += page
        page = await conn.fetch(
            "select * from public.image_audit_queue($1, 200, $2, $3)",
            mode,
            page[-1]["approved_at"],
            page[-1]["approval_id"],
        )
    return rows
