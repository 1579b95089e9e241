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
        slot = await limiter.acquire()
        print(slot, time.time(), flush=True)

asyncio.run(main())
"""


def test_three_processes_share_one_limit(tmp_path: Path) -> None:
    processes = [
        subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    lines = [line.split() for p in processes for line in p.communicate(timeout=60)[0].splitlines()]
    assert all(p.returncode == 0 for p in processes)
    assert len(lines) == 18
    # Nobody went before its slot (a late wake-up on a busy machine is fine: it only slows us down).
    assert all(float(woke) >= float(slot) - 0.002 for slot, woke in lines)
    # Each process alone would take its first slot at once: together the slots stay 0.1 s apart.
    slots = sorted(float(slot) for slot, _ in lines)
    gaps = [later - earlier for earlier, later in itertools.pairwise(slots)]
    assert min(gaps) >= 0.1 - 1e-6, f"slots closer than the limit allows: {min(gaps):.4f}s"
