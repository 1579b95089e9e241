"""Picture identity: when two pictures are "the same picture", and the hash that decides it.

The same picture is the same picture at another size, compression, or with a plain border added
or taken away (the normalization trims it): one picture found on two sites is judged, paid for and
offered once, and a picture a person rejected does not come back from another URL. Another
colourway of one design is never the same picture: a regular and a zero-sugar cola share their
layout, so their grey gradients (a dHash) are a few bits of 256 apart (2-13 measured); only colour
tells them apart.

The hash (made in the image pool with the normalized picture, from one decode of its small JPEG
at 1/4-1/8 scale, under half a millisecond) has two parts, written one after the other as hex:
- grey: the 256-bit difference hash of the lightness (16 x 16 comparisons, row by row, left
  brighter than right), exactly the values stored before colour was added (64 hex digits);
- colour: the mean Y, Cb, Cr of a 4 x 4 grid of the picture (48 bytes, 96 hex digits), read from
  the JPEG's own YCbCr planes (no colour conversion).

Stored hashes: candidates keep their hash in `image_candidate_urls` (key `dhash`), and the
rejected-picture check reads those of rejected candidates. A hash stored before colour was added
is its grey part alone (64 hex digits). It is compared on the grey part only, with the distance
the check always had (GREY_ONLY_DISTANCE): an old rejection still blocks the same picture, and
still blocks the design's other colourways, because nothing stored says which colour was
rejected (the picture itself was never kept). Rejections made from now on carry colour.
"""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO

import numpy as np
from PIL import Image

GREY_SIDE = 16  # dHash: 16 x 16 comparisons, 256 bits
COLOUR_GRID = 4  # colour signature: 4 x 4 cells of mean Y, Cb, Cr
_GREY_HEX = GREY_SIDE * GREY_SIDE // 4
_COLOUR_HEX = COLOUR_GRID * COLOUR_GRID * 3 * 2

# The thresholds, measured on the colourway corpus (tests/corpus/colourways.py; the figures come
# from `python -m bench.bench_picture_identity`): 21 copies of one picture (scaled 200-1600 px, JPEG
# quality 30-95, a plain border cropped 1-5% or padded 5-15%, a full-bleed picture cropped 1-2%)
# against the design in 9 body colours, with 6 flavour bands and in 4 other layouts, and 40
# stand-in products of different designs.
#
# GREY_DISTANCE (of 256 bits): copies measured up to 39 (a full-bleed picture cropped 2%), 35 for
# JPEG q30, 300 px and a 15% margin (the trim moves the frame by a pixel or two, and flat package
# areas flip bits under JPEG noise): the old 20 and 32 split such copies. Different designs
# measured from 12 (the same colours, the band moved) and 30 (stand-in products): grey cannot
# separate layouts alone, the colour grid does (below); 44 leaves the copies 5 bits of room.
# Beyond it: a full-bleed picture cropped 3% or more (57 bits: the 16 x 16 grid moves half a cell).
GREY_DISTANCE = 44
# COLOUR_DISTANCE: per cell sqrt(dY^2 + (2 dCb)^2 + (2 dCr)^2), the largest cell. Chroma counts
# double: a picture's colours span about half the Cb/Cr range, and what moves a cell between
# copies is mostly lightness (text and outlines shifting by a pixel at a cell's edge). Copies
# measured up to 20 (JPEG q30); colourways, flavour bands and other layouts 45 and more (the
# closest: a gold and a lime band, 10% of the package; white and silver), stand-in products 42.
# 30 sits about 1.5x from both sides.
COLOUR_DISTANCE = 30.0
# A hash stored before colour was added: grey only, with the rejected-picture check's old bound
# (see the module docstring for what it cannot tell apart).
GREY_ONLY_DISTANCE = 32
_CHROMA_WEIGHT = 2.0


@dataclass(frozen=True)
class PictureHash:
    grey: int  # 256 bits
    colour: bytes | None  # 48 bytes, Y Cb Cr per cell, row by row; None for a grey-only hash

    @classmethod
    def parse(cls, text: str) -> PictureHash:
        if len(text) == _GREY_HEX:
            return cls(int(text, 16), None)
        if len(text) == _GREY_HEX + _COLOUR_HEX:
            return cls(int(text[:_GREY_HEX], 16), bytes.fromhex(text[_GREY_HEX:]))
        raise ValueError(f"not a picture hash ({len(text)} characters): {text[:20]!r}")


def picture_hash(image_bytes: bytes) -> str:
    """The picture's hash (grey dHash + colour grid), as hex. See the module docstring."""
    with Image.open(BytesIO(image_bytes)) as opened:
        # JPEG: decode at a fraction of the size, straight into its own YCbCr planes; its Y plane
        # is what a grey ("L") decode gives, so the grey part keeps the values stored before.
        opened.draft("YCbCr", (GREY_SIDE * 4, GREY_SIDE * 4))
        if opened.mode == "YCbCr":
            ycbcr = opened.copy()
            grey = ycbcr.getchannel(0)
        else:
            grey, ycbcr = opened.convert("L"), opened.convert("RGB").convert("YCbCr")
    small = np.asarray(grey.resize((GREY_SIDE + 1, GREY_SIDE), Image.Resampling.LANCZOS))
    # Row by row, left brighter than right: the first comparison is the most significant bit.
    bits = np.packbits(small[:, :-1] > small[:, 1:]).tobytes()
    cells = ycbcr.resize((COLOUR_GRID, COLOUR_GRID), Image.Resampling.BOX)  # the mean of each cell
    return bits.hex() + np.asarray(cells, dtype=np.uint8).tobytes().hex()


def grey_distance(a: PictureHash, b: PictureHash) -> int:
    return (a.grey ^ b.grey).bit_count()


def colour_distance(a: PictureHash, b: PictureHash) -> float | None:
    """The largest cell difference (chroma weighted), None when either hash has no colour."""
    if a.colour is None or b.colour is None:
        return None
    cells_a = np.frombuffer(a.colour, dtype=np.uint8).reshape(-1, 3).astype(np.float64)
    cells_b = np.frombuffer(b.colour, dtype=np.uint8).reshape(-1, 3).astype(np.float64)
    weighted = (cells_a - cells_b) * np.array([1.0, _CHROMA_WEIGHT, _CHROMA_WEIGHT])
    return float(np.sqrt((weighted**2).sum(axis=1)).max())


def same_picture(a: str, b: str) -> bool:
    """The one definition, used by every check: search dedup, the browser's dedup, rejected
    pictures (any stage). Both with colour: grey and colour both close. Either stored before
    colour was added: grey only, as before."""
    first, second = PictureHash.parse(a), PictureHash.parse(b)
    colour = colour_distance(first, second)
    if colour is None:
        return grey_distance(first, second) <= GREY_ONLY_DISTANCE
    return grey_distance(first, second) <= GREY_DISTANCE and colour <= COLOUR_DISTANCE


def is_known_picture(hash_: str, known: list[str]) -> bool:
    """`hash_` is the same picture as one of `known`."""
    return any(same_picture(hash_, other) for other in known)
