"""The Open Food Facts and image stand-ins for the benchmarks, in their own process (so their
work never competes with the worker's event loop), with a fixed latency per request.

Every EAN is a product (built from a real OFF response) whose front image the image host serves,
except `--not-found` of them (deterministic by EAN). Images are rendered once and cached.
Prints one JSON line `{"off": URL, "images": URL}` when ready.

Run: `python -m bench.standins --latency 0.3`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import zlib
from functools import cache

from aiohttp import web

from worker.offline.image_host import ImageHost, synthesize_product_image
from worker.offline.off_server import OpenFoodFactsStandIn

TEMPLATE_CODE = "8424259826051"  # a real OFF product with a selected front image


@cache
def _image(size: tuple[int, int]) -> bytes:
    return synthesize_product_image("bench", size)


class LatentImageHost(ImageHost):
    def __init__(self, latency: float) -> None:
        super().__init__()
        self.latency = latency

    async def _product_image(self, request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(self.latency)
        size = (600, 840) if ".full." in request.path else (286, 400)
        return web.Response(body=_image(size), content_type="image/jpeg")


class LatentOff(OpenFoodFactsStandIn):
    def __init__(self, image_base_url: str, latency: float, not_found_share: float) -> None:
        super().__init__(image_base_url)
        self.latency = latency
        self.not_found_share = not_found_share

    async def _delay(self, code: str) -> None:
        await asyncio.sleep(self.latency)

    def _lookup(self, code: str) -> dict[str, object] | None:
        if (zlib.crc32(code.encode()) % 1000) / 1000 < self.not_found_share:
            return None
        if code not in self.products:
            self.add_product(code, TEMPLATE_CODE)
        return self.products[code]

    async def _answer(self, request: web.Request, not_found_status: int) -> web.Response:
        response = await super()._answer(request, not_found_status)
        self.requests.clear()  # a long benchmark must not grow the stand-in's memory
        return response


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def main(latency: float, not_found: float) -> None:
    images = LatentImageHost(latency)
    image_runner, image_url = await serve(images.app)
    off = LatentOff(image_url, latency, not_found)
    off_runner, off_url = await serve(off.app)
    print(json.dumps({"off": off_url, "images": image_url}), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await off_runner.cleanup()
        await image_runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--not-found", type=float, default=0.0, help="share of EANs OFF does not know")
    args = parser.parse_args()
    asyncio.run(main(args.latency, args.not_found))
