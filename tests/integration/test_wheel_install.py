"""Installed as on a server: a wheel built from this tree, `pip install`ed (not editable) into a
fresh venv, run from a directory that is not the repository. The migrations, the platform
stand-in and the fixtures must come from the package itself.

To stay fast and offline-proof the venv gets the wheel with `--no-deps`; its third-party
dependencies are made importable from the test venv through a `.pth` line (a plain path: the
test venv's editable hook for `worker` is a `.pth` *file* there, which Python does not run for
such a path, so `worker` can only come from the wheel — the test checks that)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.harness import ROOT, Templates
from worker.schema import render_migrations


def run(cmd: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), "COLUMNS": "200", **env},
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The `bin/` of a fresh venv holding the wheel."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    src.mkdir()
    # Only what `git archive` would ship for the package: no caches, no build leftovers.
    shutil.copytree(ROOT / "worker", src / "worker", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    built = run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(base),
            ".",
        ],
        cwd=src,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    wheel = next(base.glob("imagefill-*.whl"))

    venv = base / "venv"
    made = run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=base)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    pip = run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
        cwd=base,
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    site = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=base)
    (Path(site.stdout.strip()) / "imagefill_test_deps.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n"
    )

    where = run([str(python), "-c", "import worker; print(worker.__file__)"], cwd=base)
    assert where.stdout.strip().startswith(str(venv)), where.stdout + where.stderr
    yield venv / "bin"


async def test_wheel_migrates_an_empty_database(
    installed: Path, templates: Templates, tmp_path: Path
) -> None:
    db = templates.empty_database()
    result = run([str(installed / "imagefill"), "migrate", "--database-url", db.dsn], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    expected = render_migrations()
    assert f"{len(expected)} migrations aplicadas numa transação" in result.stdout, result.stdout
    conn = await asyncpg.connect(db.dsn)
    try:
        recorded = {r["version"] for r in await conn.fetch("select version from imagefill.schema_migrations")}
        assert recorded == {m.version for m in expected}
        assert await conn.fetchval("select to_regclass('public.image_jobs') is not null")
    finally:
        await conn.close()


def test_wheel_runs_the_demo(installed: Path, tmp_path: Path) -> None:
    result = run([str(installed / "imagefill"), "demo"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "imagens gravadas, 0 falhas" in result.stdout


def test_wheel_without_its_sql_refuses_loudly(installed: Path, templates: Templates, tmp_path: Path) -> None:
    """A broken install (templates missing) must never report "nothing to do"."""
    python = installed / "python"
    site = run(
        [str(python), "-c", "import worker, os; print(os.path.dirname(worker.__file__))"], cwd=tmp_path
    )
    sql_dir = Path(site.stdout.strip()) / "sql"
    hidden = tmp_path / "sql-hidden"
    shutil.move(sql_dir, hidden)
    try:
        db = templates.empty_database()
        result = run([str(installed / "imagefill"), "migrate", "--database-url", db.dsn], cwd=tmp_path)
    finally:
        shutil.move(hidden, sql_dir)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and "nenhum modelo SQL do Imagefill encontrado" in result.stderr
    assert "Nada a aplicar" not in result.stdout


def test_the_wheel_carries_every_file_the_package_reads() -> None:
    """Files the code opens at run time are declared package data (pyproject)."""
    import tomllib

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "worker"
    ]
    package = ROOT / "worker"
    data_files = [
        p
        for p in package.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    ]
    for path in data_files:
        relative = path.relative_to(package)
        assert any(relative.match(pattern) or _glob_match(relative, pattern) for pattern in patterns), (
            relative
        )
    assert os.path.exists(package / "offline" / "supabase_platform.sql")


def _glob_match(relative: Path, pattern: str) -> bool:
    if "**" not in pattern:
        return False
    prefix = pattern.split("**", 1)[0].rstrip("/")
    return str(relative).startswith(prefix + "/")


def test_wheel_writes_the_panel_into_an_app(installed: Path, tmp_path: Path) -> None:
    """`imagefill web add` reads its templates from the installed package, in TS and in JS."""
    for typescript in (True, False):
        app = tmp_path / f"app-{typescript}"
        (app / "app").mkdir(parents=True)
        (app / "app" / "page.js").write_text("export default function P() { return null; }\n")
        (app / "package.json").write_text('{"dependencies": {"next": "16.4.3"}}\n')
        if typescript:
            (app / "tsconfig.json").write_text("{}\n")
        result = run([str(installed / "imagefill"), "web", "add", "--app", str(app)], cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        ext = "tsx" if typescript else "jsx"
        assert "PainelDeImagens" in (app / "app" / "monitoramento" / f"page.{ext}").read_text()
