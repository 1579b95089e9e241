"""The README's offline trial, line by line as a new user runs it: `.env` copied from
`.env.example`, the stand-ins started with `python -m worker.offline.serve`, their printed
`export` lines pasted into a shell, then a first `imagefill backfill` against a database of one's
own. The `.env` says STORAGE_BACKEND=supabase (without keys); the pasted lines must be enough."""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from pathlib import Path

import asyncpg

from tests.acceptance.conftest import IMAGEFILL
from tests.harness import ROOT, MigratedDatabase

PORTO = ("Vinho do Porto Special Reserve 750ml", "5601077161035", "Calem")


def readme_serve_command() -> str:
    """The documented line that starts the stand-ins (its program, without the comment)."""
    lines = {
        line.split("#")[0].strip()
        for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
        for line in doc.read_text().splitlines()
        if line.startswith(".venv/bin/python -m worker.offline.serve")
    }
    assert len(lines) == 1, lines
    return lines.pop()


async def test_the_printed_export_lines_make_a_first_offline_backfill_work(
    fresh_db: MigratedDatabase, tmp_path: Path
) -> None:
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")  # README: cp .env.example .env
    assert "STORAGE_BACKEND=supabase" in (tmp_path / ".env").read_text()
    conn = await asyncpg.connect(fresh_db.dsn)
    try:
        await conn.execute("insert into public.products (name, ean, brand) values ($1, $2, $3)", *PORTO)
    finally:
        await conn.close()

    program = readme_serve_command().split()
    assert program[:3] == [".venv/bin/python", "-m", "worker.offline.serve"], program
    serve = await asyncio.create_subprocess_exec(
        sys.executable,
        *program[1:],
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert serve.stdout is not None
        printed: list[str] = []
        while not printed or not printed[-1].startswith("# stand-ins no ar"):
            line = await asyncio.wait_for(serve.stdout.readline(), 60)
            assert line, "the stand-ins stopped before printing their settings"
            printed.append(line.decode().rstrip("\n"))
        exports = [line for line in printed if line.startswith("export ")]
        assert all(re.fullmatch(r"export [A-Z_0-9]+='[^']*'", line) for line in exports), exports

        # Pasted into the user's shell, in the folder of the .env, with their own database.
        script = "\n".join(
            [
                *exports,
                f"export DATABASE_URL='{fresh_db.dsn}'",
                f"export RATE_LIMIT_DIR='{tmp_path / 'rl'}'",
                f"{IMAGEFILL} backfill --limit 1 --in-process",
            ]
        )
        shell = await asyncio.create_subprocess_exec(
            "bash",
            "-c",
            script,
            cwd=tmp_path,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "200"},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(shell.communicate(), 300)
        assert shell.returncode == 0, out.decode() + err.decode()
        assert "processados: 1 |" in out.decode(), out.decode()
        # Stored by the local backend, in the folder the command ran from.
        assert list((tmp_path / ".local" / "storage").rglob("main.jpg"))
    finally:
        serve.terminate()
        await serve.wait()
