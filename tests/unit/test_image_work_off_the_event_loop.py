"""Pillow work runs in the image pool: the event loop keeps serving other tasks meanwhile."""

from __future__ import annotations

import asyncio
from io import BytesIO

import pytest
from PIL import Image

from worker.images import JUDGE_SIDE, ImagePool, ImageRejected
from worker.offline.image_host import synthesize_product_image
from worker.stages.openai_judge import JUDGE_IMAGE_SIDE
from worker.stats import Histogram, LoopLagMonitor


async def test_the_loop_keeps_running_while_a_large_photo_is_normalized() -> None:
    photo = synthesize_product_image("grande", (4000, 3000), scene=True)  # a 12 MP phone photo
    ticks = 0
    finished = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not finished.is_set():
            ticks += 1
            await asyncio.sleep(0)

    async with ImagePool(threads=1) as pool:
        ticking = asyncio.create_task(ticker())
        image = await pool.normalize(photo, 1200)
        ticks_while_working = ticks
        finished.set()
        await ticking
    # On the loop, normalize would finish without ever yielding: the ticker could not run.
    assert ticks_while_working > 1
    assert (image.width, image.height) == (1200, 900)
    judge = Image.open(BytesIO(image.judge_jpeg))
    assert max(judge.size) == JUDGE_SIDE == JUDGE_IMAGE_SIDE, "the judge gets its copy from the pool"


async def test_pool_bounds_its_queue_and_reports_rejections() -> None:
    async with ImagePool(threads=1) as pool:
        results = await asyncio.gather(
            *(pool.normalize(synthesize_product_image(str(i), (300, 300), scene=True)) for i in range(6)),
            pool.normalize(b"<html>not an image</html>"),
            return_exceptions=True,
        )
        # Every slot came back, rejections included: the bound never leaks.
        assert pool._slots._value == 2
    assert all(r.width == 300 for r in results[:6] if not isinstance(r, BaseException))
    assert isinstance(results[6], ImageRejected)


async def test_a_closed_pool_refuses_work() -> None:
    pool = ImagePool(threads=1)
    with pytest.raises(RuntimeError, match="not open"):
        await pool.normalize(b"x")


async def test_loop_lag_monitor_sees_a_blocking_call() -> None:
    import time

    async with LoopLagMonitor(interval=0.01) as monitor:
        await asyncio.sleep(0.03)
        time.sleep(0.2)  # noqa: ASYNC251 -- the point: block the loop as Pillow on it did
        await asyncio.sleep(0.03)
    assert monitor.max_lag >= 0.15
    assert monitor.histogram.observations >= 2


def test_histogram_buckets_are_cumulative() -> None:
    histogram = Histogram((0.01, 0.1))
    for value in (0.001, 0.05, 0.05, 3.0):
        histogram.observe(value)
    assert histogram.cumulative() == [("0.01", 1), ("0.1", 3), ("+Inf", 4)]
    assert histogram.quantile(0.5) == 0.1
    assert histogram.observations == 4
