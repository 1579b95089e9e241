"""Stand-in for OFF's image server (and any web host a candidate may live on), on 127.0.0.1.

`/images/products/...` answers every OFF image path with a picture synthesized by Pillow, so the
real OFF responses' URLs work offline. `/hostile/...` serves the bad inputs the pipeline must
refuse: HTML, SVG, a decompression bomb, truncated files, oversized bodies, redirects to private
addresses and loops, slow answers. `/marked/{code}/{confidence}/{style}/{w}x{h}/{n}.jpg` serves
the pictures the image-search stand-in finds on "the web".

Every synthetic product picture carries a mark (`marks.py`) naming the GTIN it shows, which the
OpenAI stand-in reads; `marks` overrides it per OFF code (another product's code, a lower
confidence digit, or None for no mark at all).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections import Counter
from io import BytesIO

from aiohttp import web
from PIL import Image, ImageDraw, ImageFont

from worker.offline.marks import MARK_ENDS, Mark, draw_mark

_SIZE_SUFFIX = re.compile(r"\.(?P<size>\d+|full)\.(?P<ext>jpg|png|webp)$")
_MARKED = re.compile(
    r"(?P<code>\d+)/(?P<digit>\d)/(?P<style>packshot|scene)/(?P<w>\d+)x(?P<h>\d+)/[\w-]+\.jpg"
)


def _away_from_mark(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    """A package colour the mark reader can never mistake for the mark's red or blue end cells."""
    if any(max(abs(a - b) for a, b in zip(colour, end, strict=True)) < 60 for end in MARK_ENDS):
        return (colour[0] // 2 + 64, colour[1] // 2 + 64, colour[2] // 2 + 64)
    return colour


def synthesize_product_image(
    label: str,
    size: tuple[int, int],
    fmt: str = "JPEG",
    mark: Mark | None = None,
    scene: bool = False,
) -> bytes:
    """A deterministic 'package shot' for `label`: coloured box, label text, white background
    (or a busy 'lifestyle scene' background), and the mark naming the product when given."""
    digest = hashlib.sha256(label.encode()).digest()
    colour = _away_from_mark((digest[0], digest[1], digest[2]))
    image = Image.new("RGB", size, (250, 250, 250))
    draw = ImageDraw.Draw(image)
    width, height = size
    if scene:
        draw.rectangle((0, 0, width, height), fill=(170, 130, 90))
        for stripe in range(0, width + height, 24):
            draw.line((stripe, 0, stripe - height, height), fill=(120, 90 + stripe % 80, 60), width=12)
    # Geometry and label bands vary with the label, so two products' pictures differ in shape too
    # (a perceptual hash compares shapes, not colours), as real packages do.
    left, right = width * (0.05 + digest[3] / 1275), width * (0.75 + digest[4] / 1275)
    top, bottom = height * (0.05 + digest[11] / 2550), height * (0.75 + digest[12] / 2550)
    draw.rectangle((left, top, right, bottom), fill=colour, outline=(30, 30, 30))
    shade = _away_from_mark((255 - colour[0], 255 - colour[1], 255 - colour[2]))
    for band in range(3):
        band_top = top + (bottom - top) * (digest[5 + band] % 80) / 100
        band_height = (bottom - top) * (0.05 + digest[8 + band] % 10 / 100)
        split = left + (right - left) * (digest[13 + band] % 100) / 100
        draw.rectangle((left, band_top, split, band_top + band_height), fill=shade)
    font = ImageFont.load_default(size=max(10, width // 14))
    draw.text((width * 0.2, height * 0.45), label[-18:], fill=(255, 255, 255), font=font)
    if mark is not None:
        draw_mark(image, mark)
    out = BytesIO()
    image.save(out, format=fmt, quality=90) if fmt == "JPEG" else image.save(out, format=fmt)
    return out.getvalue()


def _scaled(data: bytes, size: tuple[int, int], fmt: str) -> bytes:
    with Image.open(BytesIO(data)) as image:
        small = image.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    out = BytesIO()
    small.save(out, format=fmt, quality=90) if fmt == "JPEG" else small.save(out, format=fmt)
    return out.getvalue()


def decompression_bomb_png() -> bytes:
    """A tiny PNG that claims 30,000 x 30,000 pixels (900 megapixels once decoded)."""
    image = Image.new("1", (30_000, 30_000), 0)
    out = BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def exif_rotated_jpeg() -> bytes:
    """A 300x200 landscape JPEG whose EXIF says 'rotate 90°' (orientation 6), with GPS-like metadata."""
    image = Image.new("RGB", (300, 200), (200, 30, 30))
    ImageDraw.Draw(image).rectangle((0, 0, 60, 200), fill=(30, 30, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    exif[0x010E] = "segredo: coordenadas da loja"  # ImageDescription, must be stripped
    out = BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def transparent_png() -> bytes:
    image = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((50, 50, 150, 150), fill=(0, 160, 0, 255))
    out = BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


class ImageHost:
    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.missing_full: set[str] = set()  # codes whose full-size image answers 404
        self.slow_seconds = 30.0
        self.latency_seconds = 0.0  # added to every answer (a slow CDN)
        self.files: dict[str, bytes] = {}  # served verbatim at /files/{name} (a test's corpus)
        # Per OFF code: the mark its pictures carry (default: the code itself, confidence digit 9).
        self.marks: dict[str, Mark | None] = {}
        self._bomb: bytes | None = None
        self.app = web.Application()
        self.app.router.add_get("/images/products/{path:.*}", self._product_image)
        self.app.router.add_get("/hostile/{kind}", self._hostile)
        self.app.router.add_get("/static/{name}", self._static)
        self.app.router.add_get("/files/{name}", self._file)
        self.app.router.add_get("/marked/{spec:.*}", self._marked)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        self.requests[request.path] += 1
        await asyncio.sleep(self.latency_seconds)
        data = self.files.get(request.match_info["name"])
        if data is None:
            raise web.HTTPNotFound()
        return web.Response(body=data, content_type="image/jpeg")

    async def _product_image(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        self.requests[request.path] += 1
        await asyncio.sleep(self.latency_seconds)
        match = _SIZE_SUFFIX.search(path)
        if match is None:
            raise web.HTTPNotFound()
        code = "".join(ch for ch in path.split("/front_")[0] if ch.isdigit())
        if match.group("size") == "full" and code in self.missing_full:
            raise web.HTTPNotFound()
        size = (600, 840) if match.group("size") == "full" else (286, 400)
        fmt = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}[match.group("ext")]
        mark = self.marks.get(code, Mark(code)) if code else None
        # One picture per product: OFF's 400px copy is the full one scaled down, so a perceptual
        # hash sees them as the same picture, as it would on OFF.
        body = synthesize_product_image(code, (600, 840), fmt, mark)
        if size != (600, 840):
            body = _scaled(body, size, fmt)
        return web.Response(body=body, content_type=f"image/{'jpeg' if fmt == 'JPEG' else fmt.lower()}")

    async def _static(self, request: web.Request) -> web.StreamResponse:
        """Arbitrary 'web' images, e.g. a URL a person pastes in the review panel."""
        self.requests[request.path] += 1
        await asyncio.sleep(self.latency_seconds)
        name = request.match_info["name"]
        if name.endswith(".png"):
            return web.Response(body=transparent_png(), content_type="image/png")
        return web.Response(body=synthesize_product_image(name, (500, 500)), content_type="image/jpeg")

    async def _marked(self, request: web.Request) -> web.StreamResponse:
        """A product picture 'on the web': the mark, style and size are in the path."""
        self.requests[request.path] += 1
        spec = _MARKED.fullmatch(request.match_info["spec"])
        if spec is None:
            raise web.HTTPNotFound()
        mark = Mark(spec.group("code"), int(spec.group("digit")))
        size = (int(spec.group("w")), int(spec.group("h")))
        if max(size) > 3000:
            raise web.HTTPNotFound()
        # The label leaves out the file name: one picture published at several URLs is the same picture.
        label = request.path.rsplit("/", 1)[0]
        body = synthesize_product_image(label, size, mark=mark, scene=spec.group("style") == "scene")
        return web.Response(body=body, content_type="image/jpeg")

    async def _hostile(self, request: web.Request) -> web.StreamResponse:
        kind = request.match_info["kind"].rsplit(".", 1)[0]  # "/hostile/html.jpg" looks like an image URL
        self.requests[request.path] += 1
        if kind == "html":
            return web.Response(
                text="<!DOCTYPE html><html><body>Não encontrado</body></html>", content_type="image/jpeg"
            )
        if kind == "svg":
            svg = (
                '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
            )
            return web.Response(text=svg, content_type="image/svg+xml")
        if kind == "bomb":
            if self._bomb is None:
                self._bomb = decompression_bomb_png()
            return web.Response(body=self._bomb, content_type="image/png")
        if kind == "truncated":
            body = synthesize_product_image("truncated", (400, 400))
            return web.Response(body=body[: len(body) // 2], content_type="image/jpeg")
        if kind == "huge":
            return web.Response(
                body=b"\xff\xd8\xff\xe0" + b"0" * (12 * 1024 * 1024), content_type="image/jpeg"
            )
        if kind == "huge-chunked":
            response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
            await response.prepare(request)
            for _ in range(12 * 16):
                await response.write(b"\0" * 65536)
            await response.write_eof()
            return response
        if kind == "gif":
            out = BytesIO()
            Image.new("RGB", (10, 10)).save(out, format="GIF")
            return web.Response(body=out.getvalue(), content_type="image/jpeg")
        if kind == "exif-rotated":
            return web.Response(body=exif_rotated_jpeg(), content_type="image/jpeg")
        if kind == "alpha":
            return web.Response(body=transparent_png(), content_type="image/png")
        if kind == "redirect-metadata":
            raise web.HTTPFound("http://169.254.169.254/latest/meta-data/")
        if kind == "redirect-loop":
            raise web.HTTPFound("/hostile/redirect-loop")
        if kind == "redirect-ok":
            raise web.HTTPFound("/static/redirected.jpg")
        if kind == "unavailable":
            return web.Response(status=503, text="Service Unavailable")
        if kind == "throttled":
            return web.Response(status=429, text="Too Many Requests", headers={"Retry-After": "1"})
        if kind == "reset":
            # Headers promise a body that never comes: the connection drops mid-transfer.
            response = web.StreamResponse(headers={"Content-Type": "image/jpeg", "Content-Length": "100000"})
            await response.prepare(request)
            await response.write(b"\xff\xd8\xff\xe0" + b"0" * 1000)
            assert request.transport is not None
            request.transport.close()
            return response
        if kind == "slow":
            await asyncio.sleep(self.slow_seconds)
            return web.Response(body=b"", content_type="image/jpeg")
        raise web.HTTPNotFound()
