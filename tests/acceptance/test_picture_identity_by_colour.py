"""Picture identity follows the picture, never the design, through a real `imagefill run`: search
dedup keeps the black package of a design beside the red one (the zero-sugar and the regular
cola: their grey hashes are a few bits apart) and drops only the red one's copy; a person's
rejection (the panel's `reject_product_image` RPC) of the red package keeps its copies out and
lets the black one be proposed."""

from __future__ import annotations

import json
from collections.abc import Callable

import asyncpg

from tests.acceptance.conftest import WorkerProcess
from tests.acceptance.test_worker_end_to_end import OPERATOR_CLAIMS, insert_product, status_is
from tests.corpus import colourways as corpus
from tests.harness import MigratedDatabase, ean13, wait_until
from worker.offline.search_server import WebPicture
from worker.offline.services import OfflineServices


async def run_again(conn: asyncpg.Connection, product_id: str) -> list[tuple[str, str]]:
    """Enqueues the product and waits for that job: its download events, (outcome, url)."""
    job_id = await conn.fetchval("select public.enqueue_product_image($1::uuid) ->> 'job_id'", product_id)
    assert job_id is not None
    await wait_until(
        lambda: conn.fetchval("select status = 'done' from public.image_jobs where id = $1::uuid", job_id),
        within=60,
    )
    rows = await conn.fetch(
        "select outcome, detail ->> 'url' as url from public.image_job_events"
        " where job_id = $1::uuid and stage = 'download' order by id",
        job_id,
    )
    return [(r["outcome"], r["url"]) for r in rows]


async def test_a_rejected_picture_blocks_its_copies_but_not_another_colourway(
    start_worker: Callable[..., WorkerProcess],
    db_conn: asyncpg.Connection,
    services: OfflineServices,
    fresh_db: MigratedDatabase,
) -> None:
    assert services.off is not None
    base = services.image_base_url
    colourways = corpus.colourways()
    copy = next(c for c in corpus.copies() if c.name == "400px-jpeg-q50")
    services.image_host.files.update(
        {
            "cola-vermelha.jpg": colourways["vermelha"],
            "cola-vermelha-copia.jpg": copy.make(),
            "cola-preta.jpg": colourways["preta"],
        }
    )
    code = ean13(16, "789")

    def off_serves(name: str) -> None:
        services.off.add_product(  # type: ignore[union-attr]
            code,
            based_on="22007377",
            selected_images={},
            image_url=None,
            image_front_url=f"{base}/files/{name}",
        )

    off_serves("cola-vermelha.jpg")
    start_worker()
    product_id = await insert_product(db_conn, "Refrigerante cola zero 350ml", code, "Cola")
    reviewed = await wait_until(lambda: status_is(db_conn, product_id, "needs_review"))
    [candidate] = reviewed["image_candidate_urls"]
    assert candidate["url"] == f"{base}/files/cola-vermelha.jpg"

    # The operator rejects the red package (the regular one) on the panel.
    panel = await asyncpg.connect(fresh_db.dsn)
    try:
        await panel.execute("set role authenticated")
        await panel.execute("select set_config('request.jwt.claims', $1, false)", OPERATOR_CLAIMS)
        await panel.execute("select public.reject_product_image($1::uuid, 'é a versão normal')", product_id)
    finally:
        await panel.close()

    # The same picture, smaller and recompressed at another URL: refused as the rejected one.
    off_serves("cola-vermelha-copia.jpg")
    assert await run_again(db_conn, product_id) == [
        ("skipped_rejected_picture", f"{base}/files/cola-vermelha-copia.jpg")
    ]

    # The black package of the same design: another picture, proposed to the operator.
    off_serves("cola-preta.jpg")
    assert await run_again(db_conn, product_id) == [("ok", f"{base}/files/cola-preta.jpg")]
    stored = json.loads(
        await db_conn.fetchval(
            "select image_candidate_urls from public.products where id = $1::uuid", product_id
        )
    )
    assert f"{base}/files/cola-preta.jpg" in [c["url"] for c in stored]


async def test_search_dedup_keeps_another_colourway_and_drops_a_copy(
    start_worker: Callable[..., WorkerProcess],
    db_conn: asyncpg.Connection,
    services: OfflineServices,
) -> None:
    assert services.search is not None
    colourways = corpus.colourways()
    copy = next(c for c in corpus.copies() if c.name == "redimensionada-600px")
    services.image_host.files.update(
        {"vermelha.jpg": colourways["vermelha"], "copia.jpg": copy.make(), "preta.jpg": colourways["preta"]}
    )
    code = ean13(17, "789")  # not on Open Food Facts: straight to the search
    services.search.add(
        "cola",
        WebPicture(code, host="a.exemplo.com.br", width=800, height=1000, file="vermelha.jpg"),
        WebPicture(code, host="b.exemplo.com.br", width=480, height=600, file="copia.jpg"),
        WebPicture(code, host="c.exemplo.com.br", width=800, height=1000, file="preta.jpg"),
    )
    start_worker(judge=True, search=True)
    product_id = await insert_product(db_conn, "Refrigerante cola zero 350ml", code, "Cola")
    reviewed = await wait_until(lambda: status_is(db_conn, product_id, "needs_review"))

    urls = {c["url"].rsplit("/", 1)[-1] for c in reviewed["image_candidate_urls"] if "/files/" in c["url"]}
    assert urls == {"vermelha.jpg", "preta.jpg"}, "the copy is one picture with the red one; black is another"
    duplicates = await db_conn.fetch(
        "select detail ->> 'url' as url from public.image_job_events"
        " where product_id = $1::uuid and outcome = 'duplicate'",
        product_id,
    )
    assert [r["url"].rsplit("/", 1)[-1] for r in duplicates if "/files/" in r["url"]] == ["copia.jpg"]
