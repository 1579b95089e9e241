"""A retried job or a person's "reject and retry" does not pay twice for the same question (a
search query's hits, the attributes OpenAI extracted) within ANSWER_CACHE_TTL_HOURS; after it,
the question is asked again. Through a real `imagefill run` process; the stand-ins count requests."""

from __future__ import annotations

import json
from collections.abc import Callable

import asyncpg

from tests.acceptance.conftest import WorkerProcess
from tests.acceptance.test_judge_and_search_stages import job_done
from tests.acceptance.test_worker_end_to_end import insert_product, status_is
from tests.harness import wait_until
from worker.offline.search_server import WebPicture
from worker.offline.services import OfflineServices

OPERATOR = "00000000-0000-4000-8000-00000000c0de"


def attribute_calls(services: OfflineServices) -> int:
    return sum(1 for c in services.openai.calls if c.schema == "product_attributes")


async def reject_and_retry(conn: asyncpg.Connection, product_id: str) -> None:
    """The panel's "Rejeitar e tentar de novo", called as supabase.rpc does (a signed-in person)."""
    async with conn.transaction():
        await conn.execute("set local role authenticated")
        await conn.execute(
            "select set_config('request.jwt.claims', $1, true)",
            json.dumps({"sub": OPERATOR, "role": "authenticated"}),
        )
        await conn.execute("select public.reject_product_image($1::uuid, 'não é este', true)", product_id)


async def test_a_retry_and_a_reject_and_retry_reuse_the_answers_until_they_expire(
    start_worker: Callable[..., WorkerProcess],
    db_conn: asyncpg.Connection,
    services: OfflineServices,
) -> None:
    assert services.search is not None
    services.search.add(
        "sabão em pó",
        WebPicture("7891149101009", 6, "packshot", 800, 800, "atacado.exemplo.com.br"),
        WebPicture("7891149101009", 4, "scene", 700, 700, "blog.exemplo.com.br"),
    )
    start_worker(judge=True, search=True)
    product_id = await insert_product(db_conn, "Sabão em pó 1kg", "7891149101009", "Omo")
    await wait_until(lambda: status_is(db_conn, product_id, "needs_review"))
    # Close matches only: every query was worth asking.
    assert len(services.search.requests) == 3 and attribute_calls(services) == 1
    judged = len(services.openai.judge_calls())

    # A retried job: the same three questions, answered from the cache; the verdicts too.
    await db_conn.execute("select public.enqueue_product_image($1::uuid, true)", product_id)
    await wait_until(lambda: job_done(db_conn, product_id, 2))
    assert len(services.search.requests) == 3, "no query paid twice"
    assert attribute_calls(services) == 1, "the attributes are not extracted twice"
    assert len(services.openai.judge_calls()) == judged
    cached = await db_conn.fetchval(
        "select count(*) from public.image_job_events where product_id = $1::uuid"
        " and stage = 'image_search' and outcome = 'cached_answer'",
        product_id,
    )
    assert cached == 3

    # A person rejects every candidate and asks again: the cached hits are all rejected now, so
    # the product goes back to review without a single new paid request.
    await reject_and_retry(db_conn, product_id)
    await wait_until(lambda: job_done(db_conn, product_id, 3))
    reviewed = await status_is(db_conn, product_id, "needs_review")
    assert reviewed is not None
    assert len(services.search.requests) == 3 and attribute_calls(services) == 1
    assert len(services.openai.judge_calls()) == judged

    # Older than ANSWER_CACHE_TTL_HOURS (168 by default): asked again.
    await db_conn.execute(
        "update imagefill.answer_cache set created_at = now() - interval '169 hours'"
        " where product_id = $1::uuid",
        product_id,
    )
    await db_conn.execute("select public.enqueue_product_image($1::uuid, true)", product_id)
    await wait_until(lambda: job_done(db_conn, product_id, 4))
    assert len(services.search.requests) == 6 and attribute_calls(services) == 2
