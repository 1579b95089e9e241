"""`imagefill status` shows the precision measured by the audits (Wilson 95 %) and a suggested
threshold; `imagefill eval --from-audits FILE` writes the audited items as labels that
`imagefill eval FILE` reads back (against the judge and image stand-ins)."""

from __future__ import annotations

import asyncio
import csv
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from tests.acceptance.conftest import IMAGEFILL, worker_env
from tests.acceptance.test_cli_commands import imagefill
from tests.acceptance.test_cli_errors_and_status import bare_env
from tests.acceptance.test_eval_command import table_row
from tests.audit_history import as_operator, generate_history
from tests.harness import MigratedDatabase, ean13
from worker.offline.services import OfflineServices

AT = datetime(2026, 11, 2, 12, tzinfo=UTC)


async def audit_everything(dsn: str, is_wrong: Callable[[asyncpg.Record], bool]) -> None:
    """The operator goes through the whole list: X where `is_wrong`, C on the others."""
    panel = await asyncpg.connect(dsn)
    try:
        await as_operator(panel)
        page = await panel.fetch("select * from public.image_audit_queue('all', 200)")
        while page:
            for item in page:
                verb = "undo" if is_wrong(item) else "confirm"
                await panel.fetchval(f"select public.{verb}_auto_approval($1)", item["approval_id"])
            last = page[-1]
            page = await panel.fetch(
                "select * from public.image_audit_queue('all', 200, $1, $2)",
                last["approved_at"],
                last["approval_id"],
            )
    finally:
        await panel.close()


def status_row(output: str, source: str, band: str) -> list[str]:
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│") if c.strip()]
        if cells[:2] == [source, band]:
            return cells
    raise AssertionError(f"no row {source} {band}:\n{output}")


async def test_status_shows_the_measured_precision_and_a_suggested_threshold(
    fresh_db: MigratedDatabase, db_conn: asyncpg.Connection, tmp_path: Path
) -> None:
    before = await imagefill(bare_env(tmp_path), tmp_path, "status", "--database-url", fresh_db.dsn)
    assert before.returncode == 0, before.stderr
    assert "Nenhuma aprovação automática auditada ainda" in before.stdout

    # 400 OFF approvals at 0.97 (all right), 20 searches at 0.86 (2 wrong).
    history = [("openfoodfacts", 0.97, AT)] * 400 + [("search_api", 0.86, AT)] * 20
    await generate_history(db_conn, fresh_db.catalogue, history)
    searches = iter(range(20))
    await audit_everything(fresh_db.dsn, lambda r: r["source"] == "search_api" and next(searches) < 2)

    result = await imagefill(bare_env(tmp_path), tmp_path, "status", "--database-url", fresh_db.dsn)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Auditoria das aprovações automáticas — precisão medida" in out
    assert status_row(out, "Open Food Facts", "0,95–1,00") == [
        "Open Food Facts",
        "0,95–1,00",
        "400",
        "400",
        "100,0 %",
        "99,0 % – 100,0 %",
    ]
    assert status_row(out, "busca (API)", "0,85–0,90")[2:5] == ["20", "18", "90,0 %"]
    assert status_row(out, "busca (API)", "0,85–0,90")[5] == "69,9 % – 97,2 %"
    assert status_row(out, "todas", "todas")[2:4] == ["420", "418"]
    # 0.85 and up: 418 of 420 (Wilson low 98.3 %) misses 99 %; 0.95 and up: 400 of 400 reaches it.
    assert (
        "Limiar sugerido (não aplicado): com 0,95 a precisão medida seria ≥ 99 % com 400 auditadas"
        " (limite inferior de Wilson 99,0 %)"
    ) in " ".join(out.split())


async def run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [IMAGEFILL, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_eval_from_audits_exports_labels_that_eval_reads_back(
    fresh_db: MigratedDatabase, db_conn: asyncpg.Connection, services: OfflineServices, tmp_path: Path
) -> None:
    codes = [ean13(700 + n) for n in range(4)]
    marked = services.image_base_url + "/marked/{code}/9/packshot/800x800/foto.jpg"
    # Three pictures of the product itself; the fourth product got the first one's picture.
    originals = [marked.format(code=c) for c in codes[:3]] + [marked.format(code=codes[0])]
    await generate_history(
        db_conn,
        fresh_db.catalogue,
        [("search_api", 0.9, AT)] * 4,
        products=[(f"Produto {n}", code) for n, code in enumerate(codes)],
        originals=originals,
    )
    await audit_everything(fresh_db.dsn, lambda r: r["ean"] == codes[3])

    labels = tmp_path / "auditadas.csv"
    env = worker_env(services, fresh_db.dsn, tmp_path, judge=True)
    exported = await run(env, tmp_path, "eval", "--from-audits", str(labels), "--database-url", fresh_db.dsn)
    assert exported.returncode == 0, exported.stderr
    assert f"4 itens auditados gravados em {labels} (3 certos, 1 errados)" in exported.stderr
    rows = list(csv.DictReader(line for line in labels.read_text().splitlines() if not line.startswith("#")))
    assert sorted((r["ean"], r["image"], r["correct"]) for r in rows) == sorted(
        (code, url, "sim" if n < 3 else "não")
        for n, (code, url) in enumerate(zip(codes, originals, strict=True))
    )

    env.pop("DATABASE_URL")
    evaluated = await run(env, tmp_path, "eval", str(labels))
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr
    assert "linhas: 4 | pares corretos: 3 | sem veredito: 0" in evaluated.stdout
    # The judge stand-in recognizes the three right pictures and refuses the swapped one.
    assert table_row(evaluated.stdout, "0.80") == ["0.80 *", "3", "3", "100,0%", "75,0%", "100,0%"]

    refused = await run(env, tmp_path, "eval", str(labels), "--from-audits", str(labels))
    assert refused.returncode == 2 and "não os dois" in refused.stderr
