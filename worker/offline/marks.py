"""A machine-readable mark drawn into the stand-ins' synthetic pictures, so the OpenAI stand-in can
decide deterministically what a picture shows (the way a real model reads the label).

The mark is a strip along the bottom: a red start cell, the 14 digits of the GTIN (zero-padded)
as grey levels, one 'confidence' digit, a blue end cell. Flat cells survive JPEG and downscaling;
the reader samples each cell's centre.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageDraw

CELLS = 17  # start, 14 digits, confidence, end
START = (220, 20, 20)
END = (20, 20, 220)
STRIP_SHARE = 0.1
DEFAULT_CONFIDENCE_DIGIT = 9  # the stand-in answers (digit + 0.5) / 10 → 0.95


@dataclass(frozen=True)
class Mark:
    code: str
    confidence_digit: int = DEFAULT_CONFIDENCE_DIGIT

    @property
    def confidence(self) -> float:
        return round((self.confidence_digit + 0.5) / 10, 2)


def _grey(digit: int) -> tuple[int, int, int]:
    level = 20 + digit * 22
    return (level, level, level)


def _strip(size: tuple[int, int]) -> tuple[float, float, float]:
    width, height = size
    top = height * (1 - STRIP_SHARE)
    return top, height, width / CELLS


def draw_mark(image: Image.Image, mark: Mark) -> None:
    top, bottom, cell = _strip(image.size)
    draw = ImageDraw.Draw(image)
    digits = [int(ch) for ch in mark.code.zfill(14)[-14:]]
    colours = [START, *(_grey(d) for d in digits), _grey(mark.confidence_digit), END]
    for index, colour in enumerate(colours):
        draw.rectangle((index * cell, top, (index + 1) * cell, bottom), fill=colour)


def read_mark(image: Image.Image) -> Mark | None:
    rgb = image.convert("RGB")
    top, bottom, cell = _strip(rgb.size)
    row = int((top + bottom) / 2)
    values: list[tuple[int, ...]] = []
    for i in range(CELLS):
        pixel = rgb.getpixel((int((i + 0.5) * cell), row))
        values.append(tuple(int(v or 0) for v in pixel) if isinstance(pixel, tuple) else (0, 0, 0))

    def close(a: tuple[int, ...], b: tuple[int, int, int]) -> bool:
        return all(abs(int(x) - y) < 40 for x, y in zip(a, b, strict=False))

    if not (close(values[0], START) and close(values[-1], END)):
        return None
    digits = [min(9, max(0, round((sum(v[:3]) / 3 - 20) / 22))) for v in values[1:-1]]
    code = "".join(str(d) for d in digits[:14]).lstrip("0")
    return Mark(code=code, confidence_digit=digits[14])


def plain_background(image: Image.Image) -> bool:
    """Corners above the strip near white: a packshot's plain background."""
    rgb = image.convert("RGB")
    width, height = rgb.size
    points = [(2, 2), (width - 3, 2), (2, int(height * 0.8)), (width - 3, int(height * 0.8))]
    pixels = [rgb.getpixel(p) for p in points]
    return all(isinstance(p, tuple) and min(p[:3]) > 225 for p in pixels)
