"""The hostile picture corpus, generated with Pillow on demand (no binaries in git).

Each entry: a file name, how to make its bytes, and what must happen to it: refused with a reason
(a fragment of the Portuguese message) or accepted. Names look like picture URLs on purpose."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from io import BytesIO

from PIL import Image, ImageDraw


@dataclass(frozen=True)
class Picture:
    name: str
    make: Callable[[], bytes]
    refused: str | None  # None: accepted and normalized


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def _photo(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """A gradient with shapes: compresses like a real picture, not like a flat colour."""
    width, height = size
    image = Image.linear_gradient("L").resize(size).convert(mode if mode != "RGBA" else "RGB")
    draw = ImageDraw.Draw(image)
    draw.ellipse(
        (width * 0.2, height * 0.2, width * 0.8, height * 0.8), fill=(200, 40, 40) if mode != "L" else 80
    )
    return image.convert(mode)


def html_as_jpg() -> bytes:
    return b"<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>"


def truncated_jpg() -> bytes:
    data = _save(_photo((800, 800)), "JPEG", quality=90)
    return data[: len(data) // 3]


def zero_bytes() -> bytes:
    return b""


def one_pixel_png() -> bytes:
    return _save(Image.new("RGB", (1, 1), (255, 255, 255)), "PNG")


def _flat_png(width: int, height: int, bit_depth: int = 1, colour_type: int = 0) -> bytes:
    """A valid PNG of one flat colour, written row by row: the test process never holds the
    raster it describes (Pillow would need width x height bytes to build it)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    channels = {0: 1, 2: 3, 6: 4}[colour_type]
    row = b"\0" + b"\0" * ((width * channels * bit_depth + 7) // 8)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def pixel_bomb_png() -> bytes:
    """30,000 x 30,000 pixels in ~100 KB: 900 megapixels once decoded."""
    return _flat_png(30_000, 30_000)


def square_6300_png() -> bytes:
    """6300 x 6300 RGBA in a few hundred KB: the kind of PNG that once cost 730 MB of RSS."""
    return _flat_png(6300, 6300, bit_depth=8, colour_type=6)


def large_legal_png() -> bytes:
    """3400 x 3400 RGBA (11.6 megapixels): just under the decode limit, the heaviest legal decode."""
    return _save(_photo((3400, 3400), "RGBA"), "PNG", compress_level=1)


def large_jpeg() -> bytes:
    """8000 x 6000: more pixels than we ever decode, but JPEG decodes it at 1/4 scale."""
    return _save(_photo((8000, 6000), "L"), "JPEG", quality=70)


def animated_gif() -> bytes:
    frames = [_photo((300, 300)).convert("P") for _ in range(3)]
    return _save(frames[0], "GIF", save_all=True, append_images=frames[1:], loop=0)


def animated_webp() -> bytes:
    frames = [_photo((300, 300)), _photo((300, 300)).rotate(90)]
    return _save(frames[0], "WEBP", save_all=True, append_images=frames[1:])


def svg_with_script() -> bytes:
    return (
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="500" height="500">'
        b"<script>fetch('http://169.254.169.254/')</script><rect width='500' height='500'/></svg>"
    )


def cmyk_jpeg() -> bytes:
    return _save(_photo((600, 600)).convert("CMYK"), "JPEG", quality=85)


def sixteen_bit_png() -> bytes:
    return _save(_photo((400, 400), "L").convert("I;16"), "PNG")


def huge_exif_jpeg() -> bytes:
    """A JPEG carrying ~60 KB of EXIF (the most one APP1 segment holds) and an orientation."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010E] = "x" * 60_000
    return _save(_photo((500, 400)), "JPEG", exif=exif.tobytes())


def gif_named_jpg() -> bytes:
    return _save(_photo((300, 300)).convert("P"), "GIF")


CORPUS: list[Picture] = [
    Picture("html.jpg", html_as_jpg, "HTML"),
    Picture("truncated.jpg", truncated_jpg, "truncada"),
    Picture("zero.jpg", zero_bytes, "vazio"),
    Picture("one-pixel.png", one_pixel_png, "pequena demais"),
    Picture("pixel-bomb.png", pixel_bomb_png, "bomba de descompressão"),
    Picture("square-6300.png", square_6300_png, "excede o limite"),
    Picture("animated-gif.png", animated_gif, "GIF não aceito"),
    Picture("script-svg.jpg", svg_with_script, "SVG"),
    Picture("gif-named.jpg", gif_named_jpg, "GIF não aceito"),
    Picture("large-legal.png", large_legal_png, None),
    Picture("large.jpg", large_jpeg, None),
    Picture("animated.webp", animated_webp, None),
    Picture("cmyk.jpg", cmyk_jpeg, None),
    Picture("sixteen-bit.png", sixteen_bit_png, None),
    Picture("huge-exif.jpg", huge_exif_jpeg, None),
]


@cache
def picture_bytes(name: str) -> bytes:
    return next(p for p in CORPUS if p.name == name).make()
