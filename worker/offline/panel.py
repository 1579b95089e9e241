"""The review panel (`web/`) run locally, for the demo, the browser tests and the review benchmark:
build it once (`next build`), start `next start` on 127.0.0.1 against the PostgREST/GoTrue stand-in.

Nothing secret is ever in the panel's environment: it gets the Supabase URL and the anon key only.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from worker.offline.postgres import free_port

WEB_DIR = Path(__file__).resolve().parents[2] / "web"
NEXT_BIN = WEB_DIR / "node_modules" / ".bin" / "next"
DEFAULT_DIST = ".next"
_SOURCES = ("app", "imagefill", "lib", "next.config.ts", "package-lock.json", "tsconfig.json")


class WebAppError(RuntimeError):
    """The panel could not be built or started; the message says what to run."""


def _base_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "TMPDIR")
    env = {key: os.environ[key] for key in keep if key in os.environ}
    return env | {"NEXT_TELEMETRY_DISABLED": "1", "NODE_ENV": "production"}


def _source_hash(build_env: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for name in _SOURCES:
        root = WEB_DIR / name
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            digest.update(str(path.relative_to(WEB_DIR)).encode())
            digest.update(path.read_bytes())
    for key, value in sorted(build_env.items()):
        digest.update(f"{key}={value}".encode())
    return digest.hexdigest()


def build_web(build_env: dict[str, str] | None = None, dist: str = DEFAULT_DIST) -> float:
    """`next build` into web/<dist> unless the same sources were already built there with the same
    environment. Returns the seconds spent building (0 when the build was reused). The tests, the
    demo and the benchmark build into their own folders, so none rebuilds under another's feet."""
    if not NEXT_BIN.exists():
        raise WebAppError("Dependências do painel ausentes: rode `make setup` (npm ci em web/).")
    extra = (build_env or {}) | {"IMAGEFILL_NEXT_DIST_DIR": dist}
    stamp = _source_hash(extra)
    stamp_file = WEB_DIR / dist / "imagefill-build-stamp"
    if (WEB_DIR / dist / "BUILD_ID").exists() and stamp_file.exists() and stamp_file.read_text() == stamp:
        return 0.0
    started = time.monotonic()
    result = subprocess.run(
        [str(NEXT_BIN), "build"],
        cwd=WEB_DIR,
        env=_base_env() | extra,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if result.returncode != 0:
        raise WebAppError(f"next build falhou:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    stamp_file.write_text(stamp)
    return time.monotonic() - started


@dataclass
class NextServer:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(
        cls,
        supabase_url: str,
        anon_key: str,
        log_path: Path,
        port: int | None = None,
        dist: str = DEFAULT_DIST,
        app_dir: Path = WEB_DIR,
        next_bin: Path = NEXT_BIN,
        key_name: str = "NEXT_PUBLIC_SUPABASE_ANON_KEY",
    ) -> NextServer:
        """`next start` of web/ (or of another built app: app_dir, its next binary). The key goes in
        under `key_name`: the legacy anon name here, Supabase's publishable-key name for other apps."""
        port = port or free_port()
        env = _base_env() | {
            "NEXT_PUBLIC_SUPABASE_URL": supabase_url,
            key_name: anon_key,
            "IMAGEFILL_NEXT_DIST_DIR": dist,
        }
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [str(next_bin), "start", "-H", "127.0.0.1", "-p", str(port)],
                cwd=app_dir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = cls(proc, port, log_path)
        server.wait_ready()
        return server

    def wait_ready(self, within: float = 90.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise WebAppError(f"next start saiu com {self.proc.returncode}:\n{self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/login", timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise WebAppError(f"next start não respondeu em {within:.0f}s:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


async def serve(app: web.Application, port: int = 0) -> tuple[web.AppRunner, str]:
    """Serves an aiohttp app on 127.0.0.1; returns its runner (to clean up) and base URL."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"
