"""Picture identity on the colourway corpus, through the real path: each picture normalized
(`normalize_image`, which makes its hash in the pool's work), `same_picture` deciding.

Both directions: copies of one picture (scaled, recompressed, a plain border cropped or added, a
full-bleed picture cropped 1-2%) are the same picture; the design's colourways, flavour bands and
other layouts in the same colours are all different pictures."""

from __future__ import annotations

import itertools
from functools import cache
from io import BytesIO

import numpy as np
import pytest
from PIL import Image

from tests.corpus import colourways as corpus
from worker.images import normalize_image
from worker.picture_identity import PictureHash, picture_hash, same_picture


@cache
def hashed(data: bytes) -> str:
    return normalize_image(data).picture_hash


@cache
def original(name: str) -> str:
    return hashed(corpus.encode(corpus.closeup() if name == "closeup" else corpus.base()))


PROMISED = [copy for copy in corpus.copies() if copy.promised]


@pytest.mark.parametrize("copy", PROMISED, ids=[copy.name for copy in PROMISED])
def test_a_copy_of_a_picture_is_the_same_picture(copy: corpus.Copy) -> None:
    source = original("closeup" if copy.original is corpus.closeup else "base")
    assert same_picture(source, hashed(copy.make()))
    assert same_picture(hashed(copy.make()), source), "the decision is symmetric"


@pytest.mark.parametrize(
    "group",
    [corpus.colourways, corpus.flavour_bands, corpus.other_designs],
    ids=["colourways", "flavour-bands", "other-layouts"],
)
def test_every_other_colourway_band_or_layout_is_another_picture(group: object) -> None:
    assert callable(group)
    pictures = {name: hashed(data) for name, data in group().items()}
    assert len(pictures) >= 5
    same = [(a, b) for a, b in itertools.combinations(pictures, 2) if same_picture(pictures[a], pictures[b])]
    assert same == []


def test_the_grey_hash_alone_calls_the_colourways_the_same_picture() -> None:
    # Why colour is needed: by their grey part (the old rule, search dedup at 20 bits of 256),
    # the red package and five of its colourways (black: the zero-sugar one) were one picture.
    pictures = {name: PictureHash.parse(hashed(data)) for name, data in corpus.colourways().items()}
    assert len(pictures) >= 6
    red = pictures["vermelha"]
    for name in ("preta", "azul", "verde", "laranja", "roxa"):
        assert (red.grey ^ pictures[name].grey).bit_count() <= 20, name


def grey_only_dhash(image_bytes: bytes) -> str:
    """The hash as stored before colour was added (the code of that time, verbatim in effect)."""
    with Image.open(BytesIO(image_bytes)) as opened:
        opened.draft("L", (64, 64))
        small = opened.convert("L").resize((17, 16), Image.Resampling.LANCZOS)
    pixels = np.asarray(small)
    return np.packbits(pixels[:, :-1] > pixels[:, 1:]).tobytes().hex()


def test_an_old_grey_only_hash_still_blocks_the_same_picture() -> None:
    red = normalize_image(corpus.colourways()["vermelha"])
    stored_before = grey_only_dhash(red.judge_jpeg)
    assert red.picture_hash.startswith(stored_before), "the grey part keeps the values stored before"
    copy = next(c for c in corpus.copies() if c.name == "400px-jpeg-q50")
    assert same_picture(hashed(copy.make()), stored_before)
    assert same_picture(stored_before, red.picture_hash)
    # It holds no colour: the other colourways stay blocked by it (the safe side, documented).
    assert same_picture(hashed(corpus.colourways()["preta"]), stored_before)


def test_the_hash_of_a_png_matches_the_hash_of_its_jpeg_closely() -> None:
    image = corpus.base()
    png, jpeg = BytesIO(), BytesIO()
    image.save(png, format="PNG")
    image.save(jpeg, format="JPEG", quality=95)
    assert same_picture(picture_hash(png.getvalue()), picture_hash(jpeg.getvalue()))


def test_a_hash_of_another_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="not a picture hash"):
        PictureHash.parse("abc")
