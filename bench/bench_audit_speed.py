"""How long the audit list ("Aprovadas automaticamente") makes an operator wait: Chromium clears N
automatic approvals with the keyboard only (`C` confirms) and we time, per item, from the key press
until the next item is selected with its picture loaded — the same measure as bench_review_speed.py.

Baseline in the same run: the server round trip of each confirmation (`POST
/api/imagefill/audit-confirm`), i.e. what the operator would wait per item if the panel waited for
the server before moving on. The goal: a wait well under 200 ms and a ratio below 1.

    .venv/bin/python -m bench.bench_audit_speed --items 50
"""

from __future__ import annotations

import argparse
import asyncio

import asyncpg
from playwright.async_api import Page

from bench import panel_speed
from bench.common import ean13
from tests.audit_history import complete_claimed_jobs
from worker.migrate import apply_migrations
from worker.offline.postgres import LocalPostgres


async def open_audit(page: Page) -> None:
    await page.wait_for_selector('.painel[data-ready="true"]')
    await page.get_by_role("tab", name="Aprovadas automaticamente").click()
    await page.wait_for_selector('li.auditada[aria-current="true"] img')


AUDIT_LIST = panel_speed.KeyboardList(
    open=open_audit,
    current_selector='li.auditada[aria-current="true"]',
    id_attribute="data-approval-id",
    key="c",
    empty_text="Nada a auditar na amostra agora",
    endpoint="/api/imagefill/audit-confirm",
)


async def prepare(pg: LocalPostgres, image_base_url: str, items: int) -> None:
    """`items` products whose pictures the judge approved, each completed by the worker's own SQL
    function, each picture at its own URL (the browser's cache cannot flatter the panel). The
    sample takes every approval (sample_rate 1, set as the README says) so the list holds them all."""
    await apply_migrations(pg.dsn(user="postgres"))
    conn = await asyncpg.connect(pg.dsn())
    try:
        codes = [ean13(80_000 + n) for n in range(items)]
        rows = await conn.fetch(
            "insert into public.products (name, brand, ean)"
            " select * from unnest($1::text[], $2::text[], $3::text[]) returning id::text, ean",
            [f"Produto aprovado {n + 1}" for n in range(items)],
            ["Marca"] * items,
            codes,
        )
        await complete_claimed_jobs(
            conn,
            {
                r["id"]: (
                    f"{image_base_url}/marked/{r['ean']}/9/packshot/600x800/frente.jpg",
                    "openfoodfacts",
                    0.93,
                    "mesmo produto, mesma embalagem",
                    None,
                )
                for r in rows
            },
        )
        await conn.execute("update imagefill.audit_settings set sample_rate = 1")
    finally:
        await conn.close()


async def measure(items: int) -> None:
    waits, round_trips, build, total = await panel_speed.measure(items, "bench-audit-", prepare, AUDIT_LIST)
    panel_speed.report(
        f"audit speed: {items} automatic approvals cleared with the keyboard (C) in Chromium",
        "key press → next item ready, picture loaded",
        "confirm round trip (POST /api/imagefill/audit-confirm)",
        waits,
        round_trips,
        build,
        total,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(measure(args.items))


if __name__ == "__main__":
    main()
