"""The system files (binaries, extensions) the demo and the tests use, and who ships them.

One manifest, `system-deps.tsv` beside this module, is read by `scripts/install-system-deps.sh`
(what to install) and by this module (where to find a file, and what to tell a person when it is
missing). Code never looks a system binary up on its own: it asks `system_file`, so every file it
uses is in the manifest, with the Debian package that carries it (a test checks that with dpkg).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MANIFEST = Path(__file__).with_name("system-deps.tsv")


@dataclass(frozen=True)
class SystemFile:
    profile: str
    path: Path
    package: str

    @property
    def name(self) -> str:
        return self.path.name

    def present(self) -> Path | None:
        # usrmerge: Debian 12 ships /sbin/x and /usr/sbin/x as one file; dpkg knows one name.
        for candidate in (self.path, Path("/usr" + str(self.path))):
            if candidate.exists():
                return candidate
        return None


class MissingSystemDependency(RuntimeError):
    """A system file the command needs is not installed; the message says which package brings it."""


def load_manifest(path: Path = MANIFEST) -> list[SystemFile]:
    entries = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        profile, file_path, package = line.split("\t")
        entries.append(SystemFile(profile, Path(file_path), package))
    return entries


def system_file(name: str) -> Path:
    """The installed path of a manifest entry, by file name (`pg_prove`, `initdb`, ...)."""
    matches = [entry for entry in load_manifest() if entry.name == name]
    if not matches:
        raise KeyError(f"{name} não está em {MANIFEST.name}: declare-o lá com o pacote Debian que o traz")
    entry = matches[0]
    if entry.path.parent == Path("/usr/lib/postgresql/15/bin") and "IMAGEFILL_PG_BIN" in os.environ:
        return Path(os.environ["IMAGEFILL_PG_BIN"]) / name
    found = entry.present()
    if found is None:
        target = "make demo" if entry.profile == "demo" else "make test"
        raise MissingSystemDependency(
            f"{name} ausente (pacote Debian {entry.package}): rode `{target}` como root, ou uma vez "
            f"`sudo apt-get install -y --no-install-recommends {entry.package}`"
        )
    return found
