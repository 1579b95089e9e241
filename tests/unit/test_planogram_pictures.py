"""Planogram-grade pictures: a plain border trimmed, a transparent cutout only for plain backgrounds,
and only of the background joined to the edge."""

from __future__ import annotations

from io import BytesIO

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from worker.images import cutout_png, normalize_image
from worker.offline.image_host import synthesize_product_image
from worker.packshot import (
    MAX_FILL_PASSES,
    background_colour,
    edge_connected,
    transparent_cutout,
    trim_uniform_borders,
)


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


def winding_package() -> Image.Image:
    """A package on white whose outline leaves one gap on the right: through it, a white corridor
    turns four times (right, up, left, down) into a white room in the package; a second white
    window is closed on every side."""
    image = Image.new("RGB", (600, 600), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.rectangle((100, 100, 500, 500), fill=(30, 60, 160))
    draw.rectangle((440, 400, 600, 420), fill=(255, 255, 255))  # the gap, from the right edge in
    draw.rectangle((440, 200, 460, 420), fill=(255, 255, 255))  # up
    draw.rectangle((260, 200, 460, 220), fill=(255, 255, 255))  # left
    draw.rectangle((260, 200, 280, 330), fill=(255, 255, 255))  # down
    draw.rectangle((200, 330, 340, 380), fill=(255, 255, 255))  # the room at the corridor's end
    draw.rectangle((140, 130, 220, 170), fill=(255, 255, 255))  # the closed window
    return image


def test_background_reached_through_a_winding_gap_is_removed_but_a_closed_window_is_kept() -> None:
    picture = winding_package()
    png = transparent_cutout(picture, (255, 255, 255))
    assert png is not None
    alpha = Image.open(BytesIO(png)).getchannel("A")
    assert alpha.size == picture.size
    assert alpha.getpixel((5, 5)) == 0 and alpha.getpixel((590, 590)) == 0, "the outer background"
    assert alpha.getpixel((270, 355)) == 0, "the room joined to the edge after four turns"
    assert alpha.getpixel((450, 300)) == 0 and alpha.getpixel((360, 210)) == 0, "the corridor"
    assert alpha.getpixel((180, 150)) == 255, "the closed white window stays opaque"
    assert alpha.getpixel((380, 300)) == 255 and alpha.getpixel((150, 450)) == 255, "the package"


def _flood_from_edges(open_: list[list[bool]]) -> set[tuple[int, int]]:
    """The reference: a breadth-first flood fill from every open edge pixel, 4 neighbours."""
    height, width = len(open_), len(open_[0])
    frontier = [
        (r, c)
        for r in range(height)
        for c in range(width)
        if open_[r][c] and (r in (0, height - 1) or c in (0, width - 1))
    ]
    reached = set(frontier)
    while frontier:
        r, c = frontier.pop()
        for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
            if 0 <= nr < height and 0 <= nc < width and open_[nr][nc] and (nr, nc) not in reached:
                reached.add((nr, nc))
                frontier.append((nr, nc))
    return reached


@given(
    st.integers(1, 24).flatmap(
        lambda width: st.lists(
            st.lists(st.booleans(), min_size=width, max_size=width), min_size=1, max_size=24
        )
    )
)
@settings(max_examples=300, deadline=None)
def test_the_fill_reaches_exactly_what_a_flood_fill_from_the_edges_reaches(open_: list[list[bool]]) -> None:
    reached = edge_connected(np.array(open_, dtype=bool))
    assert {(int(r), int(c)) for r, c in zip(*np.nonzero(reached), strict=True)} == _flood_from_edges(open_)


def test_a_maze_deeper_than_the_pass_limit_stays_opaque_where_it_is_not_reached() -> None:
    # A serpentine corridor (one pixel wide) from the left edge: every two turns cost a pass.
    size = 4 * MAX_FILL_PASSES + 9
    open_ = np.zeros((size, size), dtype=bool)
    for row in range(1, size - 1, 2):
        open_[row, 1 : size - 1] = True  # a long row of corridor
        if row + 2 < size - 1:
            open_[row + 1, size - 2 if row % 4 == 1 else 1] = True  # the turn down to the next one
    open_[1, 0] = True  # the way in, on the left edge
    reached = edge_connected(open_)
    assert reached[1, :-1].all() and reached[3, 1:-1].all(), "the first stretches are reached"
    assert not reached[size - 2].any(), "the far end is left opaque: the safe side"
