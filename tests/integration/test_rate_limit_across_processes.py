"""The OFF rate limit holds across worker processes on one host (not per process)."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import asyncio, sys, time
from pathlib import Path
from worker.ratelimit import HostRateLimiter

async def main():
    limiter = HostRateLimiter(Path(sys.argv[1]), "off", 600)  # one slot every 0.1 s
    for _ in range(6):
        await limiter.acquire()
        print(time.time(), flush=True)

asyncio.run(main())
"""


def test_three_processes_share_one_limit(tmp_path: Path) -> None:
    processes = [
        subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    stamps = sorted(float(line) for p in processes for line in p.communicate(timeout=60)[0].split())
    assert all(p.returncode == 0 for p in processes)
    assert len(stamps) == 18
    gaps = [later - earlier for earlier, later in itertools.pairwise(stamps)]
    # Each process alone would fire its first request at once: together they must stay 0.1 s apart.
    assert min(gaps) >= 0.09, f"slots closer than the limit allows: {min(gaps):.3f}s"
