"""Real `imagefill run` processes against the Storage stand-in, which refuses what the real server
refuses: every product id lands in one valid folder on the first try, what Storage refuses for
good fails the job at once naming the setting to fix, and a wrong key stops the worker at start."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.acceptance.conftest import WorkerFleet, WorkerProcess, worker_env
from tests.acceptance.test_cli_commands import imagefill
from tests.harness import TEXT_ID_CATALOGUE, MigratedDatabase, Templates, wait_until
from worker.offline.services import OfflineServices
from worker.offline.storage_server import VALID_OBJECT_KEY, Bucket
from worker.storage import storage_folder

PORTO = ("Vinho do Porto Special Reserve 750ml", "Calem", "5601077161035")  # OFF knows it
BUCKET = "product-images"


@pytest.fixture
def fleet(services: OfflineServices, tmp_path: Path) -> Iterator[WorkerFleet]:
    workers = WorkerFleet(services, tmp_path)
    yield workers
    workers.kill_leftovers()


@pytest.fixture
def text_db(templates: Templates) -> MigratedDatabase:
    return templates.fresh_database(TEXT_ID_CATALOGUE)


async def settled(conn: asyncpg.Connection, table: str, ids: list[str]) -> list[dict[str, Any]]:
    """Waits until every product is ok or error, then returns them with their job."""

    async def done() -> list[dict[str, Any]] | None:
        rows = await conn.fetch(
            f"select p.id::text as id, p.image_status::text as status, p.image_url,"
            f"       j.status::text as job_status, j.attempts, j.last_error"
            f"  from public.{table} p join public.image_jobs j on j.product_id = p.id"
            f" where p.id::text = any($1::text[])",
            ids,
        )
        if len(rows) == len(ids) and all(r["status"] in ("ok", "error") for r in rows):
            return [dict(r) for r in rows]
        return None

    result: list[dict[str, Any]] = await wait_until(done, within=90, interval=0.1)
    return result


async def serving(worker: WorkerProcess) -> None:
    """Until the health endpoint answers: the worker is past its start-up (and storage check)."""

    async def answers() -> bool:
        assert worker.proc.poll() is None, worker.log()
        try:
            return bool(await asyncio.to_thread(worker.health))
        except OSError:
            return False

    await wait_until(answers, within=30, interval=0.1)


async def test_text_ids_with_accents_symbols_and_slashes_land_in_one_valid_folder_first_try(
    services: OfflineServices, fleet: WorkerFleet, text_db: MigratedDatabase
) -> None:
    assert services.storage is not None
    ids = ["AÇÚCAR-01", "CX#12 50%", "a/b", "a-b"]
    conn = await asyncpg.connect(text_db.dsn)
    try:
        await conn.executemany(
            "insert into public.itens (id, name, brand, ean) values ($1, $2, $3, $4)",
            [(i, *PORTO) for i in ids],
        )
        fleet.spawn(text_db.dsn, judge=True)
        rows = {r["id"]: r for r in await settled(conn, "itens", ids)}
    finally:
        await conn.close()

    assert services.storage.refusals == [], "the stand-in refused nothing"
    async with httpx.AsyncClient() as http:
        for product_id in ids:
            row = rows[product_id]
            assert (row["status"], row["job_status"], row["attempts"]) == ("ok", "done", 1), row
            key = f"products/{storage_folder(product_id)}/main.jpg"
            assert VALID_OBJECT_KEY.fullmatch(key) and key.count("/") == 2, key
            stored = services.storage.objects[(BUCKET, key)]
            assert (BUCKET, key.replace("main.jpg", "thumb_256.jpg")) in services.storage.objects
            answer = await http.get(row["image_url"])
            assert answer.status_code == 200 and answer.content == stored.data, row["image_url"]
    folders = {k.split("/")[1] for _, k in services.storage.objects}
    assert len(folders) == len(ids), "one folder per product, none shared, none nested"
    assert storage_folder("AÇÚCAR-01").startswith("ACUCAR-01@")


REFUSALS = {
    # what changes on the Storage side while the worker runs → what last_error must name
    "key": ("SUPABASE_SERVICE_ROLE_KEY", "403"),
    "size": ("file_size_limit", "413"),
    "mime": ("allowed_mime_types", "415"),
}


@pytest.mark.parametrize("change", REFUSALS, ids=list(REFUSALS))
async def test_a_storage_refusal_fails_the_job_at_once_naming_the_setting(
    services: OfflineServices, fleet: WorkerFleet, fresh_db: MigratedDatabase, change: str
) -> None:
    storage = services.storage
    assert storage is not None
    worker = fleet.spawn(fresh_db.dsn, judge=True)
    await serving(worker)
    if change == "key":  # the service-role key was rotated
        storage.service_role_key = "rotated-service-role-key"
    elif change == "size":
        storage.buckets[BUCKET] = Bucket(file_size_limit=2000)
    else:
        storage.buckets[BUCKET] = Bucket(allowed_mime_types=("image/webp",))
    conn = await asyncpg.connect(fresh_db.dsn)
    try:
        product_id = await conn.fetchval(
            "insert into public.products (name, brand, ean) values ($1, $2, $3) returning id::text", *PORTO
        )
        [row] = await settled(conn, "products", [product_id])
    finally:
        await conn.close()
    setting, status = REFUSALS[change]
    assert (row["status"], row["job_status"], row["attempts"]) == ("error", "failed", 1), row
    assert setting in row["last_error"] and status in row["last_error"], row["last_error"]
    assert storage.objects == {}


async def test_a_wrong_key_stops_the_worker_at_start_and_status_says_why(
    services: OfflineServices, fleet: WorkerFleet, fresh_db: MigratedDatabase, tmp_path: Path
) -> None:
    storage = services.storage
    assert storage is not None
    for key, reason in [(storage.anon_key, "row-level security"), ("not-a-key", "Invalid Compact JWS")]:
        worker = fleet.spawn(fresh_db.dsn, SUPABASE_SERVICE_ROLE_KEY=key)
        code = await asyncio.to_thread(worker.proc.wait, 30)
        assert code == 2, worker.log()
        [line] = [x for x in worker.log().splitlines() if x.startswith("erro:")]
        assert "o worker não iniciou" in line and "SUPABASE_SERVICE_ROLE_KEY" in line and reason in line, line
        assert "Traceback" not in worker.log()

        env = worker_env(services, fresh_db.dsn, tmp_path, SUPABASE_SERVICE_ROLE_KEY=key)
        status = await imagefill(env, tmp_path, "status")
        assert status.returncode == 0, status.stderr
        assert (
            "armazenamento (supabase): RECUSADO" in status.stdout
            and "SUPABASE_SERVICE_ROLE_KEY" in status.stdout
        )

    status = await imagefill(worker_env(services, fresh_db.dsn, tmp_path), tmp_path, "status")
    assert "armazenamento (supabase): ok — bucket «product-images» público" in status.stdout, status.stdout
    assert storage.objects == {}, "the checks leave nothing behind"
