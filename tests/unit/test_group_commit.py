"""GroupCommit: what finishes while a call is on its way goes together in the next call; one bad
item never takes its batch-mates down; a fault of the whole call reaches every waiter."""

from __future__ import annotations

import asyncio
import gc
import warnings

import pytest

from worker.batching import GroupCommit


class Recorder:
    """A `send` that records each call's items and waits at a gate before answering."""

    def __init__(self, refuse: set[int] | None = None, fault: Exception | None = None) -> None:
        self.calls: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.refuse = refuse or set()
        self.fault = fault

    async def send(self, items: list[int]) -> list[str]:
        self.calls.append(list(items))
        await self.gate.wait()
        if self.fault is not None:
            raise self.fault
        if self.refuse & set(items):
            raise ValueError(f"refused {sorted(self.refuse & set(items))}")
        return [f"done {i}" for i in items]


def never_whole(_exc: BaseException) -> bool:
    return False


async def test_completions_that_arrive_during_a_call_go_together_in_the_next() -> None:
    send = Recorder()
    send.gate.clear()
    commit: GroupCommit[int, str] = GroupCommit(send.send, max_batch=50, whole_batch_fault=never_whole)
    first = asyncio.create_task(commit.submit(0))
    await asyncio.sleep(0)  # the first call leaves at once: no timer, no added latency
    await asyncio.sleep(0)
    assert send.calls == [[0]]
    rest = [asyncio.create_task(commit.submit(i)) for i in range(1, 8)]
    await asyncio.sleep(0)
    assert send.calls == [[0]], "nothing else is sent while a call is on its way"
    send.gate.set()
    assert await first == "done 0"
    assert await asyncio.gather(*rest) == [f"done {i}" for i in range(1, 8)]
    assert send.calls == [[0], list(range(1, 8))]


async def test_batches_never_exceed_the_limit() -> None:
    send = Recorder()
    send.gate.clear()
    commit: GroupCommit[int, str] = GroupCommit(send.send, max_batch=3, whole_batch_fault=never_whole)
    waiting = [asyncio.create_task(commit.submit(i)) for i in range(8)]
    await asyncio.sleep(0)
    send.gate.set()
    await asyncio.gather(*waiting)
    assert [len(call) for call in send.calls] == [3, 3, 2]


async def test_one_bad_item_fails_alone() -> None:
    send = Recorder(refuse={2})
    commit: GroupCommit[int, str] = GroupCommit(send.send, max_batch=50, whole_batch_fault=never_whole)
    results = await asyncio.gather(*(commit.submit(i) for i in range(4)), return_exceptions=True)
    assert results[:2] == ["done 0", "done 1"] and results[3] == "done 3"
    assert isinstance(results[2], ValueError) and "refused [2]" in str(results[2])
    assert send.calls[0] == [0, 1, 2, 3] and sorted(send.calls[1:]) == [[0], [1], [2], [3]]


async def test_a_fault_of_the_whole_call_reaches_every_waiter_without_retrying_one_by_one() -> None:
    send = Recorder(fault=ConnectionResetError("database went away"))
    commit: GroupCommit[int, str] = GroupCommit(
        send.send, max_batch=50, whole_batch_fault=lambda exc: isinstance(exc, OSError)
    )
    results = await asyncio.gather(*(commit.submit(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, ConnectionResetError) for r in results)
    assert send.calls == [[0, 1, 2]]


async def test_a_waiter_cancelled_mid_call_leaves_its_item_recorded_and_no_unread_error() -> None:
    send = Recorder(fault=ConnectionResetError("database went away"))
    send.gate.clear()
    commit: GroupCommit[int, str] = GroupCommit(
        send.send, max_batch=50, whole_batch_fault=lambda exc: isinstance(exc, OSError)
    )
    waiter = asyncio.create_task(commit.submit(1))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert send.calls == [[1]], "the item had left: cancelling the waiter does not recall it"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loop = asyncio.get_running_loop()
        unread: list[dict[str, object]] = []
        loop.set_exception_handler(lambda _loop, context: unread.append(context))
        send.gate.set()
        await commit.wait_idle()
        gc.collect()
        await asyncio.sleep(0)
        loop.set_exception_handler(None)
    assert not unread, unread
    assert not caught


async def test_no_waiter_hangs_when_send_answers_the_wrong_number_of_items() -> None:
    async def short(items: list[int]) -> list[str]:
        return ["only one"]

    commit: GroupCommit[int, str] = GroupCommit(short, max_batch=50, whole_batch_fault=never_whole)
    waiters = [asyncio.create_task(commit.submit(i)) for i in range(3)]
    results = await asyncio.wait_for(asyncio.gather(*waiters, return_exceptions=True), timeout=5)
    # Nobody gets someone else's answer: the whole batch is refused.
    assert all(isinstance(r, ValueError) for r in results), results
    await commit.wait_idle()


@pytest.mark.parametrize("mid_call", [False, True])
async def test_no_waiter_hangs_when_the_sender_is_cancelled(mid_call: bool) -> None:
    send = Recorder()
    send.gate.clear()
    commit: GroupCommit[int, str] = GroupCommit(send.send, max_batch=2, whole_batch_fault=never_whole)
    waiters = [asyncio.create_task(commit.submit(i)) for i in range(5)]
    await asyncio.sleep(0)
    if mid_call:
        await asyncio.sleep(0)
        assert send.calls == [[0, 1]]
    senders = [t for t in asyncio.all_tasks() if t.get_name() == "imagefill-group-commit"]
    assert len(senders) == 1
    senders[0].cancel()  # what loop teardown does to a task still running
    results = await asyncio.wait_for(asyncio.gather(*waiters, return_exceptions=True), timeout=5)
    assert all(isinstance(r, RuntimeError) for r in results), results
