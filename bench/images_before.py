"""The picture work as it was before issue 11 (kept only as the baseline that bench_e2e measures
the current code against, in the same run): a pure-Python flood fill for the cutout (it holds the
GIL), a LANCZOS copy for the mask, progressive+optimized JPEGs, the judge's copy always made, the
background ring read pixel by pixel. Decoding is shared with the current code (unchanged)."""

from __future__ import annotations

import hashlib
from io import BytesIO

from PIL import Image, ImageChops, ImageDraw, ImageFilter

from worker.images import (
    ALLOWED_FORMATS,
    JPEG_QUALITY,
    JUDGE_SIDE,
    THUMB_SIDE,
    NormalizedImage,
    _decode_bounded,
)
from worker.packshot import CUTOUT_WORK_SIDE, MARGIN_SHARE, MIN_TRIM_SHARE, PLAIN_SHARE, TOLERANCE

Colour = tuple[int, int, int]


def normalize_image(data: bytes, max_side: int = 1200) -> NormalizedImage:
    rgb, source_format = _decode_bounded(data, draft_side=max_side, keep_side=max_side * 2)
    background = background_colour(rgb)
    if background is not None:
        rgb = trim_uniform_borders(rgb, background)
    rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    main = _jpeg(rgb)
    judge_image = rgb.copy()
    judge_image.thumbnail((JUDGE_SIDE, JUDGE_SIDE), Image.Resampling.LANCZOS)
    thumb_image = judge_image.copy()
    thumb_image.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    return NormalizedImage(
        main_jpeg=main,
        thumb_jpeg=_jpeg(thumb_image),
        judge_jpeg=_jpeg(judge_image),
        width=rgb.width,
        height=rgb.height,
        source_format=ALLOWED_FORMATS[source_format],
        content_hash=hashlib.sha256(main).hexdigest(),
        background=background,
    )


def cutout_png(image: NormalizedImage) -> bytes | None:
    if image.background is None:
        return None
    with Image.open(BytesIO(image.main_jpeg)) as opened:
        return transparent_cutout(opened.convert("RGB"), image.background)


def _jpeg(image: Image.Image) -> bytes:
    out = BytesIO()
    image.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    return out.getvalue()


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
    difference = ImageChops.difference(image.convert("RGB"), Image.new("RGB", image.size, background))
    channels = difference.split()
    strongest = ImageChops.lighter(ImageChops.lighter(channels[0], channels[1]), channels[2])
    return strongest.point(lambda v: 255 if v > TOLERANCE else 0)


def trim_uniform_borders(image: Image.Image, background: Colour) -> Image.Image:
    box = _foreground(image, background).getbbox()
    if box is None:
        return image
    width, height = image.size
    margin_x, margin_y = round(width * MARGIN_SHARE), round(height * MARGIN_SHARE)
    left, top = max(0, box[0] - margin_x), max(0, box[1] - margin_y)
    right, bottom = min(width, box[2] + margin_x), min(height, box[3] + margin_y)
    if (right - left) * (bottom - top) > (1 - MIN_TRIM_SHARE) * width * height:
        return image
    return image.crop((left, top, right, bottom))


def transparent_cutout(image: Image.Image, background: Colour) -> bytes | None:
    work = image.convert("RGB")
    work.thumbnail((CUTOUT_WORK_SIDE, CUTOUT_WORK_SIDE), Image.Resampling.LANCZOS)
    mask = _foreground(work, background)
    width, height = mask.size
    edge = [(x, 0) for x in range(width)] + [(x, height - 1) for x in range(width)]
    edge += [(0, y) for y in range(height)] + [(width - 1, y) for y in range(height)]
    for point in edge:
        if mask.getpixel(point) == 0:
            ImageDraw.floodfill(mask, point, 128, thresh=0)
    alpha = mask.point(lambda v: 0 if v == 128 else 255)
    alpha = alpha.resize(image.size, Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(0.6))
    if alpha.getextrema()[0] == 255:
        return None
    cutout = image.convert("RGBA")
    cutout.putalpha(alpha)
    out = BytesIO()
    cutout.save(out, format="PNG")
    return out.getvalue()
