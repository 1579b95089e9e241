"""Stages 2–3 through real `imagefill run` processes: the OpenAI judge (stand-in reading the mark in
each picture), the Brave image-search stand-in, the fixed order, the policy, faults, the verdict
cache, usage on the job and what `imagefill status` shows."""

from __future__ import annotations

import asyncio
import csv
import subprocess
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import asyncpg
from PIL import Image

from tests.acceptance.conftest import IMAGEFILL, WorkerProcess, worker_env
from tests.acceptance.test_cli_commands import imagefill
from tests.acceptance.test_worker_end_to_end import events, insert_product, product, status_is
from tests.harness import MigratedDatabase, wait_until
from worker.offline.marks import Mark
from worker.offline.search_server import WebPicture
from worker.offline.services import OfflineServices

PORTO = ("Vinho do Porto Special Reserve 750ml", "5601077161035", "Calem")


async def job_done(conn: asyncpg.Connection, product_id: str, count: int) -> bool:
    done = await conn.fetchval(
        "select count(*) from public.image_jobs where product_id = $1::uuid and status = 'done'", product_id
    )
    return bool(done >= count)


async def usage(conn: asyncpg.Connection, product_id: str) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "select u.* from imagefill.usage_records u where u.product_id = $1::uuid order by u.id",
            product_id,
        )
    )


