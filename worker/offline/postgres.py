"""A throwaway PostgreSQL 15 cluster for the demo and the tests.

Debian's server binaries refuse to `initdb` as root, so when we are root the cluster
is created and run as the `postgres` OS user. The cluster's superuser is
`supabase_admin` (as on Supabase Cloud), which leaves the name `postgres` free for the
demoted migration role that the platform stand-in creates.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from worker.offline.system_deps import MissingSystemDependency, system_file

SUPERUSER = "supabase_admin"
# Package data (an installed wheel carries it): never sent to Supabase, only to local clusters.
PLATFORM_STANDIN_SQL = Path(__file__).with_name("supabase_platform.sql")


class LocalPostgresError(RuntimeError):
    """The local cluster could not be created or started."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_cluster_owner(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return [str(system_file("runuser")), "-u", "postgres", "--", *cmd]
    return cmd


@dataclass
class LocalPostgres:
    """Starts `postgres` on 127.0.0.1 in a temporary directory; `stop()` removes everything."""

    port: int = field(default_factory=free_port)
    base_dir: Path | None = None
    _dir: Path | None = None

    @property
    def data_dir(self) -> Path:
        assert self._dir is not None, "cluster not started"
        return self._dir / "data"

    def dsn(self, dbname: str = "postgres", user: str = SUPERUSER) -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    def start(self) -> LocalPostgres:
        try:
            initdb = system_file("initdb")
        except MissingSystemDependency as exc:
            raise LocalPostgresError(str(exc)) from None
        self._dir = Path(tempfile.mkdtemp(prefix="imagefill-pg-", dir=self.base_dir))
        os.chmod(self._dir, 0o755)
        if os.geteuid() == 0:
            shutil.chown(self._dir, "postgres", "postgres")
        self._run(
            [
                str(initdb),
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ]
        )
        self.start_server()
        return self

    def start_server(self) -> None:
        """(Re)starts the server of an initialized cluster (see stop_server, restart)."""
        assert self._dir is not None, "cluster not initialized"
        options = " ".join(
            [
                f"-p {self.port}",
                f"-k {self._dir}",
                "-c listen_addresses=127.0.0.1",
                "-c fsync=off",  # throwaway data: durability buys nothing here
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
                "-c wal_level=logical",  # as on Supabase: publications work without warnings
            ]
        )
        self._run(
            [
                str(system_file("pg_ctl")),
                "-D",
                str(self.data_dir),
                "-o",
                options,
                "-l",
                str(self._dir / "server.log"),
                "-w",
                "start",
            ]
        )

    def stop_server(self, mode: str = "fast") -> None:
        """Stops the server, keeping the data: `fast` (clients disconnected cleanly), `immediate`
        (like a crash: recovery runs at the next start)."""
        self._run([str(system_file("pg_ctl")), "-D", str(self.data_dir), "-m", mode, "-w", "stop"])

    def restart(self, mode: str = "fast") -> None:
        self.stop_server(mode)
        self.start_server()

    def stop(self) -> None:
        if self._dir is None:
            return
        if self.data_dir.exists():
            subprocess.run(
                _as_cluster_owner(
                    [str(system_file("pg_ctl")), "-D", str(self.data_dir), "-m", "immediate", "stop"]
                ),
                capture_output=True,
                check=False,
            )
        shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None

    def psql(
        self,
        sql: str | None = None,
        *,
        dbname: str = "postgres",
        file: Path | None = None,
        user: str = SUPERUSER,
    ) -> str:
        """Runs SQL through `psql` (needed for files with psql meta-commands and for pg_prove parity)."""
        cmd = [str(system_file("psql")), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.dsn(dbname, user)]
        if file is not None:
            cmd += ["-f", str(file)]
        if sql is not None:
            cmd += ["-c", sql]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise LocalPostgresError(f"psql falhou: {result.stderr.strip()}")
        return result.stdout

    def install_platform_standin(self, dbname: str = "postgres") -> None:
        """Recreates what Supabase Cloud provides (roles, auth, storage) in `dbname`."""
        self.psql(file=PLATFORM_STANDIN_SQL, dbname=dbname)

    def _run(self, cmd: list[str]) -> None:
        result = subprocess.run(_as_cluster_owner(cmd), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            log = ""
            if self._dir is not None and (self._dir / "server.log").exists():
                log = (self._dir / "server.log").read_text(errors="replace")[-2000:]
            raise LocalPostgresError(
                f"{Path(cmd[0]).name} falhou ({result.returncode}): {result.stderr.strip()}\n{log}"
            )

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
