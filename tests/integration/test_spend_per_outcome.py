"""`imagefill status` shows this month's cost per product by where the product ended up
(approved from Open Food Facts, approved from the search, left for review), OpenAI and search
apart, from the usage lines in SQL (`imagefill.spend_per_outcome`): last month's lines do not
count, a dated model name takes its family's price, an unpriced model costs nothing."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import asyncpg

from tests.acceptance.test_cli_commands import imagefill
from tests.harness import MigratedDatabase

PRICES = '{"gpt-4.1-mini": [0.40, 1.60], "gpt-4.1": [2.00, 8.00]}'
SEARCH_PER_REQUEST = Decimal("0.005")


async def product(conn: asyncpg.Connection, name: str, ean: str, status: str, source: str | None) -> str:
    product_id = str(
        await conn.fetchval("insert into public.products (name, ean) values ($1, $2) returning id", name, ean)
    )
    if status != "missing":
        await conn.execute(
            "update public.products set image_status = $2::public.image_status,"
            " image_source = $3::public.image_source, image_url = case when $2 = 'ok'"
            " then 'https://cdn.example/x.jpg' end, image_confidence = case when $2 = 'ok' then 0.9 end,"
            " image_updated_at = now() where id = $1::uuid",
            product_id,
            status,
            source,
        )
    return product_id


async def usage(
    conn: asyncpg.Connection,
    product_id: str,
    model: str,
    purpose: str,
    tokens: tuple[int, int] = (0, 0),
    *,
    months_ago: int = 0,
) -> None:
    await conn.execute(
        "insert into imagefill.usage_records (product_id, model, purpose, input_tokens, output_tokens,"
        " requests, created_at) values ($1::uuid, $2, $3, $4, $5, 1, now() - make_interval(months => $6))",
        product_id,
        model,
        purpose,
        *tokens,
        months_ago,
    )


async def test_status_shows_this_months_cost_per_product_by_outcome(
    fresh_db: MigratedDatabase, tmp_path: Path
) -> None:
    conn = await asyncpg.connect(fresh_db.dsn)
    try:
        off_a = await product(conn, "Leite 1L", "7891000100103", "ok", "openfoodfacts")
        off_b = await product(conn, "Café 500g", "7891000053508", "ok", "openfoodfacts")
        found = await product(conn, "Biscoito 200g", "7896004000014", "ok", "search_api")
        review = await product(conn, "Geleia 300g", "7896005800019", "needs_review", None)
        # One verdict each for the OFF products (1M input tokens = US$ 0.40 at gpt-4.1-mini).
        await usage(conn, off_a, "gpt-4.1-mini-2025-04-14", "judge", (1_000_000, 0))
        await usage(conn, off_b, "gpt-4.1-mini", "judge", (0, 1_000_000))
        await usage(conn, off_b, "modelo-sem-preco", "judge", (5_000_000, 0))
        # The searched one: attributes ("gpt-4.1-x" takes gpt-4.1's price: the longest listed prefix
        # it starts with), two searches.
        await usage(conn, found, "gpt-4.1-x", "attributes", (500_000, 0))
        await usage(conn, found, "brave", "image_search")
        await usage(conn, found, "brave", "image_search")
        await usage(conn, review, "brave", "image_search")
        await usage(conn, review, "brave", "image_search", months_ago=1)  # last month's: not counted

        rows = {
            r["outcome"]: r
            for r in await conn.fetch(
                "select * from imagefill.spend_per_outcome($1::jsonb, $2)", PRICES, SEARCH_PER_REQUEST
            )
        }
    finally:
        await conn.close()

    assert set(rows) == {"openfoodfacts", "search", "needs_review"}
    assert rows["openfoodfacts"]["products"] == 2
    assert rows["openfoodfacts"]["openai_usd"] == Decimal("0.40") + Decimal("1.60")
    assert rows["openfoodfacts"]["search_usd"] == 0
    assert (rows["search"]["products"], rows["search"]["openai_usd"]) == (1, Decimal("1.00"))
    assert rows["search"]["search_usd"] == 2 * SEARCH_PER_REQUEST
    assert (rows["needs_review"]["products"], rows["needs_review"]["search_usd"]) == (1, SEARCH_PER_REQUEST)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "IMAGE_", "BUDGET_"))}
    env |= {
        "DATABASE_URL": fresh_db.dsn,
        "OPENAI_PRICES": "gpt-4.1-mini=0.40/1.60,gpt-4.1=2.00/8.00",
        "IMAGE_SEARCH_PRICE_PER_1000": "5",
    }
    result = await imagefill(env, tmp_path, "status", limit_seconds=60)
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())
    assert "Custo por produto neste mês" in out
    assert "aprovados pelo Open Food Facts │ 2 │ US$ 1.0000 │ US$ 0.0000 │ US$ 1.0000" in out
    assert "aprovados pela busca │ 1 │ US$ 1.0000 │ US$ 0.0100 │ US$ 1.0100" in out
    assert "deixados para revisão │ 1 │ US$ 0.0000 │ US$ 0.0050 │ US$ 0.0050" in out
