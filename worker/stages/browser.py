"""Stage 4, manual only: a headless browser opens search pages for one product and collects the
pictures on them, for a person to judge. Started by a person (the panel's "Buscar no navegador",
`imagefill browse ID`), never by the automatic pipeline; it never approves anything.

Debian's Chromium driven by Playwright (nothing downloads a browser). Every request the page
makes passes the same SSRF rules as the image downloader: a hostile results page cannot make the
server's browser reach a private address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus, urlsplit

from loguru import logger

from worker.images import FetchPolicy, UnsafeUrl, check_url

if TYPE_CHECKING:
    # Playwright is the optional `browser` extra: imported only when a browser job runs.
    from playwright.async_api import Browser, Playwright, Route

# Quiet on a closed network, safe on a server (ENVIRONMENT.md).
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)

# Every <img> (its current source and each srcset entry with its width) and <picture><source>.
_COLLECT_JS = """
() => {
  const found = [];
  const add = (url, width, height, alt) => {
    try {
      found.push({url: new URL(url, document.baseURI).href, width, height, alt: alt || ""});
    } catch (e) {}
  };
  const srcset = (value, alt) => {
    for (const part of (value || "").split(",")) {
      const [url, descriptor] = part.trim().split(/\\s+/);
      if (!url) continue;
      const width = descriptor && descriptor.endsWith("w") ? parseInt(descriptor, 10) : 0;
      add(url, width, 0, alt);
    }
  };
  for (const img of document.images) {
    const src = img.currentSrc || img.src;
    if (src) add(src, img.naturalWidth, img.naturalHeight, img.alt);
    srcset(img.getAttribute("srcset"), img.alt);
  }
  for (const source of document.querySelectorAll("picture source[srcset]")) {
    srcset(source.getAttribute("srcset"), "");
  }
  return found;
}
"""


class BrowserUnavailable(RuntimeError):
    """Playwright or Chromium is missing on this machine; the message says what to install."""


@dataclass(frozen=True)
class FoundImage:
    url: str
    page_url: str
    query: str
    width: int
    height: int


@dataclass(frozen=True)
class BrowserSearchConfig:
    executable: Path
    url_templates: tuple[str, ...]
    min_side: int = 200
    max_images: int = 24
    page_timeout_seconds: float = 20.0


def search_queries(name: str | None, brand: str | None, gtin: str | None) -> list[str]:
    """Brand + name first (how people search), then the bare code."""
    queries: list[str] = []
    words = " ".join(part.strip() for part in (brand, name) if part and part.strip())
    if words:
        queries.append(words)
    if gtin:
        queries.append(gtin)
    return queries


def search_pages(templates: tuple[str, ...], queries: list[str]) -> list[tuple[str, str]]:
    """(page URL, query) for each template and query; `{query}` is replaced URL-encoded."""
    return [
        (template.replace("{query}", quote_plus(query)), query) for query in queries for template in templates
    ]


def usable(found: dict[str, Any], min_side: int) -> bool:
    """Small pictures (icons, logos, thumbnails) are not worth a person's time. A size the page
    does not tell (an srcset entry without width) is checked after the download."""
    if urlsplit(str(found.get("url", ""))).scheme not in ("http", "https"):
        return False  # data: and blob: pictures have no address to store as a candidate
    width, height = int(found.get("width") or 0), int(found.get("height") or 0)
    if width and height:
        return min(width, height) >= min_side
    return (width or height or min_side) >= min_side


@dataclass
class RequestGuard:
    """Aborts any request of the page to an address the downloader would refuse."""

    policy: FetchPolicy
    blocked: list[str] = field(default_factory=list)

    async def allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about"):
            return True
        try:
            check_url(url, self.policy)
        except UnsafeUrl:
            return False
        host = (parts.hostname or "").lower()
        if host in self.policy.allow_hosts:
            return True
        try:
            ipaddress.ip_address(host)
            return True  # an IP literal was checked by check_url
        except ValueError:
            pass
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, parts.port or 443, type=socket.SOCK_STREAM
            )
        except OSError:
            return False
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                address = address.ipv4_mapped
            if not self.policy.address_allowed(address):
                return False
        return True

    async def handle(self, route: Route) -> None:
        url = route.request.url
        if await self.allowed(url):
            await route.continue_()
        else:
            self.blocked.append(url)
            await route.abort("blockedbyclient")


class BrowserImageFinder:
    """One Chromium for the worker's lifetime, launched at the first search (a worker that never
    gets a browser job never starts one); one fresh context (no cookies) per search."""

    def __init__(self, config: BrowserSearchConfig, policy: FetchPolicy) -> None:
        self.config = config
        self.policy = policy
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> BrowserImageFinder:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._browser is not None:
            await self._browser.close()
        if self._playwright is not None:
            await self._playwright.stop()

    async def _launch(self) -> Browser:
        async with self._lock:
            if self._browser is None:
                try:
                    from playwright.async_api import async_playwright
                except ImportError:
                    raise BrowserUnavailable(
                        "busca no navegador indisponível:"
                        " instale o extra `browser` (pip install 'imagefill[browser]')"
                    ) from None
                self._playwright = await async_playwright().start()
                self._browser = await self._playwright.chromium.launch(
                    executable_path=str(self.config.executable), args=list(CHROMIUM_FLAGS), headless=True
                )
            return self._browser

    async def find(self, queries: list[str]) -> tuple[list[FoundImage], list[str]]:
        """Pictures on the search pages, deduplicated by URL, big enough to judge; and the
        requests the guard blocked."""
        from playwright.async_api import Error as PlaywrightError

        browser = await self._launch()
        guard = RequestGuard(self.policy)
        context = await browser.new_context(locale="pt-BR", viewport={"width": 1280, "height": 1600})
        found: dict[str, FoundImage] = {}
        try:
            await context.route("**/*", guard.handle)
            page = await context.new_page()
            page.set_default_timeout(self.config.page_timeout_seconds * 1000)
            for page_url, query in search_pages(self.config.url_templates, queries):
                try:
                    await page.goto(page_url, wait_until="load")
                    collected: list[dict[str, Any]] = await page.evaluate(_COLLECT_JS)
                except PlaywrightError as exc:
                    logger.bind(stage="browser", page=page_url, error=str(exc).splitlines()[0]).warning(
                        "browser_page_failed"
                    )
                    continue
                for item in collected:
                    url = str(item["url"])
                    if url in found or not usable(item, self.config.min_side):
                        continue
                    found[url] = FoundImage(
                        url, page_url, query, int(item.get("width") or 0), int(item.get("height") or 0)
                    )
                    if len(found) >= self.config.max_images:
                        return list(found.values()), guard.blocked
        finally:
            await context.close()
        return list(found.values()), guard.blocked
