"""A synthetic Open Food Facts JSONL export in the real format, for the off-index benchmark.

Each line is one of the real product documents in worker/offline/fixtures (OFF's stored fields:
`code`, `images` with `front_<lc>` revisions, names, brands, nutriments, ...) with a new barcode
and, as the export does, without the fields the API computes on read (`image_front_url`,
`selected_images`, `image_url`). Lines are padded with an ingredients text to a realistic size.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

from worker.offindex import API_COMPUTED_FIELDS
from worker.offline.off_server import load_fixtures

# The stored fields a line keeps. Real lines carry hundreds more (nutrients, every image's sizes,
# edit history) and average ~15 KB; these keep every field Stage 1 reads and a ~2 KB line, so a
# 1M-line export fits a CI disk (the per-line cost of the pre-filter grows with line length).
KEPT_FIELDS = (
    "code",
    "product_name",
    "product_name_pt",
    "generic_name",
    "brands",
    "quantity",
    "lang",
    "lc",
    "images",
    "categories_tags",
    "countries_tags",
    "nutriscore_grade",
    "last_modified_t",
)


def export_templates() -> list[dict[str, object]]:
    templates = []
    for data in load_fixtures().values():
        product = copy.deepcopy(data["product"])
        for key in API_COMPUTED_FIELDS:
            product.pop(key, None)
        kept = {k: product[k] for k in KEPT_FIELDS if k in product}
        images = kept.get("images")
        if isinstance(images, dict):
            kept["images"] = {k: v for k, v in images.items() if k.startswith("front") or k in ("1", "2")}
        templates.append(kept)
    return templates


def ean13(seed: int, prefix: str) -> str:
    body = f"{prefix}{seed:0{12 - len(prefix)}d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def write_export(path: Path, lines: int, catalogue_every: int = 20, seed: int = 7) -> list[str]:
    """Writes `lines` products; every `catalogue_every`-th one has a barcode from the catalogue
    range (prefix 789, as the bench's catalogue uses). Returns those barcodes."""
    rng = random.Random(seed)
    templates = export_templates()
    filler = "água, açúcar, farinha de trigo enriquecida com ferro e ácido fólico, " * 14
    catalogue: list[str] = []
    with_front = [t for t in templates if any(str(k).startswith("front_") for k in t.get("images") or {})]  # type: ignore[union-attr]

    # Each template serialized once; a line is the template with its barcode and text filled in.
    def serialized(doc: dict[str, object]) -> str:
        filled = {**doc, "code": "@CODE@", "_id": "@CODE@", "ingredients_text": "@TEXT@"}
        return json.dumps(filled, ensure_ascii=False, separators=(",", ":"))

    plain = [serialized(t) for t in templates]
    pictured = [serialized(t) for t in with_front]
    with path.open("w", encoding="utf-8") as out:
        for i in range(lines):
            if i % catalogue_every == 0:
                # The catalogue's products are ones OFF has a front picture for (the others would
                # go to the live API, which this benchmark does not measure).
                line = pictured[(i // catalogue_every) % len(pictured)]
                code = ean13(len(catalogue), "789")
                catalogue.append(code)
            else:
                line = plain[i % len(plain)]
                code = ean13(i, "30")
            text = filler[: rng.randint(200, len(filler))]
            out.write(line.replace("@CODE@", code).replace("@TEXT@", text) + "\n")
    return catalogue
