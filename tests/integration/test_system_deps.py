"""The install step covers every system file the demo and the tests use, on any fresh machine.

A green run on one machine can hide a package that arrived by accident (a Recommends, earlier
work). These tests tie each file to the Debian package that really ships it, and keep the code
from reaching for a system binary the manifest does not name.
"""

from __future__ import annotations

import ast
import os
import subprocess
from pathlib import Path

import pytest

from tests.harness import ROOT
from worker.offline.system_deps import load_manifest

INSTALL_SCRIPT = ROOT / "scripts" / "install-system-deps.sh"


def _owner(path: Path) -> str:
    for name in (str(path), "/usr" + str(path), str(path).removeprefix("/usr")):
        result = subprocess.run(["dpkg", "-S", name], capture_output=True, text=True, check=False)
        if result.returncode == 0:
            return result.stdout.split(":", 1)[0]
    raise AssertionError(f"dpkg -S: nenhum pacote instalado traz {path}")


@pytest.mark.parametrize("entry", load_manifest(), ids=lambda entry: entry.name)
def test_each_file_is_shipped_by_the_package_the_manifest_names(entry: object) -> None:
    from worker.offline.system_deps import SystemFile

    assert isinstance(entry, SystemFile)
    assert entry.present(), f"{entry.path} ausente: `make test` deveria tê-lo instalado"
    assert _owner(entry.path) == entry.package


def test_install_script_asks_for_every_manifest_package() -> None:
    printed = subprocess.run(
        ["bash", str(INSTALL_SCRIPT), "--print", "test"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert set(printed) == {entry.package for entry in load_manifest()}
    demo = subprocess.run(
        ["bash", str(INSTALL_SCRIPT), "--print", "demo"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "libtap-parser-sourcehandler-pgtap-perl" not in demo and "postgresql-15" in demo


def test_install_script_does_not_touch_apt_when_everything_is_present(tmp_path: Path) -> None:
    """A second `make demo`/`make test` must not run `apt-get update` (slow, and it needs root)."""
    calls = tmp_path / "apt-calls"
    for tool in ("apt-get", "apt"):
        fake = tmp_path / tool
        fake.write_text(f'#!/bin/sh\necho "$0 $*" >> {calls}\nexit 1\n')
        fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    for profile in ("demo", "test"):
        result = subprocess.run(
            ["bash", str(INSTALL_SCRIPT), profile], capture_output=True, text=True, env=env, check=False
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout == "" and result.stderr == ""
    assert not calls.exists()


def _string_constants(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def test_code_reaches_system_files_only_through_the_manifest() -> None:
    """No `shutil.which` and no hard-coded system path outside `system_deps`: a new dependency
    must be declared (with its package) before the code can use it."""
    offenders = []
    for folder in ("worker", "tests", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name in ("system_deps.py", "test_system_deps.py"):
                continue
            source = path.read_text()
            if "shutil.which" in source or "import which" in source:
                offenders.append(f"{path.relative_to(ROOT)}: shutil.which")
            for value in _string_constants(path):
                if value.startswith(
                    ("/usr/bin/", "/usr/sbin/", "/usr/lib/postgresql", "/usr/share/postgresql")
                ):
                    offenders.append(f"{path.relative_to(ROOT)}: {value}")
    assert offenders == [], "use worker.offline.system_deps.system_file e declare o arquivo no manifesto"
