"""Stand-in for the Open Food Facts product API, on 127.0.0.1, serving real OFF responses.

The responses are the verbatim fixtures in `fixtures/openfoodfacts/` (origin and ODbL attribution
in its README), with image hosts pointed at the local image host. Unknown codes get OFF's own
not-found body. Faults can be scripted per code (429/503/500 sequences, Retry-After).
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

FIXTURES = Path(__file__).parent / "fixtures" / "openfoodfacts"
OFF_IMAGE_HOSTS = (
    "https://static.openfoodfacts.net",
    "https://images.openfoodfacts.org",
    "https://static.openfoodfacts.org",
)


@dataclass
class RecordedRequest:
    code: str
    user_agent: str
    at: float


def load_fixtures() -> dict[str, dict[str, Any]]:
    products = {}
    for path in FIXTURES.glob("*.json"):
        data = json.loads(path.read_text())
        if data.get("status") == 1:
            products[str(data["code"])] = data
    return products


def only_requested_fields(answer: dict[str, Any], fields: str | None) -> dict[str, Any]:
    """As OFF does with `?fields=a,b`: the product object keeps only those keys (the envelope,
    code and status, stays). Without the parameter, the whole product."""
    product = answer.get("product")
    if not fields or not isinstance(product, dict):
        return answer
    wanted = {name.strip() for name in fields.split(",") if name.strip()}
    return {**answer, "product": {k: v for k, v in product.items() if k in wanted}}


def _rewrite_hosts(value: Any, image_base_url: str) -> Any:
    if isinstance(value, str):
        for host in OFF_IMAGE_HOSTS:
            if value.startswith(host):
                return image_base_url + value[len(host) :]
        return value
    if isinstance(value, dict):
        return {k: _rewrite_hosts(v, image_base_url) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite_hosts(v, image_base_url) for v in value]
    return value


class OpenFoodFactsStandIn:
    def __init__(self, image_base_url: str) -> None:
        self.image_base_url = image_base_url.rstrip("/")
        self.products = {
            code: _rewrite_hosts(data, self.image_base_url) for code, data in load_fixtures().items()
        }
        not_found = json.loads((FIXTURES / "12345678.json").read_text())
        self._not_found_template = not_found
        self.faults: dict[str, list[tuple[int, str | None]]] = defaultdict(list)
        self.always_fail: dict[str, int] = {}
        self.requests: list[RecordedRequest] = []
        self.delays: dict[str, float] = {}  # seconds to wait before answering, per code
        # Products held by a sister database (Open Beauty Facts, ...): v2 with product_type=all
        # redirects there, as OFF does.
        self.sister_products: dict[str, dict[str, Any]] = {}
        self.odd_envelopes: dict[str, Any] = {}  # code → a body OFF should never send
        # Verbatim answers per code (status, body, headers): empty bodies, wrong types, redirects.
        self.raw: dict[str, tuple[int, bytes, dict[str, str]]] = {}
        self.app = web.Application()
        self.app.router.add_get("/api/v0/product/{code}.json", self._product_v0)
        self.app.router.add_get("/api/v2/product/{code}", self._product_v2)
        self.app.router.add_get("/beauty/api/v2/product/{code}", self._sister_v2)

    def add_product(self, code: str, based_on: str, **changes: Any) -> None:
        """A product built from a real response (another code, edited fields)."""
        data = copy.deepcopy(self.products[based_on])
        data["code"] = code
        data["product"]["code"] = code
        data["product"].update(_rewrite_hosts(changes, self.image_base_url))
        self.products[code] = data

    def fail_next(self, code: str, status: int, times: int = 1, retry_after: str | None = None) -> None:
        self.faults[code].extend([(status, retry_after)] * times)

    def requests_for(self, code: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.code == code]

    def _lookup(self, code: str) -> dict[str, Any] | None:
        # OFF stores 12-digit UPC-A codes zero-padded to 13 and answers both spellings.
        return (
            self.products.get(code)
            or self.products.get(code.lstrip("0"))
            or self.products.get(code.zfill(13))
        )

    async def _delay(self, code: str) -> None:
        if code in self.delays:
            await asyncio.sleep(self.delays[code])

    def _fault(self, code: str) -> web.Response | None:
        if code in self.always_fail:
            return web.json_response({"error": "Internal Server Error"}, status=self.always_fail[code])
        if self.faults.get(code):
            status, retry_after = self.faults[code].pop(0)
            headers = {"Retry-After": retry_after} if retry_after else {}
            return web.Response(
                text="<html>Too many requests</html>",
                status=status,
                headers=headers,
                content_type="text/html",
            )
        return None

    async def _product_v0(self, request: web.Request) -> web.Response:
        return await self._answer(request, not_found_status=200)  # v0: status 0 in a 200 body

    async def _product_v2(self, request: web.Request) -> web.Response:
        code = request.match_info["code"]
        if code in self.sister_products and request.query.get("product_type") == "all":
            raise web.HTTPFound(f"/beauty/api/v2/product/{code}?{request.query_string}")
        if code in self.odd_envelopes:
            self.requests.append(RecordedRequest(code, request.headers.get("User-Agent", ""), time.time()))
            return web.json_response(self.odd_envelopes[code])
        return await self._answer(request, not_found_status=404)

    async def _sister_v2(self, request: web.Request) -> web.Response:
        code = request.match_info["code"]
        self.requests.append(RecordedRequest(code, request.headers.get("User-Agent", ""), time.time()))
        if code not in self.sister_products:
            return web.json_response({**self._not_found_template, "code": code}, status=404)
        return web.json_response(
            only_requested_fields(self.sister_products[code], request.query.get("fields"))
        )

    def add_sister_product(self, code: str, based_on: str, **changes: Any) -> None:
        """A product only a sister database holds (e.g. a shampoo on Open Beauty Facts)."""
        self.add_product(code, based_on, **changes)
        self.sister_products[code] = self.products.pop(code)

    async def _answer(self, request: web.Request, not_found_status: int) -> web.Response:
        code = request.match_info["code"]
        self.requests.append(RecordedRequest(code, request.headers.get("User-Agent", ""), time.time()))
        await self._delay(code)
        if (fault := self._fault(code)) is not None:
            return fault
        if code in self.raw:
            status, body, headers = self.raw[code]
            return web.Response(status=status, body=body, headers=headers)
        product = self._lookup(code)
        if product is None:
            return web.json_response({**self._not_found_template, "code": code}, status=not_found_status)
        return web.json_response(only_requested_fields(product, request.query.get("fields")))
