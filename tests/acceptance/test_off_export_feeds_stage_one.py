"""`imagefill off-index` then `imagefill run`: EANs in the export never reach the OFF API; the
others still do."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import asyncpg

from tests.acceptance.conftest import WorkerProcess, worker_env
from tests.acceptance.test_cli_commands import imagefill
from tests.acceptance.test_worker_end_to_end import insert_product, product, status_is
from tests.harness import MigratedDatabase, wait_until
from worker.offindex import API_COMPUTED_FIELDS
from worker.offline.off_server import load_fixtures
from worker.offline.services import OfflineServices


async def test_stage_one_reads_the_export_index_before_the_api(
    start_worker: Callable[..., WorkerProcess],
    db_conn: asyncpg.Connection,
    services: OfflineServices,
    fresh_db: MigratedDatabase,
    tmp_path: Path,
) -> None:
    assert services.off is not None
    porto = await insert_product(db_conn, "Vinho do Porto", "5601077161035", "Calem")
    export = tmp_path / "openfoodfacts-products.jsonl.gz"
    stored = load_fixtures()["5601077161035"]["product"]
    with gzip.open(export, "wt", encoding="utf-8") as out:
        out.write(json.dumps({k: v for k, v in stored.items() if k not in API_COMPUTED_FIELDS}) + "\n")
    index = tmp_path / "off-index.sqlite"
    env = worker_env(services, fresh_db.dsn, tmp_path, OFF_IMAGES_BASE_URL=services.image_base_url)

    built = await imagefill(env, tmp_path, "off-index", str(export), "--out", str(index))
    assert built.returncode == 0, built.stderr
    assert "1 dos 1 EANs do catálogo" in built.stdout

    start_worker(OFF_INDEX_PATH=str(index), OFF_IMAGES_BASE_URL=services.image_base_url)
    reviewed = await wait_until(lambda: status_is(db_conn, porto, "needs_review"))
    [candidate] = reviewed["image_candidate_urls"]
    assert candidate["url"] == (
        f"{services.image_base_url}/images/products/560/107/716/1035/front_fr.6.full.jpg"
    )
    assert services.off.requests_for("5601077161035") == [], "served from the export, not the API"

    # An EAN the export does not have still goes to the live API.
    soja = await insert_product(db_conn, "Bebida de soja", "8424259826051", "Gerblé")
    await wait_until(lambda: status_is(db_conn, soja, "needs_review"))
    assert len(services.off.requests_for("8424259826051")) == 1
    assert (await product(db_conn, soja))["image_candidate_urls"]
