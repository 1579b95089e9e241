"""`imagefill eval LABELS.csv` on the shipped labelled set, against the OpenAI and OFF stand-ins."""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path

from tests.acceptance.conftest import IMAGEFILL, worker_env
from tests.harness import ROOT
from worker.offline.marks import Mark
from worker.offline.services import OfflineServices

LABELS = ROOT / "worker" / "offline" / "fixtures" / "eval" / "labels.csv"


async def run_eval(services: OfflineServices, tmp_path: Path, *args: str) -> str:
    env = worker_env(services, "postgresql://nao-usado/", tmp_path, judge=True)
    env.pop("DATABASE_URL")
    result = await asyncio.to_thread(
        subprocess.run,
        [IMAGEFILL, "eval", str(LABELS), *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def table_row(output: str, threshold: str) -> list[str]:
    """The cells of one threshold's row in the printed table."""
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│|]", line) if c.strip()]
        if cells and cells[0].rstrip(" *") == threshold:
            return cells
    raise AssertionError(f"no row for {threshold}:\n{output}")


async def test_eval_reports_precision_and_coverage_on_the_shipped_set(
    services: OfflineServices, tmp_path: Path
) -> None:
    output = await run_eval(services, tmp_path)
    assert "linhas: 15" in output and "pares corretos: 5" in output and "sem veredito: 0" in output
    # True pairs score 0.95, swapped pairs are "not this product": 5 of 15 approved, all right.
    assert table_row(output, "0.80") == ["0.80 *", "5", "5", "100,0%", "33,3%", "100,0%"]
    assert table_row(output, "0.95") == ["0.95", "5", "5", "100,0%", "33,3%", "100,0%"]
    assert len(services.openai.judge_calls()) == 15
    tokens = re.search(
        r"tokens por produto: (\d+) de entrada \+ (\d+) de saída; US\$ ([\d.]+) por produto", output
    )
    assert tokens is not None, output
    assert int(tokens.group(1)) > 300 and float(tokens.group(3)) > 0


async def test_eval_counts_a_wrong_approval_and_a_lower_confidence(
    services: OfflineServices, tmp_path: Path
) -> None:
    # The rice picture carries the Thai kit's mark: the judge will call it the Thai kit (a wrong
    # approval on the swapped row) and reject it for the rice (a right picture missed).
    services.image_host.marks["22007377"] = Mark("737628064502")
    services.image_host.marks["4000539770708"] = Mark("4000539770708", confidence_digit=7)  # 0.75
    output = await run_eval(services, tmp_path, "--threshold", "0.7", "--threshold", "0.9")
    # At 0.80: Thai, Porto, Gerblé right + the Thai row holding the rice picture wrong.
    assert table_row(output, "0.80") == ["0.80 *", "4", "3", "75,0%", "26,7%", "60,0%"]
    # At 0.70 the Lindt pair (0.75) gets through as well.
    assert table_row(output, "0.70") == ["0.70", "5", "4", "80,0%", "33,3%", "80,0%"]
    wrong_line = 1 + next(
        n
        for n, line in enumerate(LABELS.read_text().splitlines())
        if line.startswith("0737628064502,") and "off:22007377" in line
    )
    assert f"aprovada errada (linha {wrong_line})" in output, output