async def test_a_matching_off_picture_is_approved_without_any_search(
    start_worker: Callable[..., WorkerProcess],
    db_conn: asyncpg.Connection,
    services: OfflineServices,
    fresh_db: MigratedDatabase,
    tmp_path: Path,
) -> None:
    assert services.search is not None
    worker = start_worker(judge=True, search=True)
    product_id = await insert_product(db_conn, *PORTO)

    stored = await wait_until(lambda: status_is(db_conn, product_id, "ok"))
    assert stored["image_source"] == "openfoodfacts"
    assert float(stored["image_confidence"]) == 0.95
    assert services.search.requests == [], "a matching OFF picture never triggers a search"
    [call] = services.openai.judge_calls()
    [candidate] = stored["image_candidate_urls"]
    assert candidate["page_url"] == f"{services.off_base_url}/product/5601077161035", "provenance"
    assert (
        candidate["license"] == "CC BY-SA 3.0" and candidate["attribution"] == "Open Food Facts contributors"
    )
    job_result = await db_conn.fetchval(
        "select result from public.image_jobs where product_id = $1::uuid", product_id
    )
    assert '"license": "CC BY-SA 3.0"' in job_result and "/product/5601077161035" in job_result
    # Planogram-grade: the plain border trimmed, and a transparent cutout stored beside main.jpg.
    assert services.storage is not None
    objects = services.storage.objects
    cutout = Image.open(BytesIO(objects[("product-images", f"products/{product_id}/main.png")].data))
    main = Image.open(BytesIO(objects[("product-images", f"products/{product_id}/main.jpg")].data))
    assert cutout.mode == "RGBA" and cutout.size == main.size and main.size != (600, 840)
    assert cutout.getchannel("A").getpixel((0, 0)) == 0 and cutout.getchannel("A").getextrema() == (0, 255)
    assert candidate["cutout_url"].split("?")[0].endswith(f"/products/{product_id}/main.png")
    assert '"cutout_url"' in job_result

    # What OpenAI was sent: a downscaled JPEG inline (no URL, no tools), the EAN and the name.
    assert call.image is not None and call.image_size is not None
    picture = Image.open(BytesIO(call.image))
    assert picture.format == "JPEG" and max(picture.size) == 512 and picture.size == call.image_size
    assert len(call.image) < 60_000, "downscaled, not the 600x840 original"
    assert "EAN: 5601077161035" in call.text and "Vinho do Porto Special Reserve 750ml" in call.text
    assert "Special reserve porto" in call.text, "Open Food Facts' own name is evidence"
    assert call.tools is None and "http" not in call.text
    assert call.model == "gpt-4.1-mini"

    [record] = await usage(db_conn, product_id)
    assert record["purpose"] == "judge" and record["model"] == "gpt-4.1-mini"
    assert record["input_tokens"] > 300 and record["output_tokens"] > 10
    assert '"stage_plan"' in worker.log()

    env = worker_env(services, fresh_db.dsn, tmp_path, judge=True, search=True)
    result = await imagefill(env, tmp_path, "status", limit_seconds=60)
    assert result.returncode == 0, result.stderr
    assert "gpt-4.1-mini" in result.stdout and "ativa: brave" in result.stdout
    assert f"{record['input_tokens']:,}".replace(",", ".") in result.stdout
    assert "US$" in result.stdout

    # The provenance export a person checks before reusing a picture.
    export = await asyncio.to_thread(
        subprocess.run,
        [IMAGEFILL, "provenance"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert export.returncode == 0, export.stderr
    [row] = list(csv.DictReader(export.stdout.splitlines()))
    assert row["product_id"] == product_id and row["image_source"] == "openfoodfacts"
    assert row["page_url"] == f"{services.off_base_url}/product/5601077161035"
    assert row["license"] == "CC BY-SA 3.0" and row["attribution"] == "Open Food Facts contributors"
    assert row["original_url"].endswith("/front_fr.6.full.jpg")


async def test_a_low_off_score_leads_to_search_and_the_best_result_is_approved(
    start_worker: Callable[..., WorkerProcess],
    db_conn: asyncpg.Connection,
    services: OfflineServices,
) -> None:
    assert services.search is not None
    services.image_host.marks["5601077161035"] = Mark("5601077161035", confidence_digit=6)  # 0.65
    services.search.add(
        "calem",
        WebPicture("5601077161035", 9, "scene", 900, 900, "mercado.exemplo.com.br"),
        WebPicture("5601077161035", 9, "packshot", 800, 1000, "loja.exemplo.com.br"),
        WebPicture("5601077161035", 9, "packshot", 200, 200, "miniaturas.exemplo.com.br"),
        WebPicture("5601077161035", 9, "packshot", 800, 800, "bloqueado.exemplo.net"),
    )
    start_worker(judge=True, search=True, IMAGE_SEARCH_BLOCKED_DOMAINS="exemplo.net")
    product_id = await insert_product(db_conn, *PORTO)

    stored = await wait_until(lambda: status_is(db_conn, product_id, "ok"))
    assert stored["image_source"] == "search_api" and float(stored["image_confidence"]) == 0.95
    queries = [r.query for r in services.search.requests]
    assert queries == ["EAN 5601077161035 Calem Vinho do Porto Special Reserve"], "found: no more queries"
    candidates = stored["image_candidate_urls"]
    best = candidates[0]
    assert best["source"] == "search_api" and best["packshot"] is True, "the packshot is judged first"
    assert best["page_host"] == "loja.exemplo.com.br" and best["page_url"].startswith("https://loja.")
    off = next(c for c in candidates if c["source"] == "openfoodfacts")
    assert off["confidence"] == 0.65 and off["match"] is True
    urls = [c["url"] for c in candidates]
    assert not any("/200x200/" in u for u in urls), "too small for the minimum side"
    assert not any("bloqueado" in str(c.get("page_host")) for c in candidates), "blocked domain"
    assert len(services.openai.judge_calls()) == 2, "the OFF picture and the first search picture"
    records = await usage(db_conn, product_id)
    assert [r["requests"] for r in records if r["purpose"] == "image_search"] == [1]


async def test_a_close_match_widens_the_search_and_a_picture_seen_again_is_not_judged_again(
    start_worker: Callable[..., WorkerProcess],
    db_conn: asyncpg.Connection,
    services: OfflineServices,
) -> None:
    assert services.search is not None
    services.image_host.marks["5601077161035"] = Mark("5601077161035", confidence_digit=6)  # 0.65
    # The brand's query finds only a doubtful picture (0.75); the "embalagem" query finds it again
    # at another URL, and a good one.
    services.search.add("calem", WebPicture("5601077161035", 7, "packshot", 800, 1000, "loja.exemplo.com.br"))
    services.search.add(
        "embalagem", WebPicture("5601077161035", 9, "packshot", 700, 900, "mercado.exemplo.com.br")
    )
    start_worker(judge=True, search=True)
    product_id = await insert_product(db_conn, *PORTO)

    stored = await wait_until(lambda: status_is(db_conn, product_id, "ok"))
    assert stored["image_source"] == "search_api" and float(stored["image_confidence"]) == 0.95
    assert [r.query for r in services.search.requests] == [
        "EAN 5601077161035 Calem Vinho do Porto Special Reserve",
        "Calem Vinho do Porto Special Reserve 750ml embalagem",
    ], "the third, widest query is never asked"
    assert stored["image_candidate_urls"][0]["page_host"] == "mercado.exemplo.com.br"
    # The OFF picture, query 1's three (the doubtful one, two unrelated), then query 2's good one,
    # judged first as it looks best: the doubtful picture at its second URL is a duplicate, and
    # query 2's unrelated pictures are never judged.
    assert len(services.openai.judge_calls()) == 5
    assert ("image_search", "duplicate") in await events(db_conn, product_id)
    records = await usage(db_conn, product_id)
    assert [r["requests"] for r in records if r["purpose"] == "image_search"] == [1, 1]


async def test_nothing_good_enough_goes_to_review_with_every_candidate_ranked(
    start_worker: Callable[..., WorkerProcess],
    db_conn: asyncpg.Connection,
    services: OfflineServices,
) -> None:
    assert services.search is not None
    services.search.add(
        "nescau",
        WebPicture("7891000053508", 6, "packshot", 800, 800, "loja.exemplo.com.br"),
        WebPicture("7891000053508", 4, "scene", 800, 800, "blog.exemplo.com.br"),
    )
    start_worker(judge=True, search=True)
    product_id = await insert_product(db_conn, "Achocolatado em pó 400g", "7891000053508", "Nescau")

    reviewed = await wait_until(lambda: status_is(db_conn, product_id, "needs_review"))
    candidates = reviewed["image_candidate_urls"]
    assert [c["rank"] for c in candidates] == list(range(1, len(candidates) + 1))
    assert candidates[0]["match"] is True and candidates[0]["confidence"] == 0.65
    assert candidates[0]["packshot"] is True
    assert all(c["reason"] and "confidence" in c and "packshot" in c for c in candidates)
    assert [c["match"] for c in candidates] == sorted((c["match"] for c in candidates), reverse=True)
    assert reviewed["image_url"] is None


async def test_every_judge_fault_ends_in_review_never_ok(
    start_worker: Callable[..., WorkerProcess],
    db_conn: asyncpg.Connection,
    services: OfflineServices,
) -> None:
    faults = {
        "22007377": ("refusal", "recusou"),
        "5601077161035": ("malformed", "malformada"),
        "8424259826051": ("out_of_range", "fora do intervalo"),
        "4000539770708": ("500", "HTTP 500"),
        "0737628064502": ("429", "429"),
        "5054070608074": ("slow", "tempo esgotado"),
    }
    for ean, (kind, _) in faults.items():
        services.openai.fail_next(kind, times=10, ean=ean)
    services.openai.retry_after = "1"
    # The slow answer is far past the timeout, and the timeout far past a normal answer on a busy
    # machine (an answer later than it would be retried and counted as a second call).
    services.openai.slow_seconds = 10
    worker = start_worker(
        judge=True,
        IMAGE_SEARCH_PROVIDER="brave",
        OPENAI_MAX_RETRIES="1",
        OPENAI_TIMEOUT_SECONDS="4",
        WORKER_CONCURRENCY="6",
    )
    ids = {ean: await insert_product(db_conn, f"Produto {ean}", ean) for ean in faults}

    for ean, (kind, words) in faults.items():
        reviewed = await wait_until(lambda i=ids[ean]: status_is(db_conn, i, "needs_review", "ok"), within=60)
        assert reviewed["image_status"] == "needs_review", kind
        [candidate] = [c for c in reviewed["image_candidate_urls"] if c.get("usable", True)]
        assert candidate["reason"].startswith("sem veredito") and words in candidate["reason"], kind
        assert "confidence" not in candidate
        assert ("openai_judge", "no_verdict") in await events(db_conn, ids[ean])
    # Retried where it helps: the SDK retries 429 and 5xx, we resample malformed output once.
    calls = {ean: [c for c in services.openai.judge_calls() if ean in c.text] for ean in faults}
    assert len(calls["4000539770708"]) == 2 and len(calls["0737628064502"]) == 2
    assert len(calls["5601077161035"]) == 2 and len(calls["8424259826051"]) == 2
    assert len(calls["22007377"]) == 1, "a refusal is not asked again"
    waited = calls["0737628064502"][1].at - calls["0737628064502"][0].at
    assert waited >= 1.0, "Retry-After is honoured"
    assert "IMAGE_SEARCH_API_KEY vazia" in worker.log(), "the start-up log says why search is off"


async def test_a_transient_fault_is_retried_and_the_product_still_approved(
    start_worker: Callable[..., WorkerProcess],
    db_conn: asyncpg.Connection,
    services: OfflineServices,
) -> None:
    services.openai.fail_next("429", ean="5601077161035")
    services.openai.fail_next("malformed", ean="8424259826051")
    start_worker(judge=True)
    porto = await insert_product(db_conn, *PORTO)
    soja = await insert_product(db_conn, "Bebida de soja 1L", "8424259826051", "Gerblé")
    for product_id in (porto, soja):
        stored = await wait_until(lambda i=product_id: status_is(db_conn, i, "ok", "needs_review"))
        assert stored["image_status"] == "ok"
    paid = await usage(db_conn, soja)
    assert len(paid) == 2, "the malformed answer was paid for too"


async def test_a_cached_verdict_is_reused_when_the_product_runs_again(
    start_worker: Callable[..., WorkerProcess],
    db_conn: asyncpg.Connection,
    services: OfflineServices,
) -> None:
    services.image_host.marks["5601077161035"] = Mark("5601077161035", confidence_digit=6)
    start_worker(judge=True)
    product_id = await insert_product(db_conn, *PORTO)
    await wait_until(lambda: status_is(db_conn, product_id, "needs_review"))
    assert len(services.openai.judge_calls()) == 1

    await db_conn.execute("select public.enqueue_product_image($1::uuid)", product_id)
    await wait_until(lambda: job_done(db_conn, product_id, 2))
    assert len(services.openai.judge_calls()) == 1, "the same picture is never paid for twice"
    rows = await db_conn.fetch(
        "select detail from public.image_job_events where product_id = $1::uuid and stage = 'openai_judge'"
        " order by id",
        product_id,
    )
    assert ['"cached": true' in r["detail"] for r in rows] == [False, True]
    assert len(await usage(db_conn, product_id)) == 1
    data = await product(db_conn, product_id)
    assert data["image_status"] == "needs_review"


async def test_an_unavailable_search_api_leaves_the_product_for_review(
    start_worker: Callable[..., WorkerProcess],
    db_conn: asyncpg.Connection,
    services: OfflineServices,
) -> None:
    assert services.search is not None
    services.search.faults = [503] * 20
    services.search.retry_after = "0"
    start_worker(judge=True, search=True)
    product_id = await insert_product(db_conn, "Achocolatado em pó 400g", "7891000053508", "Nescau")
    reviewed = await wait_until(lambda: status_is(db_conn, product_id, "needs_review", "ok", "error"))
    assert reviewed["image_status"] == "needs_review"
    assert ("image_search", "unavailable") in await events(db_conn, product_id)


async def test_a_cut_off_or_filtered_answer_is_no_verdict_and_the_product_goes_on_to_review(
    start_worker: Callable[..., WorkerProcess],
    db_conn: asyncpg.Connection,
    services: OfflineServices,
) -> None:
    """finish_reason `length` (the JSON cut off at the token limit) is resampled once, then no
    verdict; `content_filter` (no content) is not asked again. Neither approves nor crashes."""
    faults = {"5601077161035": ("length", "limite de tokens"), "8424259826051": ("content_filter", "filtro")}
    for ean, (kind, _) in faults.items():
        services.openai.fail_next(kind, times=10, ean=ean)
    start_worker(judge=True)
    ids = {ean: await insert_product(db_conn, f"Produto {ean}", ean) for ean in faults}
    for ean, (kind, words) in faults.items():
        reviewed = await wait_until(lambda i=ids[ean]: status_is(db_conn, i, "needs_review", "ok", "error"))
        assert reviewed["image_status"] == "needs_review", kind
        [candidate] = [c for c in reviewed["image_candidate_urls"] if c.get("usable", True)]
        assert candidate["reason"].startswith("sem veredito") and words in candidate["reason"], kind
        assert ("openai_judge", "no_verdict") in await events(db_conn, ids[ean])
    calls = {ean: [c for c in services.openai.judge_calls() if ean in c.text] for ean in faults}
    assert len(calls["5601077161035"]) == 2, "a cut-off answer is resampled once"
    assert len(calls["8424259826051"]) == 1, "the content filter is not asked again"


async def test_a_rate_limit_without_retry_after_is_retried_with_backoff(
    start_worker: Callable[..., WorkerProcess],
    db_conn: asyncpg.Connection,
    services: OfflineServices,
) -> None:
    services.openai.fail_next("rate_limit", ean="5601077161035")
    start_worker(judge=True)
    product_id = await insert_product(db_conn, *PORTO)
    stored = await wait_until(lambda: status_is(db_conn, product_id, "ok", "needs_review", "error"))
    assert stored["image_status"] == "ok"
    first, second = services.openai.judge_calls()
    assert first.status == 429 and second.status == 200
    assert second.at - first.at >= 0.3, "the SDK's backoff (0.5 s less jitter), not an immediate retry"


async def test_an_openai_account_without_credit_fails_the_job_at_once_naming_the_key(
    start_worker: Callable[..., WorkerProcess],
    db_conn: asyncpg.Connection,
    services: OfflineServices,
) -> None:
    """429 insufficient_quota (no Retry-After) is no rate limit: not retried by the SDK, not sent
    to review as 'no verdict' product after product; the job fails with a reason naming the key,
    and the next product does not call OpenAI again."""
    services.openai.always = "quota"
    start_worker(judge=True, WORKER_CONCURRENCY="1", OPENAI_MAX_RETRIES="2")
    porto = await insert_product(db_conn, *PORTO)
    soja = await insert_product(db_conn, "Bebida de soja 1L", "8424259826051", "Gerblé")
    for product_id in (porto, soja):
        failed = await wait_until(lambda i=product_id: status_is(db_conn, i, "error", "needs_review", "ok"))
        assert failed["image_status"] == "error"
        job = await db_conn.fetchrow(
            "select status::text, attempts, last_error from public.image_jobs where product_id = $1::uuid",
            product_id,
        )
        assert job["status"] == "failed" and job["attempts"] == 1, "not retried: it fails the same way"
        assert "insufficient_quota" in job["last_error"] and "OPENAI_API_KEY" in job["last_error"]
        assert "faturamento" in job["last_error"]
    assert [c.status for c in services.openai.judge_calls()] == [429], "one call, for the first product"


async def test_a_used_up_monthly_search_quota_stops_searching_for_the_next_products(
    start_worker: Callable[..., WorkerProcess],
    db_conn: asyncpg.Connection,
    services: OfflineServices,
) -> None:
    assert services.search is not None
    services.search.month_remaining = 0
    services.image_host.marks["5601077161035"] = Mark("5601077161035", confidence_digit=6)
    start_worker(judge=True, search=True, WORKER_CONCURRENCY="1")
    porto = await insert_product(db_conn, *PORTO)
    nescau = await insert_product(db_conn, "Achocolatado em pó 400g", "7891000053508", "Nescau")
    for product_id in (porto, nescau):
        reviewed = await wait_until(lambda i=product_id: status_is(db_conn, i, "needs_review", "ok", "error"))
        assert reviewed["image_status"] == "needs_review"
        detail = await db_conn.fetchval(
            "select detail::text from public.image_job_events where product_id = $1::uuid"
            " and stage = 'image_search' and outcome = 'unavailable'",
            product_id,
        )
        assert "cota mensal" in detail and "IMAGE_SEARCH_API_KEY" in detail, detail
    assert len(services.search.requests) == 1, "one refused request; the next product does not ask"
