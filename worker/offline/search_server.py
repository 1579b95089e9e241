"""Stand-in for the Brave Search API's image search (`GET /res/v1/images/search`), on 127.0.0.1.

Answers in Brave's response shape (`type: images`, `results[]` with `title`, `url` of the page,
`source` host, `thumbnail.src`, `properties.url/width/height`, `meta_url`, `confidence`) and
checks `X-Subscription-Token`. The pictures live on the local image host (`/marked/...`), each
carrying the mark of the product it shows, so the OpenAI stand-in can judge them.

What a query finds is scripted: `add(term, pictures)` lists pictures for every query containing
`term` (case-insensitive); every query also finds `noise` unrelated lifestyle pictures.

Every answer carries Brave's rate-limit headers (`X-RateLimit-Limit/Policy/Remaining/Reset`, one
value per window: per second, per month). Throttling is scripted: `faults` (a status, 429 with
Retry-After), `throttle_seconds` (that many 429s for the per-second window, without Retry-After,
as Brave sends them) and `month_remaining` (at 0, every request is a 429 for the monthly window).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

from aiohttp import web


@dataclass(frozen=True)
class WebPicture:
    code: str  # the GTIN the picture shows (its mark)
    confidence_digit: int = 9
    style: str = "packshot"  # or "scene"
    width: int = 800
    height: int = 800
    host: str = "loja.exemplo.com.br"
    file: str | None = None  # a test's own picture, served by the image host at /files/{file}


@dataclass
class RecordedSearch:
    query: str
    params: dict[str, str]
    token: str | None
    at: float


@dataclass
class BraveSearchStandIn:
    image_base_url: str
    api_key: str
    noise: int = 2
    listings: list[tuple[str, list[WebPicture]]] = field(default_factory=list)
    requests: list[RecordedSearch] = field(default_factory=list)
    faults: list[int] = field(default_factory=list)
    retry_after: str = "1"
    throttle_seconds: int = 0
    per_second: int = 1
    month_limit: int = 15_000
    month_remaining: int = 14_000
    month_reset_seconds: int = 1_419_704
    app: web.Application = field(default_factory=web.Application)

    def __post_init__(self) -> None:
        self.app.router.add_get("/res/v1/images/search", self._search)

    def add(self, term: str, *pictures: WebPicture) -> None:
        self.listings.append((term.lower(), list(pictures)))

    async def _search(self, request: web.Request) -> web.Response:
        query = request.query.get("q", "")
        token = request.headers.get("X-Subscription-Token")
        self.requests.append(RecordedSearch(query, dict(request.query), token, time.time()))
        if token != self.api_key:
            return web.json_response(
                {
                    "type": "ErrorResponse",
                    "error": {"status": 401, "code": "SUBSCRIPTION_TOKEN_INVALID", "detail": "invalid token"},
                },
                status=401,
            )
        if self.faults:
            status = self.faults.pop(0)
            return web.json_response(
                {"type": "ErrorResponse", "error": {"status": status, "code": "RATE_LIMITED"}},
                status=status,
                headers={"Retry-After": self.retry_after} if status == 429 else {},
            )
        if self.month_remaining <= 0 or self.throttle_seconds > 0:
            monthly = self.month_remaining <= 0
            self.throttle_seconds -= 0 if monthly else 1
            return web.json_response(
                {
                    "type": "ErrorResponse",
                    "error": {
                        "id": hashlib.sha256(query.encode()).hexdigest()[:32],
                        "status": 429,
                        "code": "RATE_LIMITED",
                        "detail": "Request rate limit exceeded for plan",
                        "meta": {
                            "plan": "Free",
                            "rate_limit": self.per_second,
                            "rate_current": self.per_second,
                            "quota_limit": self.month_limit,
                            "quota_current": self.month_limit - self.month_remaining,
                            "component": "rate_limiter",
                        },
                    },
                    "time": int(time.time()),
                },
                status=429,
                headers=self._rate_headers(second_remaining=1 if monthly else 0),
            )
        if not query.strip():
            return web.json_response({"type": "ErrorResponse", "error": {"status": 422}}, status=422)
        count = int(request.query.get("count", "50"))
        pictures = [p for term, listed in self.listings if term in query.lower() for p in listed]
        seed = int(hashlib.sha256(query.encode()).hexdigest()[:8], 16)
        pictures += [
            WebPicture(
                str(7_890_000_000_000 + (seed + n) % 1_000_000), 9, "scene", 700, 700, "blog.exemplo.com"
            )
            for n in range(self.noise)
        ]
        results = [self._result(query, p, n) for n, p in enumerate(pictures[:count])]
        self.month_remaining -= 1
        return web.json_response(
            {
                "type": "images",
                "query": {"original": query, "spellcheck_off": True, "show_strict_warning": False},
                "results": results,
                "extra": {"might_be_offensive": False},
            },
            headers=self._rate_headers(second_remaining=0),
        )

    def _rate_headers(self, second_remaining: int) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": f"{self.per_second}, {self.month_limit}",
            "X-RateLimit-Policy": f"{self.per_second};w=1, {self.month_limit};w=2592000",
            "X-RateLimit-Remaining": f"{second_remaining}, {max(0, self.month_remaining)}",
            "X-RateLimit-Reset": f"1, {self.month_reset_seconds}",
        }

    def _result(self, query: str, picture: WebPicture, n: int) -> dict[str, object]:
        slug = hashlib.sha256(f"{query}|{n}".encode()).hexdigest()[:10]
        size = f"{picture.width}x{picture.height}"
        path = f"{picture.code}/{picture.confidence_digit}/{picture.style}/{size}/{slug}.jpg"
        url = (
            f"{self.image_base_url}/files/{picture.file}"
            if picture.file
            else f"{self.image_base_url}/marked/{path}"
        )
        page = f"https://{picture.host}/produto/{slug}"
        return {
            "type": "image_result",
            "title": f"Produto {picture.code} — {picture.host}",
            "url": page,
            "source": picture.host,
            "page_fetched": "2026-11-01T10:00:00Z",
            # Brave's thumbnails are 500 px wide, the height in proportion.
            "thumbnail": {"src": url, "width": 500, "height": round(500 * picture.height / picture.width)},
            "properties": {
                "url": url,
                "placeholder": url,
                "width": picture.width,
                "height": picture.height,
            },
            "meta_url": {
                "scheme": "https",
                "netloc": picture.host,
                "hostname": picture.host,
                "favicon": f"https://{picture.host}/favicon.ico",
                "path": f"› produto › {slug}",
            },
            "confidence": "high",
        }
