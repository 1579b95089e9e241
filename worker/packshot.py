"""Planogram-grade pictures, with Pillow only (no model downloads).

A planogram shows the front of the package at shelf scale: normalization trims a plain border so
the package fills the frame, and when the background is one plain colour a transparent cutout
(`main.png`) is stored beside `main.jpg`, so a 2D shelf renderer does not draw the product as a
square. The background is only removed where it touches the picture's edge (flood fill from the
border), so a white label on the package stays opaque.
"""

from __future__ import annotations

from io import BytesIO

from PIL import Image, ImageChops, ImageDraw, ImageFilter

TOLERANCE = 24  # how far (max channel difference) a pixel may be from the background colour
PLAIN_SHARE = 0.96  # share of the outer ring that must be the background colour
MIN_TRIM_SHARE = 0.03  # trim only when it removes at least this share of the area
MARGIN_SHARE = 0.02  # breathing room kept around the package
CUTOUT_WORK_SIDE = 200  # the flood fill runs on a copy this size; the mask is scaled back

Colour = tuple[int, int, int]


def _ring(image: Image.Image, samples: int = 64) -> list[Colour]:
    width, height = image.size
    points = []
    for i in range(samples):
        x = round(i * (width - 1) / (samples - 1))
        y = round(i * (height - 1) / (samples - 1))
        points += [(x, 0), (x, height - 1), (0, y), (width - 1, y)]
    pixels = []
    for point in points:
        pixel = image.getpixel(point)
        pixels.append(tuple(int(v or 0) for v in pixel[:3]) if isinstance(pixel, tuple) else (0, 0, 0))
    return pixels  # type: ignore[return-value]


def _close(a: Colour, b: Colour) -> bool:
    return max(abs(x - y) for x, y in zip(a, b, strict=True)) <= TOLERANCE


def background_colour(image: Image.Image) -> Colour | None:
    """The colour of a plain background (the outer ring nearly all one colour), else None."""
    if image.width < 8 or image.height < 8:
        return None
    ring = _ring(image.convert("RGB"))
    ordered = sorted(ring, key=sum)
    median = ordered[len(ordered) // 2]
    close = [p for p in ring if _close(p, median)]
    if len(close) < PLAIN_SHARE * len(ring):
        return None
    return (
        sum(p[0] for p in close) // len(close),
        sum(p[1] for p in close) // len(close),
        sum(p[2] for p in close) // len(close),
    )


def _foreground(image: Image.Image, background: Colour) -> Image.Image:
    """L mask: 255 where the pixel differs from the background, 0 where it is background-like."""
    difference = ImageChops.difference(image.convert("RGB"), Image.new("RGB", image.size, background))
    channels = difference.split()
    strongest = ImageChops.lighter(ImageChops.lighter(channels[0], channels[1]), channels[2])
    return strongest.point(lambda v: 255 if v > TOLERANCE else 0)


def trim_uniform_borders(image: Image.Image, background: Colour | None = None) -> Image.Image:
    """Crops a plain border away (keeping a small margin); pictures without one come back as they were."""
    background = background or background_colour(image)
    if background is None:
        return image
    box = _foreground(image, background).getbbox()
    if box is None:
        return image  # nothing but background
    width, height = image.size
    margin_x, margin_y = round(width * MARGIN_SHARE), round(height * MARGIN_SHARE)
    left, top = max(0, box[0] - margin_x), max(0, box[1] - margin_y)
    right, bottom = min(width, box[2] + margin_x), min(height, box[3] + margin_y)
    if (right - left) * (bottom - top) > (1 - MIN_TRIM_SHARE) * width * height:
        return image
    return image.crop((left, top, right, bottom))


def transparent_cutout(image: Image.Image, background: Colour | None = None) -> bytes | None:
    """PNG with the plain background made transparent, or None when the background is not plain."""
    background = background or background_colour(image)
    if background is None:
        return None
    work = image.convert("RGB")
    work.thumbnail((CUTOUT_WORK_SIDE, CUTOUT_WORK_SIDE), Image.Resampling.LANCZOS)
    mask = _foreground(work, background)
    # Background = the background-like pixels connected to the edge: fill them with 128 from
    # every edge pixel that is still 0, then everything else is the package.
    width, height = mask.size
    edge = [(x, 0) for x in range(width)] + [(x, height - 1) for x in range(width)]
    edge += [(0, y) for y in range(height)] + [(width - 1, y) for y in range(height)]
    for point in edge:
        if mask.getpixel(point) == 0:
            ImageDraw.floodfill(mask, point, 128, thresh=0)
    alpha = mask.point(lambda v: 0 if v == 128 else 255)
    alpha = alpha.resize(image.size, Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(0.6))
    if alpha.getextrema()[0] == 255:
        return None  # nothing to remove
    cutout = image.convert("RGBA")
    cutout.putalpha(alpha)
    out = BytesIO()
    cutout.save(out, format="PNG")
    return out.getvalue()
