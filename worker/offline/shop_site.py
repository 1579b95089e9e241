"""A small local web shop on 127.0.0.1 for Stage 4 (the manual browser search): a search page
whose results are product pictures in the shapes real sites use (plain src, srcset with widths,
<picture>, lazy copies of the same picture under another URL), next to what the search must skip
(icons, data: URIs, a broken link) and one picture on an address the guard must block.
"""

from __future__ import annotations

import html
from collections import Counter

from aiohttp import web

from worker.offline.image_host import synthesize_product_image


class ShopSite:
    def __init__(self, blocked_origin: str = "http://127.0.0.2:9") -> None:
        # A loopback address outside IMAGE_FETCH_ALLOW_HOSTS=127.0.0.1: the guard must refuse it,
        # and nothing listens there, so a guard bug could never reach anything.
        self.blocked_origin = blocked_origin
        self.requests: Counter[str] = Counter()  # every picture request (the browser renders them all)
        self.downloads: Counter[str] = Counter()  # those made by the worker's downloader, not Chromium
        self.queries: list[str] = []
        self.app = web.Application()
        self.app.router.add_get("/busca", self._search)
        self.app.router.add_get("/img/{name}", self._image)

    async def _search(self, request: web.Request) -> web.Response:
        query = request.query.get("q", "")
        self.queries.append(query)
        slug = "".join(ch if ch.isalnum() else "-" for ch in query.lower()).strip("-") or "produto"
        q = html.escape(query)
        body = f"""<!DOCTYPE html>
<html lang="pt-BR"><head><meta charset="utf-8"><title>Busca: {q}</title></head>
<body>
  <header><img src="/img/logo-32.png" width="32" height="32" alt="Loja"></header>
  <h1>Resultados para “{q}”</h1>
  <ul>
    <li><img src="/img/{slug}-frente-600x800.jpg" alt="{q} frente"></li>
    <li><img src="/img/{slug}-lado-120x160.jpg"
             srcset="/img/{slug}-lado-120x160.jpg 120w, /img/{slug}-lado-480x640.jpg 480w"
             alt="{q} lado"></li>
    <li><picture><source srcset="/img/{slug}-verso-500x700.jpg 500w">
        <img src="/img/{slug}-verso-100x140.jpg" alt="{q} verso"></picture></li>
    <li><img src="/img/{slug}-frente-600x800.jpg?utm=lista" alt="mesma foto, outra URL"></li>
    <li><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="pixel"></li>
    <li><img src="/img/quebrada-404.jpg" alt="quebrada"></li>
    <li><img src="{self.blocked_origin}/img/interna-600x600.jpg" alt="endereço interno"></li>
  </ul>
</body></html>"""
        return web.Response(text=body, content_type="text/html")

    async def _image(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.requests[request.path_qs] += 1
        if "Chrome" not in request.headers.get("User-Agent", ""):
            self.downloads[request.path_qs] += 1
        if "404" in name:
            raise web.HTTPNotFound()
        stem = name.rsplit(".", 1)[0]
        size = stem.rsplit("-", 1)[-1]
        try:
            width, height = (int(v) for v in size.split("x"))
        except ValueError:
            width, height = 32, 32
        # The picture depends on the product and the view, not on the size: srcset entries of one
        # view are the same picture, as on a real site.
        label = stem.rsplit("-", 1)[0]
        fmt = "PNG" if name.endswith(".png") else "JPEG"
        return web.Response(
            body=synthesize_product_image(label, (width, height), fmt),
            content_type="image/png" if fmt == "PNG" else "image/jpeg",
        )
