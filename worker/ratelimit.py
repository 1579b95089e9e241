"""A rate limit shared by every worker process on one host.

A per-process limiter lets three replicas send three times the limit. This one keeps the next
free slot in a small file under an exclusive `flock`: each caller reserves the slot, moves it one
interval forward and sleeps until its own slot. The critical section is a read and a write.

The provider's own answer adjusts the pace (`hold_until`): when a response says the window is used
up (Brave's `X-RateLimit-Remaining: 0` for the second, OpenAI's `x-ratelimit-remaining-requests: 0`)
the caller holds the pace until the window resets. A caller whose slot comes before such a hold
takes the hold's instant instead and moves it one interval on, so the calls already waiting leave
one by one after the reset rather than all at once. Counting the next slot from the provider's
answer also keeps a call that reached the provider late from squeezing the next one into its window.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

HOLD_LIMIT_SECONDS = 60.0  # a hold longer than this is a quota, not a pace: the stages handle it


class HostRateLimiter:
    def __init__(self, directory: Path, name: str, per_minute: float) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be > 0")
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{re.sub(r'[^a-zA-Z0-9_.-]', '_', name)}.slot"
        self.interval = 60.0 / per_minute

    def _update(self, change: Callable[[float, float, float], tuple[float, float, float]]) -> float:
        """Reads (next free slot, hold), lets `change` compute the new pair and its answer, writes."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            values = (os.read(fd, 128).decode() or "0").split()
            try:
                next_free = float(values[0])
                hold = float(values[1]) if len(values) > 1 else 0.0
            except ValueError:
                next_free, hold = 0.0, 0.0
            next_free, hold, answer = change(next_free, hold, time.time())
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, f"{next_free!r} {hold!r}".encode())
            return answer
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def reserve(self) -> float:
        """Reserves the next free slot and returns it (a `time.time()` instant)."""

        def change(next_free: float, hold: float, now: float) -> tuple[float, float, float]:
            slot = max(next_free, hold, now)
            return slot + self.interval, hold, slot

        return self._update(change)

    def confirm(self, slot: float) -> float:
        """At its slot: the slot itself, or (when a hold came after it was reserved) the hold's
        instant, which then moves one interval on for the next caller."""

        def change(next_free: float, hold: float, now: float) -> tuple[float, float, float]:
            if hold <= max(slot, now):
                return next_free, hold, slot
            return max(next_free, hold + self.interval), hold + self.interval, hold

        return self._update(change)

    def hold_until(self, instant: float) -> None:
        """No call leaves before `instant` (the provider said its window is used up until then)."""
        instant = min(instant, time.time() + HOLD_LIMIT_SECONDS)

        def change(next_free: float, hold: float, now: float) -> tuple[float, float, float]:
            return next_free, max(hold, instant), 0.0

        self._update(change)

    async def acquire(self) -> float:
        """Waits for this caller's slot; returns the slot instant. The file work (open, flock,
        which waits while another process holds the lock, write) runs in a thread, off the loop."""
        slot = await asyncio.to_thread(self.reserve)
        await _sleep_until(slot)
        held = await asyncio.to_thread(self.confirm, slot)
        if held > slot:  # a hold came while this caller waited: its instant is this caller's now
            await _sleep_until(held)
            return held
        return slot

    async def window_used_up(self, reset_seconds: float) -> None:
        """The provider's answer said no more calls in this window: hold the pace until it resets."""
        await asyncio.to_thread(self.hold_until, time.time() + reset_seconds)


async def _sleep_until(instant: float) -> None:
    wait = instant - time.time()
    if wait > 0:
        await asyncio.sleep(wait)
