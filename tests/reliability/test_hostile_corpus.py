"""The hostile corpus (tests/corpus/): every picture refused with a clear reason or normalized,
every URL refused before any connection, and a real worker chewing on all of it at once stays
under the documented memory ceiling."""

from __future__ import annotations

import asyncio
import hashlib
import json
from io import BytesIO
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg
import pytest
from PIL import Image

from tests.corpus.pictures import CORPUS, Picture, picture_bytes
from tests.harness import MigratedDatabase, ean13, insert_products, wait_until
from tests.reliability.conftest import SpawnWorker, non_json_lines, peak_rss_mib, report
from worker.images import FetchPolicy, ImageRejected, download_image, image_session, normalize_image
from worker.offline.services import OfflineServices

URLS = [
    line
    for line in (Path(__file__).resolve().parents[1] / "corpus" / "urls.txt").read_text().splitlines()
    if line and not line.startswith("#")
]
# Documented in the README ("Garantias"): a worker at WORKER_CONCURRENCY=5 stays under this.
MEMORY_CEILING_MIB = 300
HEAVY_COPIES = 5  # every slot busy with a heavy picture at once
OPERATOR = json.dumps({"sub": "99999999-0000-0000-0000-0000000000ee", "role": "authenticated"})


@pytest.mark.parametrize("picture", CORPUS, ids=lambda p: p.name)
def test_each_picture_is_refused_with_a_reason_or_normalized(picture: Picture) -> None:
    data = picture_bytes(picture.name)
    if picture.refused is not None:
        with pytest.raises(ImageRejected, match=picture.refused) as caught:
            normalize_image(data)
        assert "\n" not in str(caught.value) and len(str(caught.value)) < 200
        return
    result = normalize_image(data, max_side=1200)
    main = Image.open(BytesIO(result.main_jpeg))
    assert main.format == "JPEG" and main.mode == "RGB" and max(main.size) <= 1200
    assert dict(main.getexif()) == {}, "metadata never survives"


@pytest.mark.parametrize("url", URLS)
async def test_each_url_is_refused_before_any_connection(url: str) -> None:
    policy = FetchPolicy()
    async with image_session(policy) as session:
        with pytest.raises(ImageRejected) as caught:
            await asyncio.wait_for(download_image(session, url, policy), timeout=5)
    assert "\n" not in str(caught.value)


async def test_the_review_panel_refuses_the_same_urls(fresh_db: MigratedDatabase) -> None:
    conn = await asyncpg.connect(fresh_db.dsn)
    try:
        # Production's default: no private host allowed (the test template allows the stand-ins').
        await conn.execute("delete from imagefill.fetch_allow_hosts")
        [product_id] = await insert_products(conn, fresh_db.catalogue, [("Leite", None)])
        refused = []
        for url in URLS:
            try:
                async with conn.transaction():
                    await conn.execute("set local role authenticated")
                    await conn.execute("select set_config('request.jwt.claims', $1, true)", OPERATOR)
                    await conn.execute("select public.approve_product_image($1::uuid, $2)", product_id, url)
            except asyncpg.PostgresError as exc:
                assert exc.sqlstate == "22023", (url, exc)
                refused.append(url)
        assert refused == URLS
        assert await conn.fetchval("select count(*) from public.image_jobs where kind = 'approve'") == 0
    finally:
        await conn.close()


async def test_a_worker_under_the_whole_corpus_stays_under_its_memory_ceiling(
    fresh_db: MigratedDatabase, services: OfflineServices, spawn_worker: SpawnWorker
) -> None:
    assert services.off is not None and services.storage is not None
    base = services.image_base_url
    names = [p.name for p in CORPUS]
    heavy = ["large-legal.png", "large.jpg", "square-6300.png", "pixel-bomb.png"]
    plan = names + [name for name in heavy for _ in range(HEAVY_COPIES - 1)]
    for name in set(plan):
        services.image_host.files[name] = picture_bytes(name)
    codes = [ean13(i, "400") for i in range(len(plan))]
    for code, name in zip(codes, plan, strict=True):
        services.off.add_product(
            code,
            based_on="22007377",
            selected_images={},
            image_url=None,
            image_front_url=f"{base}/files/{name}",
        )

    worker = spawn_worker(fresh_db.dsn, WORKER_CONCURRENCY="5")
    conn = await asyncpg.connect(fresh_db.dsn)
    try:
        ids = await insert_products(
            conn, fresh_db.catalogue, [(n, c) for n, c in zip(plan, codes, strict=True)]
        )

        async def settled() -> bool:
            n = await conn.fetchval(
                "select count(*) from public.products"
                " where id = any($1::uuid[]) and image_status <> 'needs_review'",
                ids,
            )
            return n == 0

        await wait_until(settled, within=240, interval=0.2)
        rows = await conn.fetch(
            "select id::text, image_candidate_urls from public.products where id = any($1::uuid[])", ids
        )
        by_id = {r["id"]: json.loads(r["image_candidate_urls"]) for r in rows}
        assert services.storage.objects == {}, "nothing is stored without a decision"
        expected = {p.name: p.refused for p in CORPUS}
        to_approve = []
        for product_id, name in zip(ids, plan, strict=True):
            [candidate] = by_id[product_id]
            if expected[name] is None:
                assert candidate.get("usable", True) is True, (name, candidate)
                to_approve.append((product_id, candidate["url"]))
            else:
                assert candidate["usable"] is False and expected[name] in candidate["reason"], (
                    name,
                    candidate,
                )

        # A person approves every acceptable one: the heavy decodes run again, and are stored.
        for product_id, url in to_approve:
            async with conn.transaction():
                await conn.execute("set local role authenticated")
                await conn.execute("select set_config('request.jwt.claims', $1, true)", OPERATOR)
                await conn.execute("select public.approve_product_image($1::uuid, $2)", product_id, url)
        approved = [p for p, _ in to_approve]

        async def stored() -> bool:
            n = await conn.fetchval(
                "select count(*) from public.products where id = any($1::uuid[]) and image_status <> 'ok'",
                approved,
            )
            return n == 0

        await wait_until(stored, within=240, interval=0.2)
        for row in await conn.fetch(
            "select id::text, image_url from public.products where id = any($1::uuid[])", approved
        ):
            version = parse_qs(urlsplit(row["image_url"]).query)["v"][0]
            main = services.storage.objects[("product-images", f"products/{row['id']}/main.jpg")]
            assert hashlib.sha256(main.data).hexdigest().startswith(version)
    finally:
        await conn.close()

    peak = peak_rss_mib(worker.proc.pid)
    assert worker.proc.poll() is None
    assert not non_json_lines(worker)
    report(
        "hostile_corpus",
        pictures=len(plan),
        approved=len(to_approve),
        peak_rss_mib=round(peak, 1),
        ceiling_mib=MEMORY_CEILING_MIB,
    )
    assert peak < MEMORY_CEILING_MIB, f"peak RSS {peak:.0f} MiB"
