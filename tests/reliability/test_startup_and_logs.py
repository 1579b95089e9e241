"""What a person reads when the worker cannot start, and logs that stay machine-readable."""

from __future__ import annotations

import subprocess
import time

from tests.acceptance.conftest import IMAGEFILL
from worker.offline.postgres import free_port


def test_database_down_at_start_is_one_clear_line() -> None:
    port = free_port()  # nothing listens here
    started = time.monotonic()
    result = subprocess.run(
        [IMAGEFILL, "run"],
        capture_output=True,
        text=True,
        env={
            "PATH": "/usr/bin:/bin",
            "DATABASE_URL": f"postgresql://postgres:segredo@127.0.0.1:{port}/postgres",
            "STORAGE_BACKEND": "local",
            "LOG_JSON": "true",
        },
        timeout=60,
        check=False,
    )
    assert result.returncode == 3
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("erro:"), result.stderr
    assert f"127.0.0.1:{port}" in lines[0] and "DATABASE_URL" in lines[0]
    assert "segredo" not in result.stderr, "the password never reaches the output"
    assert time.monotonic() - started < 50
