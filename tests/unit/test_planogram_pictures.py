"""Planogram-grade pictures: a plain border trimmed, a transparent cutout only for plain backgrounds."""

from __future__ import annotations

from io import BytesIO

from PIL import Image, ImageDraw

from worker.images import cutout_png, normalize_image
from worker.offline.image_host import synthesize_product_image
from worker.packshot import background_colour, transparent_cutout, trim_uniform_borders


def package_on(background: tuple[int, int, int], size: tuple[int, int] = (800, 1000)) -> Image.Image:
    """A 300x500 package (with a white label on it) in the middle of a plain background."""
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    left, top = (size[0] - 300) // 2, (size[1] - 500) // 2
    draw.rectangle((left, top, left + 300, top + 500), fill=(200, 30, 40))
    draw.rectangle((left + 60, top + 150, left + 240, top + 300), fill=(255, 255, 255))  # the label
    return image


def test_a_plain_border_is_trimmed_so_the_package_fills_the_frame() -> None:
    trimmed = trim_uniform_borders(package_on((255, 255, 255)))
    assert 300 <= trimmed.width <= 300 * 1.2 and 500 <= trimmed.height <= 500 * 1.2
    assert trim_uniform_borders(package_on((240, 240, 235))).size == trimmed.size, "any plain colour"


def test_a_busy_background_is_left_alone() -> None:
    busy = Image.open(BytesIO(synthesize_product_image("cena", (800, 800), scene=True)))
    assert background_colour(busy) is None
    assert trim_uniform_borders(busy).size == (800, 800)
    assert transparent_cutout(busy) is None


def test_the_cutout_removes_the_background_but_not_a_white_label() -> None:
    picture = trim_uniform_borders(package_on((255, 255, 255)))
    png = transparent_cutout(picture)
    assert png is not None
    cutout = Image.open(BytesIO(png))
    assert cutout.format == "PNG" and cutout.mode == "RGBA" and cutout.size == picture.size
    alpha = cutout.getchannel("A")
    assert alpha.getpixel((1, 1)) == 0, "the background is transparent"
    centre = (cutout.width // 2, cutout.height // 2)
    assert cutout.getpixel(centre)[:3] == (255, 255, 255) and alpha.getpixel(centre) == 255, (
        "the white label inside the package stays opaque"
    )


def test_normalization_trims_and_remembers_the_background_for_the_cutout() -> None:
    raw = BytesIO()
    package_on((255, 255, 255), (1000, 1000)).save(raw, format="PNG")
    result = normalize_image(raw.getvalue())
    assert result.background is not None and result.width < 400 and result.height < 600
    png = cutout_png(result)
    assert png is not None and Image.open(BytesIO(png)).getchannel("A").getextrema() == (0, 255)
    busy = normalize_image(synthesize_product_image("cena", (800, 800), scene=True))
    assert busy.background is None and cutout_png(busy) is None
