"""What a VPS install relies on: dependencies declared for what is imported, pinned constraints,
an .env that bash, systemd and the worker read the same way, the systemd unit, Dockerfile and
Procfile."""

from __future__ import annotations

import ast
import configparser
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from worker.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def imported_top_level_modules(folder: Path) -> set[str]:
    modules: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules - set(sys.stdlib_module_names) - {"worker", "tests", "bench", "__future__"}


def declared(*, with_dev: bool) -> set[str]:
    requirements = list(PYPROJECT["dependencies"])
    for extra, extra_requirements in PYPROJECT.get("optional-dependencies", {}).items():
        if with_dev or extra != "dev":
            requirements += extra_requirements
    return {canonicalize_name(Requirement(r).name) for r in requirements}


@pytest.mark.parametrize(("folder", "with_dev"), [("worker", False), ("tests", True), ("bench", True)])
def test_every_imported_package_is_a_declared_dependency(folder: str, with_dev: bool) -> None:
    """The package runs on what it declares (the dev extra only for tests and benchmarks)."""
    providers = metadata.packages_distributions()
    allowed = declared(with_dev=with_dev)
    # A module of an extra that is not installed here (e.g. `bench`) is looked up by its own name.
    undeclared = {
        module: sorted(providers.get(module, [module]))
        for module in imported_top_level_modules(ROOT / folder)
        if not {canonicalize_name(d) for d in providers.get(module, [module])} & allowed
    }
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


def runtime_closure() -> set[str]:
    """Every distribution `pip install .` brings, from the installed metadata (markers applied)."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in PYPROJECT["dependencies"]]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen or (requirement.marker and not requirement.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        todo += [Requirement(r) for r in metadata.requires(requirement.name) or []]
    return seen


def test_constraints_pin_every_runtime_dependency() -> None:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not pinned with ==: {line}"
            pins[canonicalize_name(name)] = version
    missing = runtime_closure() - set(pins)
    assert not missing, f"constraints.txt lacks {sorted(missing)}: run `make constraints`"
    for requirement in PYPROJECT["dependencies"]:
        parsed = Requirement(requirement)
        assert parsed.specifier.contains(pins[canonicalize_name(parsed.name)]), requirement


def env_example_names() -> list[str]:
    text = (ROOT / ".env.example").read_text()
    return re.findall(r"^([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE)


def test_env_example_is_read_the_same_by_bash_and_by_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    names = env_example_names()
    script = "set -euo pipefail; set -a; . ./.env.example; set +a; " + "".join(
        f'printf "%s\\0" "${{{name}}}"; ' for name in names
    )
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    from_bash = dict(zip(names, result.stdout.split("\0")[:-1], strict=True))
    assert from_bash["OFF_USER_AGENT"].startswith("Imagefill/") and '"' not in from_bash["OFF_USER_AGENT"]

    for name in names:
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=ROOT / ".env.example", storage_backend="local")  # type: ignore[call-arg]
    assert settings.off_user_agent == from_bash["OFF_USER_AGENT"]
    assert settings.database_url == from_bash["DATABASE_URL"]
    # The example points at the session pooler (IPv4), never the transaction pooler.
    assert ":5432/" in settings.database_url and not settings.uses_transaction_pooler


def test_systemd_unit_stops_gracefully_as_its_own_user() -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(ROOT / "deploy" / "imagefill.service")
    service = parser["Service"]
    assert service["User"] not in ("", "root")
    assert service["Restart"] == "always"
    assert service["EnvironmentFile"].startswith("/")
    assert service["ExecStart"].endswith("/imagefill run")
    assert service["KillSignal"] == "SIGTERM"
    grace = Settings.model_fields["worker_shutdown_grace_seconds"].default
    # Above the grace period, with room to hand the unfinished jobs back and close.
    assert int(service["TimeoutStopSec"]) >= grace + 10
    assert parser["Install"]["WantedBy"] == "multi-user.target"


def test_dockerfile_installs_like_the_vps_and_runs_the_worker() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "pip install -c constraints.txt ." in text
    assert re.search(r"^USER (?!root)\w+", text, flags=re.MULTILINE)
    assert re.search(r'^CMD \["imagefill", "run"\]', text, flags=re.MULTILINE)
    assert "STOPSIGNAL SIGTERM" in text
    for line in re.findall(r"^COPY (.+)$", text, flags=re.MULTILINE):
        for source in line.split()[:-1]:
            assert (ROOT / source).exists(), source


def test_procfile_runs_the_worker() -> None:
    assert (ROOT / "Procfile").read_text().strip() == "worker: imagefill run"


def test_the_env_file_with_the_service_role_key_is_readable_only_by_the_service_user(tmp_path: Path) -> None:
    """The README's own lines: the .env is created with mode 600 (never a world-readable copy),
    and on the VPS it is handed to the service user, the one file the systemd unit reads."""
    readme = (ROOT / "README.md").read_text()
    [create] = re.findall(r"`(install -m \d+ \.env\.example \.env)`", readme)
    (tmp_path / ".env.example").write_text((ROOT / ".env.example").read_text())
    subprocess.run(["bash", "-c", create], cwd=tmp_path, check=True)
    assert (tmp_path / ".env").stat().st_mode & 0o777 == 0o600
    assert not re.search(r"^\s*(sudo )?cp \.env\.example \.env", readme, flags=re.MULTILINE)

    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(ROOT / "deploy" / "imagefill.service")
    service = parser["Service"]
    env_file = Path(service["EnvironmentFile"])
    assert env_file == Path(service["WorkingDirectory"]) / ".env"
    vps = readme.split("## Rodar numa VPS", 1)[1].split("\n## ", 1)[0]
    assert f"cd {env_file.parent}\n" in vps
    user = service["User"]
    assert f"sudo chown {user}:{service['Group']} .env && sudo chmod 600 .env" in vps
    # No second copy of the settings with a wider mode.
    assert not re.search(r"install -m 6[1-7]\d\b.*\.env", readme)
