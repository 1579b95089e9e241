"""Planogram-grade pictures, with Pillow only (no model downloads).

A planogram shows the front of the package at shelf scale: normalization trims a plain border so
the package fills the frame, and when the background is one plain colour a transparent cutout
(`main.png`) is stored beside `main.jpg`, so a 2D shelf renderer does not draw the product as a
square. The background is only removed where it touches the picture's edge (flood fill from the
border), so a white label on the package stays opaque.

Cost: everything here runs in the image pool's threads, so it must leave the GIL free: Pillow's C
operations do, and the edge-connected fill is numpy over whole rows and columns (a pure-Python
flood fill held the GIL for 12-28 ms per picture). The PNG keeps zlib's default level 6: the
cutout is made once per approved product and downloaded by every shelf that shows it; level 1
saved ~35-60% of the encode's CPU but made the file 35-65% larger (measured while writing this,
on the bench's packshots; not part of `make bench`).
"""

from __future__ import annotations

from io import BytesIO

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageChops, ImageFilter

TOLERANCE = 24  # how far (max channel difference) a pixel may be from the background colour
PLAIN_SHARE = 0.96  # share of the outer ring that must be the background colour
MIN_TRIM_SHARE = 0.03  # trim only when it removes at least this share of the area
MARGIN_SHARE = 0.02  # breathing room kept around the package
CUTOUT_WORK_SIDE = 200  # the fill runs on a copy this size; the mask is scaled back
# The fill crosses any straight stretch of background in one pass; each turn of a corridor costs one
# more. A real background needs 2-4 passes; a background-coloured maze deeper than this keeps its
# far corridors opaque (the safe side: the package is never cut into).
MAX_FILL_PASSES = 128
# The difference from the background colour, per channel, thresholded at TOLERANCE.
_OVER_TOLERANCE = [255 if v > TOLERANCE else 0 for v in range(256)] * 3

Colour = tuple[int, int, int]


def _ring(image: Image.Image, samples: int = 64) -> NDArray[np.int32]:
    """`samples` evenly spaced pixels along each side (corners included), as (4 x samples, 3):
    read from four one-pixel strips, so no per-pixel Python (which would hold the GIL)."""
    width, height = image.size
    steps = np.arange(samples)
    # Python's round() of the same floats: both round half to even.
    xs = np.round(steps * (width - 1) / (samples - 1)).astype(np.intp)
    ys = np.round(steps * (height - 1) / (samples - 1)).astype(np.intp)
    top, bottom = (np.asarray(image.crop((0, y, width, y + 1)))[0] for y in (0, height - 1))
    left, right = (np.asarray(image.crop((x, 0, x + 1, height)))[:, 0] for x in (0, width - 1))
    # Per step: top, bottom, left, right (the order decides which of equal sums is the median).
    ring = np.stack([top[xs], bottom[xs], left[ys], right[ys]], axis=1).reshape(-1, 3)
    return ring.astype(np.int32)


def background_colour(image: Image.Image) -> Colour | None:
    """The colour of a plain background (the outer ring nearly all one colour), else None."""
    if image.width < 8 or image.height < 8:
        return None
    ring = _ring(image if image.mode == "RGB" else image.convert("RGB"))
    median = ring[np.argsort(ring.sum(axis=1), kind="stable")[len(ring) // 2]]
    close = ring[np.abs(ring - median).max(axis=1) <= TOLERANCE]
    if len(close) < PLAIN_SHARE * len(ring):
        return None
    red, green, blue = (int(v) for v in close.sum(axis=0) // len(close))
    return red, green, blue


def _differs(image: Image.Image, background: Colour) -> Image.Image:
    """RGB: 255 in each channel that is further than TOLERANCE from the background colour, else 0."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return ImageChops.difference(rgb, Image.new("RGB", rgb.size, background)).point(_OVER_TOLERANCE)


def _foreground(image: Image.Image, background: Colour) -> Image.Image:
    """L mask: 255 where the pixel differs from the background, 0 where it is background-like."""
    red, green, blue = _differs(image, background).split()
    return ImageChops.lighter(ImageChops.lighter(red, green), blue)


def trim_uniform_borders(image: Image.Image, background: Colour | None = None) -> Image.Image:
    """Crops a plain border away (keeping a small margin); pictures without one come back as they were."""
    background = background or background_colour(image)
    if background is None:
        return image
    box = _differs(image, background).getbbox()  # any channel that differs counts
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
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    # BOX (an average) for the mask's copy: as good as LANCZOS for telling background from
    # package at this size, without its ringing, at a third of the cost.
    work = rgb.copy()
    work.thumbnail((CUTOUT_WORK_SIDE, CUTOUT_WORK_SIDE), Image.Resampling.BOX)
    # Background = the background-like pixels connected to the edge; everything else is the package.
    outside = edge_connected(np.asarray(_foreground(work, background)) == 0)
    if not outside.any():
        return None  # nothing to remove
    alpha = Image.fromarray(np.where(outside, np.uint8(0), np.uint8(255)))
    alpha = alpha.resize(rgb.size, Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(0.6))
    cutout = rgb.convert("RGBA")
    cutout.putalpha(alpha)
    out = BytesIO()
    cutout.save(out, format="PNG")
    return out.getvalue()


def edge_connected(open_: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The True pixels joined to the image's edge through True pixels (4-neighbours: what a flood
    fill from every edge pixel reaches). Each pass spreads "reached" along whole row runs, then
    whole column runs, of True pixels: numpy over the whole mask, so the GIL stays free."""
    rows = _run_labels(open_)
    columns = _run_labels(open_.T).T
    reached = np.zeros_like(open_)
    for edge in (np.s_[0, :], np.s_[-1, :], np.s_[:, 0], np.s_[:, -1]):
        reached[edge] = open_[edge]
    count = int(np.count_nonzero(reached))
    for _ in range(MAX_FILL_PASSES):
        reached = _spread(_spread(reached, rows), columns)
        grown = int(np.count_nonzero(reached))
        if grown == count:
            break
        count = grown
    return reached


def _run_labels(open_: NDArray[np.bool_]) -> NDArray[np.intp]:
    """1..n for each horizontal run of True pixels (one label per run), 0 elsewhere."""
    starts = open_.copy()  # C order, also for a transposed view: its runs are then columns
    starts[:, 1:] &= ~open_[:, :-1]
    # A run never spans two rows: a True pixel in the first column always starts one.
    labels = np.cumsum(starts, dtype=np.intp).reshape(starts.shape)
    labels[~open_] = 0
    return labels


def _spread(reached: NDArray[np.bool_], labels: NDArray[np.intp]) -> NDArray[np.bool_]:
    """Every pixel of a run that has at least one reached pixel becomes reached."""
    hit = np.zeros(int(labels.max()) + 1, dtype=bool)
    hit[labels[reached]] = True
    hit[0] = False  # label 0: not background-like
    result: NDArray[np.bool_] = hit[labels]
    return result
