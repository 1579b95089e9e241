"""A rate limit shared by every worker process on one host.

A per-process limiter lets three replicas send three times the limit. This one keeps the next
free slot in a small file under an exclusive `flock`: each caller reserves the slot, moves it one
interval forward and sleeps until its own slot. The critical section is a read and a write.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import re
import time
from pathlib import Path


class HostRateLimiter:
    def __init__(self, directory: Path, name: str, per_minute: float) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be > 0")
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{re.sub(r'[^a-zA-Z0-9_.-]', '_', name)}.slot"
        self.interval = 60.0 / per_minute

    def reserve(self) -> float:
        """Reserves the next free slot and returns it (a `time.time()` instant)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = os.read(fd, 64).decode() or "0"
            now = time.time()
            try:
                next_free = float(raw)
            except ValueError:
                next_free = 0.0
            slot = max(next_free, now)
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, repr(slot + self.interval).encode())
            return slot
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    async def acquire(self) -> float:
        """Waits for this caller's slot; returns the slot instant. The file work (open, flock,
        which waits while another process holds the lock, write) runs in a thread, off the loop."""
        slot = await asyncio.to_thread(self.reserve)
        wait = slot - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        return slot
