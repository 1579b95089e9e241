"""Decoding is bounded by pixels, not by file size: a small file may not cost a large raster."""

from __future__ import annotations

from io import BytesIO

import pytest
from PIL import Image

from worker.images import MAX_DECODE_PIXELS, MIN_IMAGE_SIDE, ImageRejected, normalize_image


def _encoded(mode: str, size: tuple[int, int], fmt: str) -> bytes:
    out = BytesIO()
    Image.new(mode, size, 0).save(out, format=fmt, optimize=fmt == "PNG")
    return out.getvalue()


def test_a_small_png_declaring_40_megapixels_is_refused_before_decoding() -> None:
    """The 6300x6300 PNG (a few hundred KB) that used to cost ~730 MB of RSS."""
    data = _encoded("1", (6300, 6300), "PNG")
    assert len(data) < 1_000_000
    with pytest.raises(ImageRejected, match="excede o limite de 12 megapixels"):
        normalize_image(data)


def test_a_png_just_under_the_limit_is_decoded() -> None:
    side = int(MAX_DECODE_PIXELS**0.5)
    result = normalize_image(_encoded("L", (side, side), "PNG"), max_side=1200)
    assert (result.width, result.height) == (1200, 1200)


def test_a_large_jpeg_is_decoded_at_reduced_scale() -> None:
    """6000x6000 is 36 megapixels declared, but JPEG's DCT scaling decodes it at 1/4 (1500x1500)."""
    data = _encoded("L", (6000, 6000), "JPEG")
    result = normalize_image(data, max_side=1200)
    assert (result.width, result.height) == (1200, 1200)


def test_a_pillow_bomb_warning_is_a_refusal_not_a_crash() -> None:
    """Beyond Pillow's own MAX_IMAGE_PIXELS (aligned with ours) the header alone refuses it."""
    with pytest.raises(ImageRejected, match="bomba de descompressão"):
        normalize_image(_encoded("1", (10_000, 10_000), "PNG"))


@pytest.mark.parametrize("size", [(1, 1), (MIN_IMAGE_SIDE - 1, 500), (500, 40)])
def test_pictures_too_small_to_be_useful_are_refused(size: tuple[int, int]) -> None:
    with pytest.raises(ImageRejected, match="pequena demais"):
        normalize_image(_encoded("RGB", size, "PNG"))


def test_cmyk_and_16_bit_pictures_are_normalized() -> None:
    assert normalize_image(_encoded("CMYK", (300, 300), "JPEG")).source_format == "jpg"
    assert normalize_image(_encoded("I;16", (300, 300), "PNG")).source_format == "png"
