"""A background task that lives exactly as long as an `async with` block."""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Self


class BackgroundTask:
    """Subclasses implement `_run`; entering starts it, leaving cancels it and waits for it."""

    task_name = "imagefill-background"

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    def _should_start(self) -> bool:
        return True

    async def _run(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        if self._should_start():
            self._task = asyncio.create_task(self._run(), name=self.task_name)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
