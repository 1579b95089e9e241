"""Group commit for job completions: one round trip carries every completion that is ready.

The first completion is sent at once (no timer, no added latency when the worker is quiet);
completions that arrive while a call is on its way wait for it and then go together in the next.
Under load the batches grow by themselves, up to `max_batch`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    """`send(items)` returns one result per item, in order. When a call raises, a batch of several
    is retried item by item (unless `whole_batch_fault(exc)` says the fault is not about the items,
    e.g. the database went away): one bad item never takes its batch-mates down with it."""

    def __init__(
        self,
        send: Callable[[list[Item]], Awaitable[Sequence[Result]]],
        *,
        max_batch: int,
        whole_batch_fault: Callable[[BaseException], bool],
    ) -> None:
        self._send = send
        self._max_batch = max(max_batch, 1)
        self._whole_batch_fault = whole_batch_fault
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._in_flight: list[tuple[Item, asyncio.Future[Result]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_mark_retrieved)  # nobody may be left to read a failure
        self._waiting.append((item, future))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_all(), name="imagefill-group-commit")
            self._sender.add_done_callback(self._fail_stranded)
        # shield: a caller cancelled while its item is on the way does not cancel the call
        # (the item is recorded anyway; the caller just stops waiting for the answer).
        return await asyncio.shield(future)

    async def wait_idle(self) -> None:
        """Returns once every submitted item has been sent and answered."""
        while self._sender is not None and not self._sender.done():
            await asyncio.wait({self._sender})

    async def _send_all(self) -> None:
        while self._waiting:
            self._in_flight = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
            await self._send_batch(self._in_flight)
        self._in_flight = []

    def _fail_stranded(self, sender: asyncio.Task[None]) -> None:
        """The sender died (cancelled at loop teardown, or a bug): no waiter may hang on an answer
        that will never come."""
        if sender.cancelled():
            failure: BaseException = RuntimeError("envio dos resultados interrompido (tarefa cancelada)")
        elif (error := sender.exception()) is not None:
            failure = error
        else:
            return
        stranded = [*self._in_flight, *(self._waiting if self._sender is sender else [])]
        self._in_flight = []
        if self._sender is sender:
            self._waiting.clear()
        for _, future in stranded:
            if not future.done():
                future.set_exception(failure)

    async def _send_batch(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._send([item for item, _ in batch])
        except Exception as exc:
            if len(batch) > 1 and not self._whole_batch_fault(exc):
                for single in batch:
                    await self._send_batch([single])
                return
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        if len(results) != len(batch):
            wrong = ValueError(f"send answered {len(results)} results for {len(batch)} items")
            for _, future in batch:
                if not future.done():
                    future.set_exception(wrong)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)


def _mark_retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
