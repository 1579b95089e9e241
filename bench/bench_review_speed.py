"""How long the review panel makes an operator wait: Chromium clears N review items with the
keyboard only (`A` approves the best candidate) and we time, per item, from the key press until
the next item is selected with all its candidate pictures loaded.

Baseline in the same run: the server round trip of each approval (`POST /api/imagefill/approve`), i.e.
what the operator would wait per item if the panel waited for the server before moving on. The
goal is a wait well under 200 ms and a ratio below 1 (the optimistic panel never waits for it).

    .venv/bin/python -m bench.bench_review_speed --items 50
"""

from __future__ import annotations

import argparse
import asyncio

import asyncpg
from playwright.async_api import Page

from bench import panel_speed
from bench.common import ean13
from worker.migrate import apply_migrations
from worker.offline.postgres import LocalPostgres


async def open_review(page: Page) -> None:
    await page.wait_for_selector('.painel[data-ready="true"] li.item[aria-current="true"] img')


REVIEW_LIST = panel_speed.KeyboardList(
    open=open_review,
    current_selector='li.item[aria-current="true"]',
    id_attribute="data-product-id",
    key="a",
    empty_text="Nada para revisar agora",
    endpoint="/api/imagefill/approve",
)


async def prepare(pg: LocalPostgres, image_base_url: str, items: int) -> None:
    """`items` products in needs_review, each with two candidate pictures of its own (unique URLs,
    so the browser's cache cannot flatter the panel). Seeded directly: this measures the panel."""
    await apply_migrations(pg.dsn(user="postgres"))
    conn = await asyncpg.connect(pg.dsn())
    try:
        codes = [ean13(90_000 + n) for n in range(items)]
        await conn.executemany(
            """
            insert into public.products (name, brand, ean, image_status, image_candidate_urls)
            values ($1, 'Marca', $2, 'needs_review', jsonb_build_array(
              jsonb_build_object('url', $3::text, 'source', 'openfoodfacts', 'confidence', 0.7,
                                 'reason', 'embalagem parecida'),
              jsonb_build_object('url', $4::text, 'source', 'search_api', 'confidence', 0.5,
                                 'reason', 'outra vista')))
            """,
            [
                (
                    f"Produto de teste {n + 1}",
                    code,
                    f"{image_base_url}/marked/{code}/9/packshot/600x800/frente.jpg",
                    f"{image_base_url}/marked/{code}/7/packshot/480x640/lado.jpg",
                )
                for n, code in enumerate(codes)
            ],
        )
    finally:
        await conn.close()


async def measure(items: int) -> None:
    waits, round_trips, build, total = await panel_speed.measure(items, "bench-review-", prepare, REVIEW_LIST)
    panel_speed.report(
        f"review speed: {items} items cleared with the keyboard (A) in Chromium",
        "key press → next item ready, pictures loaded",
        "approve round trip (POST /api/imagefill/approve)",
        waits,
        round_trips,
        build,
        total,
        seconds_per_item=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(measure(args.items))


if __name__ == "__main__":
    main()
