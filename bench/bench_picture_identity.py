"""Picture identity on the colourway corpus (tests/corpus/colourways.py): the distances of each
hash component, both directions, against the thresholds in worker/picture_identity.py.

Every picture goes through the real path: `normalize_image` (trim, resize, the judge's JPEG)
makes its hash; `same_picture` decides. Printed: each copy of one picture (must be the same),
the closest pairs among colourways and flavour bands (must differ), stand-in products of
different designs (must differ), and the hash's cost against the grey-only dHash it extends
(per picture, same run, median of interleaved calls).

    .venv/bin/python -m bench.bench_picture_identity
"""

from __future__ import annotations

import itertools
import statistics
import time
from io import BytesIO

import numpy as np
from PIL import Image

from bench.common import Report
from tests.corpus import colourways as corpus
from worker.images import normalize_image
from worker.offline.image_host import synthesize_product_image
from worker.offline.marks import Mark
from worker.picture_identity import (
    COLOUR_DISTANCE,
    GREY_DISTANCE,
    PictureHash,
    colour_distance,
    grey_distance,
    picture_hash,
    same_picture,
)

STAND_IN_PRODUCTS = 40
TIMING_ROUNDS = 300


def hashed(data: bytes) -> str:
    return normalize_image(data).picture_hash


def distances(a: str, b: str) -> tuple[int, float]:
    first, second = PictureHash.parse(a), PictureHash.parse(b)
    colour = colour_distance(first, second)
    assert colour is not None
    return grey_distance(first, second), colour


def grey_only_dhash(image_bytes: bytes) -> str:
    """The hash as it was before colour (the baseline of the cost ratio)."""
    with Image.open(BytesIO(image_bytes)) as opened:
        opened.draft("L", (64, 64))
        small = opened.convert("L").resize((17, 16), Image.Resampling.LANCZOS)
    pixels = np.asarray(small)
    return np.packbits(pixels[:, :-1] > pixels[:, 1:]).tobytes().hex()


def pairs(named: dict[str, str]) -> list[tuple[str, int, float, bool]]:
    return [
        (f"{a}/{b}", *distances(named[a], named[b]), same_picture(named[a], named[b]))
        for a, b in itertools.combinations(named, 2)
    ]


def main() -> tuple[float, float, str]:
    """Prints the figures; returns the one-line summaries that `make bench` records."""
    originals = {
        "base": hashed(corpus.encode(corpus.base())),
        "closeup": hashed(corpus.encode(corpus.closeup())),
    }
    print(f"thresholds: grey <= {GREY_DISTANCE} of 256 bits, colour <= {COLOUR_DISTANCE:g}")
    print("\nsame picture (copy vs original)      grey  colour  same")
    copies = []
    for copy in corpus.copies():
        original = originals["closeup" if copy.original is corpus.closeup else "base"]
        made = hashed(copy.make())
        grey, colour = distances(original, made)
        copies.append((copy.name, grey, colour, same_picture(original, made)))
        if not copy.promised:
            copies.pop()  # a limit, not a promise: printed, not counted
        verdict = "yes" if same_picture(original, made) else "NO"
        print(f"  {copy.name:34} {grey:5} {colour:7.1f}  {verdict}{'' if copy.promised else ' (a limit)'}")
    groups = {
        "colourways": pairs({k: hashed(v) for k, v in corpus.colourways().items()}),
        "flavour bands": pairs({k: hashed(v) for k, v in corpus.flavour_bands().items()}),
    }
    groups["other layouts"] = pairs({k: hashed(v) for k, v in corpus.other_designs().items()})
    products = {}
    for index in range(STAND_IN_PRODUCTS):
        code = str(7891000000000 + index * 7919)
        label = f"/marked/{code}/9/packshot/800x800"
        products[code] = hashed(synthesize_product_image(label, (800, 800), mark=Mark(code)))
    groups["stand-in products"] = pairs(products)

    # The old rule, for comparison: grey only, 20 bits for search dedup, 32 for rejected pictures.
    print("\ntold apart: pairs called different pictures (copies: should be none; the others: all of them)")
    print(
        "                        pairs  told apart  old rule <=20/<=32"
        "  grey min (median)  colour min (median)  closest pair"
    )
    print(
        f"  {'copies (same)':20} {len(copies):6} {sum(not c[3] for c in copies):11}"
        f"  {sum(c[1] > 20 for c in copies):8}/{sum(c[1] > 32 for c in copies):<8}"
        f"  max {max(c[1] for c in copies):3}            max {max(c[2] for c in copies):5.1f}"
    )
    for name, rows in groups.items():
        greys, colours = [r[1] for r in rows], [r[2] for r in rows]
        closest = min(rows, key=lambda r: max(r[1] / GREY_DISTANCE, r[2] / COLOUR_DISTANCE))
        print(
            f"  {name:20} {len(rows):6} {sum(not r[3] for r in rows):11}"
            f"  {sum(g > 20 for g in greys):8}/{sum(g > 32 for g in greys):<8}"
            f"  {min(greys):7} ({statistics.median(greys):5.0f})"
            f"  {min(colours):11.1f} ({statistics.median(colours):5.1f})"
            f"  {closest[0]} ({closest[1]}, {closest[2]:.1f})"
        )

    judge_jpeg = normalize_image(corpus.encode(corpus.base())).judge_jpeg
    old, new = [], []
    for _ in range(TIMING_ROUNDS):
        for work, times in ((grey_only_dhash, old), (picture_hash, new)):
            started = time.perf_counter()
            work(judge_jpeg)
            times.append(time.perf_counter() - started)
    old_ms, new_ms = statistics.median(old) * 1000, statistics.median(new) * 1000
    print(
        f"\nhash cost per picture (512 px JPEG, median of {TIMING_ROUNDS}): grey-only {old_ms:.2f} ms,"
        f" grey+colour {new_ms:.2f} ms, ratio {new_ms / old_ms:.2f}"
    )
    different = [row for rows in groups.values() for row in rows]
    verdicts = (
        f"{sum(c[3] for c in copies)}/{len(copies)} copies the same picture,"
        f" {sum(not r[3] for r in different)}/{len(different)} different pairs told apart"
    )
    return new_ms, old_ms, verdicts


def run(report: Report) -> None:
    new_ms, old_ms, verdicts = main()
    report.add(
        "picture identity",
        "perceptual hash per picture (512 px JPEG): grey dHash + colour grid",
        f"{new_ms:.2f} ms",
        f"grey-only dHash {old_ms:.2f} ms",
        f"{new_ms / old_ms:.2f}x",
        f"colourway corpus: {verdicts} (python -m bench.bench_picture_identity)",
    )


if __name__ == "__main__":
    main()
