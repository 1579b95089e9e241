"""Candidate selection and defensive parsing, on real OFF responses."""

from __future__ import annotations

import json
from typing import Any

from worker.offline.off_server import FIXTURES
from worker.stages.openfoodfacts import parse_product_response


def fixture(code: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{code}.json").read_text())
    return data


def test_not_found_is_none() -> None:
    assert parse_product_response("12345678", fixture("12345678")) is None


def test_full_size_first_with_the_selected_images_rev_and_400px_fallback() -> None:
    product = parse_product_response("0737628064502", fixture("0737628064502"))
    assert product is not None
    first = product.candidates[0]
    assert (
        first.url == "https://static.openfoodfacts.net/images/products/073/762/806/4502/front_en.6.full.jpg"
    )
    assert (
        first.fallback_url
        == "https://static.openfoodfacts.net/images/products/073/762/806/4502/front_en.6.400.jpg"
    )
    assert product.name and "Thai peanut" in product.name
    assert product.quantity == "155 g"


def test_product_language_first_then_others_and_revs_differ_per_language() -> None:
    product = parse_product_response("4000539770708", fixture("4000539770708"))
    assert product is not None
    assert [c.lang for c in product.candidates] == ["de", "fr"]
    assert product.candidates[0].url.endswith("/front_de.4.full.jpg")
    assert product.candidates[1].url.endswith("/front_fr.21.full.jpg")


def test_portuguese_front_image_wins() -> None:
    data = fixture("4000539770708")
    display = data["product"]["selected_images"]["front"]["display"]
    display["pt"] = display["fr"].replace("front_fr.21", "front_pt.7")
    data["product"]["images"]["front_pt"] = {"rev": 7}
    product = parse_product_response("4000539770708", data)
    assert product is not None
    assert product.candidates[0].lang == "pt"
    assert product.candidates[0].url.endswith("/front_pt.7.full.jpg")


def test_raw_uploads_without_a_selected_front_give_no_candidate() -> None:
    product = parse_product_response("3596710352418", fixture("3596710352418"))
    assert product is not None
    assert product.candidates == []
    assert product.name == "Sauce Bolognaise"


def test_missing_name_and_quantity_are_tolerated() -> None:
    product = parse_product_response("5054070608074", fixture("5054070608074"))
    assert product is not None
    assert product.name is None and product.quantity is None
    assert product.brands == "Asda"
    assert len(product.candidates) == 1


def test_numbers_sent_as_strings_and_strings_as_numbers() -> None:
    data = fixture("22007377")
    data["status"] = "1"
    data["product"]["quantity"] = 1000
    data["product"]["images"]["front_en"]["rev"] = "13"
    product = parse_product_response("22007377", data)
    assert product is not None
    assert product.quantity == "1000"
    assert product.candidates[0].url.endswith("/22007377/front_en.13.full.jpg")


def test_empty_and_non_image_urls_are_rejected() -> None:
    data = fixture("22007377")
    product_data = data["product"]
    product_data["selected_images"] = {
        "front": {"display": {"en": "  ", "fr": "https://x.example/front_fr.3.400.gif"}}
    }
    product_data["image_front_url"] = "javascript:alert(1)"
    product_data["image_url"] = "https://x.example/images/products/22007377/front_en.13.400.webp"
    product = parse_product_response("22007377", data)
    assert product is not None
    assert [c.url for c in product.candidates] == [
        "https://x.example/images/products/22007377/front_en.13.full.webp"
    ]
