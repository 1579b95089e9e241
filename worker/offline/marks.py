"""A machine-readable mark drawn into the stand-ins' synthetic pictures, so the OpenAI stand-in can
decide deterministically what a picture shows (the way a real model reads the label).

The mark is a strip along the bottom: a red start cell, the 14 digits of the GTIN (zero-padded)
as grey levels, one 'confidence' digit, a blue end cell. Flat cells survive JPEG and downscaling;
the reader samples each cell's centre.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageChops, ImageDraw

CELLS = 17  # start, 14 digits, confidence, end
START = (220, 20, 20)
END = (20, 20, 220)
MARK_ENDS = (START, END)
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


INSET = 0.04  # the strip keeps off the picture's edges, so a packshot's background stays plain


def draw_mark(image: Image.Image, mark: Mark) -> None:
    width, height = image.size
    left, right = width * INSET, width * (1 - INSET)
    top, bottom = height * (1 - INSET - STRIP_SHARE), height * (1 - INSET)
    cell = (right - left) / CELLS
    draw = ImageDraw.Draw(image)
    digits = [int(ch) for ch in mark.code.zfill(14)[-14:]]
    colours = [START, *(_grey(d) for d in digits), _grey(mark.confidence_digit), END]
    for index, colour in enumerate(colours):
        draw.rectangle((left + index * cell, top, left + (index + 1) * cell, bottom), fill=colour)


def _box_of(rgb: Image.Image, colour: tuple[int, int, int]) -> tuple[int, int, int, int] | None:
    difference = ImageChops.difference(rgb, Image.new("RGB", rgb.size, colour)).split()
    strongest = ImageChops.lighter(ImageChops.lighter(difference[0], difference[1]), difference[2])
    return strongest.point(lambda v: 255 if v < 30 else 0).getbbox()


def read_mark(image: Image.Image) -> Mark | None:
    """Finds the strip by its red start and blue end cells (wherever cropping moved them)."""
    rgb = image.convert("RGB")
    start, end = _box_of(rgb, START), _box_of(rgb, END)
    if start is None or end is None or end[2] <= start[0]:
        return None
    cell = (end[2] - start[0]) / CELLS
    row = (start[1] + start[3]) // 2
    values: list[tuple[int, ...]] = []
    for i in range(1, CELLS - 1):
        pixel = rgb.getpixel((min(rgb.width - 1, int(start[0] + (i + 0.5) * cell)), row))
        values.append(tuple(int(v or 0) for v in pixel) if isinstance(pixel, tuple) else (0, 0, 0))
    digits = [min(9, max(0, round((sum(v[:3]) / 3 - 20) / 22))) for v in values]
    code = "".join(str(d) for d in digits[:14]).lstrip("0")
    return Mark(code=code, confidence_digit=digits[14])


def plain_background(image: Image.Image) -> bool:
    """Corners above the strip near white: a packshot's plain background."""
    rgb = image.convert("RGB")
    width, height = rgb.size
    points = [(2, 2), (width - 3, 2), (2, int(height * 0.8)), (width - 3, int(height * 0.8))]
    pixels = [rgb.getpixel(p) for p in points]
    return all(isinstance(p, tuple) and min(p[:3]) > 225 for p in pixels)
