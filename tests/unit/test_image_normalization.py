"""normalize_image: the bytes decide, hostile inputs are refused with a reason, output is clean."""

from __future__ import annotations

from io import BytesIO

import pytest
from PIL import Image, ImageChops, ImageStat

from worker.images import ImageRejected, normalize_image
from worker.offline.image_host import (
    decompression_bomb_png,
    exif_rotated_jpeg,
    synthesize_product_image,
    transparent_png,
)
from worker.picture_identity import picture_hash


def test_jpeg_is_capped_and_thumbnailed() -> None:
    # A busy background (nothing to trim), so only the cap changes the size.
    result = normalize_image(synthesize_product_image("x", (2400, 1600), scene=True), max_side=1200)
    main = Image.open(BytesIO(result.main_jpeg))
    thumb = Image.open(BytesIO(result.thumb_jpeg))
    assert main.format == "JPEG" and main.size == (1200, 800)
    assert thumb.size == (256, 171)
    assert len(result.content_hash) == 64


def test_the_judge_copy_is_made_only_when_asked_for() -> None:
    photo = synthesize_product_image("j", (1600, 1200), scene=True)
    with_judge = normalize_image(photo, max_side=1200)
    judge = Image.open(BytesIO(with_judge.judge_jpeg))
    assert judge.format == "JPEG" and judge.size == (512, 384)
    without = normalize_image(photo, max_side=1200, judge_side=None)
    assert without.judge_jpeg == b"", "no judge configured: no copy nobody reads"
    assert (without.main_jpeg, without.thumb_jpeg) == (with_judge.main_jpeg, with_judge.thumb_jpeg)
    small = normalize_image(synthesize_product_image("s", (400, 300), scene=True))
    assert small.judge_jpeg == small.main_jpeg, "already the judge's size: sent as it is"
    # The perceptual hash comes with the picture, from the copy the judge sees (or the main one).
    assert with_judge.picture_hash == picture_hash(with_judge.judge_jpeg)
    assert without.picture_hash == picture_hash(without.main_jpeg)


def test_the_stored_picture_keeps_at_least_the_quality_of_a_q80_jpeg() -> None:
    photo = synthesize_product_image("q", (2400, 1600), scene=True)  # nothing to trim: only the cap
    result = normalize_image(photo, max_side=1200)
    source = Image.open(BytesIO(photo)).convert("RGB").resize((1200, 800), Image.Resampling.LANCZOS)

    def mean_error(jpeg: bytes) -> float:
        picture = Image.open(BytesIO(jpeg)).convert("RGB")
        return sum(ImageStat.Stat(ImageChops.difference(picture, source)).mean) / 3

    q80 = BytesIO()
    source.save(q80, format="JPEG", quality=80)
    assert mean_error(result.main_jpeg) <= mean_error(q80.getvalue())


def test_exif_orientation_applied_and_metadata_stripped() -> None:
    result = normalize_image(exif_rotated_jpeg())
    main = Image.open(BytesIO(result.main_jpeg))
    assert main.size == (200, 300), "orientation 6 turns the 300x200 landscape into a portrait"
    assert dict(main.getexif()) == {}


def test_alpha_is_flattened_on_white() -> None:
    result = normalize_image(transparent_png())
    main = Image.open(BytesIO(result.main_jpeg)).convert("RGB")
    assert main.getpixel((2, 2)) == pytest.approx((255, 255, 255), abs=3)
    assert main.getpixel((100, 100))[1] > 120
    assert result.source_format == "png"


def test_webp_is_accepted() -> None:
    assert normalize_image(synthesize_product_image("w", (300, 300), "WEBP")).source_format == "webp"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<!DOCTYPE html><html><body>oi</body></html>", "HTML"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>', "SVG"),
        (b"<svg onload=alert(1)>", "SVG"),
        (b"", "vazio"),
        (b"GIF89a" + b"\0" * 100, "não é uma imagem"),
        (b"\xff\xd8\xff\xe0garbage", "corrompida"),
    ],
)
def test_non_images_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(ImageRejected, match=reason):
        normalize_image(data)


def test_gif_is_refused_by_format() -> None:
    out = BytesIO()
    Image.new("RGB", (10, 10)).save(out, format="GIF")
    with pytest.raises(ImageRejected, match="GIF não aceito"):
        normalize_image(out.getvalue())


def test_decompression_bomb_is_refused_before_decoding() -> None:
    with pytest.raises(ImageRejected, match="bomba de descompressão"):
        normalize_image(decompression_bomb_png())


def test_truncated_jpeg_is_refused() -> None:
    data = synthesize_product_image("t", (400, 400))
    with pytest.raises(ImageRejected, match="truncada"):
        normalize_image(data[: len(data) // 2])
