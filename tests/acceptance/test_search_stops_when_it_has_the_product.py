"""The image search pays only until it has the product: queries one by one, most specific first,
the hits of a query judged best-looking first, stop at the first approvable one. Measured on the
demo mix (`imagefill demo`'s catalogue and scripted web) through a real `imagefill run` process,
with the stand-ins counting what was asked of them."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from tests.acceptance.conftest import WorkerProcess
from tests.acceptance.test_worker_end_to_end import insert_product, status_is
from tests.harness import MigratedDatabase, wait_until
from worker.demo import approve_as_operator, script_the_web, seed_demo_catalogue
from worker.offline.search_server import WebPicture
from worker.offline.services import OfflineServices

# What ended with a picture on the demo mix before the search learned to stop: the judge's
# approvals from Open Food Facts and, through the search, Nescau, plus Moça, which the demo
# operator approves on the panel (its best search candidate is a close match).
APPROVED_ON_THE_DEMO_MIX = {
    ("Kit de macarrão tailandês com amendoim 155g", "openfoodfacts"),
    ("Arroz jasmim Imperial Grain 1kg", "openfoodfacts"),
    ("Vinho do Porto Special Reserve 750ml", "openfoodfacts"),
    ("Bebida de soja ecológica 1L", "openfoodfacts"),
    ("Bebida de soja (código com espaços)", "openfoodfacts"),
    ("Papai Noel de chocolate ao leite 125g", "openfoodfacts"),
    ("Produto Asda", "openfoodfacts"),
    ("Achocolatado em pó 400g", "search_api"),
    ("Leite condensado 395g", "search_api"),
}


async def settled(conn: asyncpg.Connection) -> bool:
    """Every enqueued job finished (done or failed) and none waits."""
    pending = await conn.fetchval(
        "select count(*) from public.image_jobs where status in ('queued', 'running')"
    )
    finished = await conn.fetchval("select count(*) from public.image_jobs")
    return bool(pending == 0 and finished > 0)


async def test_the_demo_mix_costs_at_most_one_and_a_half_searches_and_four_verdicts_per_product(
    start_worker: Callable[..., WorkerProcess],
    db_conn: asyncpg.Connection,
    services: OfflineServices,
    fresh_db: MigratedDatabase,
) -> None:
    assert services.search is not None
    script_the_web(services)
    start_worker(judge=True, search=True)
    await seed_demo_catalogue(db_conn)
    await wait_until(lambda: settled(db_conn), within=120)

    searched = await db_conn.fetchval(
        "select count(distinct product_id) from public.image_job_events where stage = 'query_builder'"
    )
    # Verdicts paid for in the search stage: judge events on pictures the search found.
    search_verdicts = await db_conn.fetchval(
        """
        select count(*) from public.image_job_events e
          join public.products p on p.id = e.product_id
         where e.stage = 'openai_judge' and e.outcome in ('match', 'no_match', 'no_verdict')
           and not coalesce((e.detail ->> 'cached')::boolean, false)
           and exists (select 1 from jsonb_array_elements(p.image_candidate_urls) c
                        where c ->> 'url' = e.detail ->> 'url' and c ->> 'source' = 'search_api')
        """
    )
    requests = len(services.search.requests)
    verdicts = len(services.openai.judge_calls())
    assert searched == 15, "the demo mix sends 15 products to the search"
    assert requests / searched <= 1.5, f"{requests} search requests for {searched} products"
    assert search_verdicts / searched <= 4, f"{search_verdicts} search verdicts for {searched} products"
    assert verdicts / searched <= 4, f"{verdicts} verdicts in all for {searched} products"

    # The same products end with a picture as before, from the same stage.
    assert await approve_as_operator(fresh_db.dsn) == 1
    await wait_until(lambda: settled(db_conn), within=60)
    rows = await db_conn.fetch(
        "select name, image_source::text as source from public.products where image_status = 'ok'"
    )
    assert {(r["name"], r["source"]) for r in rows} == APPROVED_ON_THE_DEMO_MIX
    nescau = await db_conn.fetchrow(
        "select image_candidate_urls -> 0 as best from public.products where name = 'Achocolatado em pó 400g'"
    )
    assert '"packshot": true' in nescau["best"], "the packshot, judged first, is the one approved"


async def test_the_search_stops_after_the_first_query_that_finds_the_product(
    start_worker: Callable[..., WorkerProcess],
    db_conn: asyncpg.Connection,
    services: OfflineServices,
) -> None:
    assert services.search is not None
    services.search.noise = 3
    services.search.add(
        "nescau",
        WebPicture("7891000053508", 9, "scene", 700, 700, "receitas.exemplo.com.br"),
        WebPicture("7891000053508", 9, "packshot", 1000, 1200, "supermercado.exemplo.com.br"),
        WebPicture("7891000053508", 9, "packshot", 400, 400, "miniaturas.exemplo.com.br"),
    )
    start_worker(judge=True, search=True)
    product_id = await insert_product(db_conn, "Achocolatado em pó 400g", "7891000053508", "Nescau")

    stored = await wait_until(lambda: status_is(db_conn, product_id, "ok", "needs_review"))
    assert stored["image_status"] == "ok" and stored["image_source"] == "search_api"
    assert [r.query for r in services.search.requests] == ["EAN 7891000053508 Nescau Achocolatado em pó"]
    # Six pictures came back; the large packshot looked best and was the only one judged.
    [verdict] = services.openai.judge_calls()
    assert verdict.image_size is not None
    assert "/1000x1200/" in stored["image_candidate_urls"][0]["url"]
