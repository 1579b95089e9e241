"""`imagefill off-index`: front-image URLs built from export lines match what OFF's API answers
for the same products (real fixtures), and only the catalogue's EANs are indexed."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from worker.offindex import (
    API_COMPUTED_FIELDS,
    OffExportIndex,
    barcode_folders,
    build_index,
    candidates_from_document,
    gtin_key,
)
from worker.offline.off_server import OFF_IMAGE_HOSTS, load_fixtures


def export_line(product: dict[str, object]) -> dict[str, object]:
    """The stored document as the export has it: without the URLs the API computes on read."""
    return {k: v for k, v in product.items() if k not in API_COMPUTED_FIELDS}


@pytest.mark.parametrize(
    "code", [code for code, data in load_fixtures().items() if data["product"].get("image_front_url")]
)
def test_urls_built_from_the_export_are_the_apis_own(code: str) -> None:
    product = load_fixtures()[code]["product"]
    api_url = str(product["image_front_url"])
    host = next(h for h in OFF_IMAGE_HOSTS if api_url.startswith(h))
    candidates = candidates_from_document(export_line(product), host)
    # The API's 400px URL is one of the built fallbacks (for short codes, under the older
    # folder rule: both rules are offered, today's first).
    assert api_url in [c.fallback_url for c in candidates]
    first = candidates[0]
    assert first.url.endswith(".full.jpg") and first.fallback_url and first.fallback_url.endswith(".400.jpg")


def test_barcode_folder_rules() -> None:
    assert barcode_folders("0737628064502") == ["073/762/806/4502"]
    assert barcode_folders("22007377") == ["000/002/200/7377", "22007377"]
    assert gtin_key("737628064502") == "0737628064502"
    assert gtin_key("07891000100103") == "7891000100103"


def test_portuguese_front_first_then_the_products_language() -> None:
    doc = {
        "code": "7891000100103",
        "lang": "fr",
        "images": {"front_en": {"rev": 3}, "front_pt": {"rev": "9"}, "front_fr": {"rev": 4}, "1": {}},
    }
    langs = [c.lang for c in candidates_from_document(doc, "https://img.example")]
    assert langs == ["pt", "fr", "en"]
    assert candidates_from_document({"code": "7891000100103", "images": {}}, "https://x") == []


def test_index_keeps_only_catalogue_eans_and_reads_gzip(tmp_path: Path) -> None:
    fixtures = load_fixtures()
    soja = export_line(fixtures["8424259826051"]["product"])
    others = [export_line(fixtures[c]["product"]) for c in ("0737628064502", "4000539770708")]
    export = tmp_path / "products.jsonl.gz"
    with gzip.open(export, "wt", encoding="utf-8") as out:
        for doc in [*others, soja, {"code": "not json"}]:
            out.write(json.dumps(doc) + "\n")
        out.write("{broken line\n")
    index_path = tmp_path / "index.sqlite"
    report = build_index(
        export, ["8424259826051", "7891000100103", "737628064502"], index_path, "https://i.example"
    )
    assert (report.lines, report.matched, report.with_front_image) == (5, 2, 2)

    index = OffExportIndex(index_path)
    try:
        product = index.lookup("8424259826051")
        assert product is not None and product.code == "8424259826051"
        assert product.candidates[0].url.startswith(
            "https://i.example/images/products/842/425/982/6051/front_es."
        )
        assert index.lookup("0737628064502") is not None, "UPC-A is found by its 13-digit form"
        assert index.lookup("4000539770708") is None, "not in the catalogue, not indexed"
    finally:
        index.close()


def test_a_missing_index_names_the_command(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="imagefill off-index"):
        OffExportIndex(tmp_path / "absent.sqlite")
