"""A product inserted with SQL becomes a stored image (or needs_review) while `imagefill run` runs."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Callable
from io import BytesIO
from typing import Any

import asyncpg
from PIL import Image

from tests.acceptance.conftest import IMAGEFILL, WorkerProcess
from tests.harness import MigratedDatabase, wait_until
from worker.offline.services import OfflineServices

OPERATOR_CLAIMS = json.dumps({"sub": "99999999-0000-0000-0000-0000000000aa", "role": "authenticated"})


async def insert_product(conn: asyncpg.Connection, name: str, ean: str, brand: str | None = None) -> str:
    return str(
        await conn.fetchval(
            "insert into public.products (name, brand, ean) values ($1, $2, $3) returning id::text",
            name,
            brand,
            ean,
        )
    )


async def product(conn: asyncpg.Connection, product_id: str) -> dict[str, Any]:
    row = await conn.fetchrow("select * from public.products where id = $1::uuid", product_id)
    assert row is not None
    data = dict(row)
    data["image_candidate_urls"] = json.loads(data["image_candidate_urls"])
    return data


async def status_is(conn: asyncpg.Connection, product_id: str, *statuses: str) -> dict[str, Any] | None:
    data = await product(conn, product_id)
    return data if data["image_status"] in statuses else None


async def events(conn: asyncpg.Connection, product_id: str) -> list[tuple[str, str]]:
    rows = await conn.fetch(
        "select stage, outcome from public.image_job_events where product_id = $1::uuid order by id",
        product_id,
    )
    return [(r["stage"], r["outcome"]) for r in rows]


async def test_off_candidate_goes_to_review_and_an_approved_image_is_stored(
    start_worker: Callable[..., WorkerProcess],
    db_conn: asyncpg.Connection,
    services: OfflineServices,
    fresh_db: MigratedDatabase,
) -> None:
    worker = start_worker()
    product_id = await insert_product(db_conn, "Vinho do Porto", "5601077161035", "Calem")

    reviewed = await wait_until(lambda: status_is(db_conn, product_id, "needs_review"))
    assert reviewed["image_url"] is None and reviewed["image_confidence"] is None, (
        "never ok without a validator"
    )
    [candidate] = reviewed["image_candidate_urls"]
    assert candidate["source"] == "openfoodfacts"
    assert candidate["url"].endswith("/front_fr.6.full.jpg"), "the full-size image is preferred"
    assert ("openfoodfacts", "found") in await events(db_conn, product_id)
    assert ("openai_judge", "not_configured") in await events(db_conn, product_id)

    # A person approves it on the panel, exactly as supabase.rpc does.
    panel = await asyncpg.connect(fresh_db.dsn)
    try:
        await panel.execute("set role authenticated")
        await panel.execute("select set_config('request.jwt.claims', $1, false)", OPERATOR_CLAIMS)
        await panel.execute("select public.approve_product_image($1::uuid, $2)", product_id, candidate["url"])
    finally:
        await panel.close()

    stored = await wait_until(lambda: status_is(db_conn, product_id, "ok"))
    assert stored["image_source"] == "openfoodfacts"
    assert float(stored["image_confidence"]) == 1.0
    assert stored["image_updated_at"] is not None
    assert str(stored["image_reviewed_by"]) == "99999999-0000-0000-0000-0000000000aa"
    path = f"products/{product_id}/main.jpg"
    assert stored["image_url"].startswith(
        f"{services.storage_url}/storage/v1/object/public/product-images/{path}?v="
    )
    assert services.storage is not None
    main = Image.open(BytesIO(services.storage.objects[("product-images", path)].data))
    thumb = Image.open(
        BytesIO(services.storage.objects[("product-images", f"products/{product_id}/thumb_256.jpg")].data)
    )
    assert main.format == "JPEG" and max(main.size) <= 1200 and max(thumb.size) == 256

    # The worker counts a completion once its commit returns, a moment after the row reads ok.
    async def counted() -> dict[str, Any] | None:
        health = await asyncio.to_thread(worker.health)
        return health if health["completed"] >= 2 else None

    health = await wait_until(counted)
    assert health["status"] == "ok" and health["listener_connected"]
    metrics = worker.metrics()
    assert "imagefill_jobs_completed_total" in metrics
    assert 'imagefill_event_loop_lag_seconds_bucket{le="+Inf"}' in metrics
    assert "loop_lag_p99_seconds" in health
    assert '"job_done"' in worker.log() and '"product_id"' in worker.log()


async def test_off_not_found_goes_to_review_without_candidates(
    start_worker: Callable[..., WorkerProcess], db_conn: asyncpg.Connection
) -> None:
    start_worker()
    product_id = await insert_product(db_conn, "Guaraná 2L", "7894900011517")
    reviewed = await wait_until(lambda: status_is(db_conn, product_id, "needs_review"))
    assert reviewed["image_candidate_urls"] == []
    assert ("openfoodfacts", "not_found") in await events(db_conn, product_id)


async def test_off_429_then_success(
    start_worker: Callable[..., WorkerProcess], db_conn: asyncpg.Connection, services: OfflineServices
) -> None:
    assert services.off is not None
    services.off.fail_next("22007377", 429, times=1, retry_after="1")
    start_worker()
    product_id = await insert_product(db_conn, "Arroz jasmim", "22007377")
    reviewed = await wait_until(lambda: status_is(db_conn, product_id, "needs_review"))
    assert len(reviewed["image_candidate_urls"]) == 1
    assert len(services.off.requests_for("22007377")) == 2


async def test_off_500_until_the_job_fails(
    start_worker: Callable[..., WorkerProcess], db_conn: asyncpg.Connection, services: OfflineServices
) -> None:
    assert services.off is not None
    services.off.always_fail["4000539770708"] = 500
    start_worker()
    product_id = await insert_product(db_conn, "Chocolate", "4000539770708")
    await wait_until(lambda: status_is(db_conn, product_id, "error"))
    job = await db_conn.fetchrow("select * from public.image_jobs where product_id = $1::uuid", product_id)
    assert job["status"] == "failed" and job["attempts"] == job["max_attempts"]
    assert "Open Food Facts indisponível" in job["last_error"] and "HTTP 500" in job["last_error"]
    outcomes = [o for s, o in await events(db_conn, product_id) if s == "fail"]
    assert outcomes == ["retry"] * (job["max_attempts"] - 1) + ["failed"]


async def test_broken_candidates_are_recorded_and_the_400px_fallback_is_used(
    start_worker: Callable[..., WorkerProcess], db_conn: asyncpg.Connection, services: OfflineServices
) -> None:
    assert services.off is not None
    base = services.image_base_url
    services.off.add_product(
        "7891000100103",
        based_on="22007377",
        selected_images={},
        image_front_url=f"{base}/hostile/html.jpg",
        image_url=f"{base}/hostile/svg.jpg",
    )
    services.image_host.missing_full.add("8424259826051")
    start_worker()
    hostile = await insert_product(db_conn, "Leite condensado", "7891000100103")
    fallback = await insert_product(db_conn, "Bebida de soja", "8424259826051")

    reviewed = await wait_until(lambda: status_is(db_conn, hostile, "needs_review"))
    reasons = {c["url"].rsplit("/", 1)[1]: c["reason"] for c in reviewed["image_candidate_urls"]}
    assert "HTML" in reasons["html.jpg"] and "SVG" in reasons["svg.jpg"]
    assert all(c["usable"] is False for c in reviewed["image_candidate_urls"])
    queue = await db_conn.fetch(
        "select candidates from public.image_review_queue(50, 0) where product_id = $1::uuid", hostile
    )
    assert json.loads(queue[0]["candidates"]) == [], "broken images are never offered to a reviewer"

    used = await wait_until(lambda: status_is(db_conn, fallback, "needs_review"))
    urls = [c["url"] for c in used["image_candidate_urls"] if c.get("usable", True)]
    assert len(urls) == 1 and urls[0].endswith(".400.jpg")


def test_a_missing_setting_stops_start_up_with_one_clear_line() -> None:
    result = subprocess.run(
        [IMAGEFILL, "run"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "DATABASE_URL" in lines[0], result.stderr
