"""The search queries from real Brazilian product names (deterministic parser; no key needed)."""

from __future__ import annotations

import pytest

from worker.stages.openai_judge import ProductFacts
from worker.stages.queries import build_search_queries, find_size, parse_product_attributes

# (name as a catalogue has it, brand, expected size, expected flavour)
REAL_NAMES = [
    ("Achocolatado em Pó Nescau 400g", "Nescau", "400g", None),
    ("Refrigerante Guaraná Antarctica 1,5 L", "Antarctica", "1,5L", "guaraná"),
    ("Cerveja Heineken Lata 350 ml", "Heineken", "350ml", None),
    ("Leite UHT Integral Piracanjuba 12x200ml", "Piracanjuba", "12x200ml", None),
    ("Feijão Carioca Camil Tipo 1 1kg", "Camil", "1kg", None),
    ("Biscoito Recheado Trakinas Sabor Morango 126g", "Trakinas", "126g", "morango"),
    ("Iogurte Grego Vigor Frutas Vermelhas 100 g", "Vigor", "100g", "frutas vermelhas"),
    ("Sabão em Pó Omo Lavagem Perfeita 1,6kg", "Omo", "1,6kg", None),
    ("Água Mineral sem Gás Crystal 500mL", "Crystal", "500ml", None),
    ("Detergente Líquido Ypê Neutro 500 ml", "Ypê", "500ml", None),
    ("Arroz Branco Tio João 5 Kg", "Tio João", "5kg", None),
    ("Shampoo Seda Ceramidas 325ml", "Seda", "325ml", None),
]


@pytest.mark.parametrize(("name", "brand", "size", "flavour"), REAL_NAMES)
def test_sizes_and_flavours_of_real_names(name: str, brand: str, size: str, flavour: str | None) -> None:
    attributes = parse_product_attributes(name, brand)
    assert attributes.size == size
    assert attributes.flavour == flavour
    assert attributes.brand == brand
    assert attributes.product is not None
    assert brand.lower() not in attributes.product.lower() and size.lower() not in attributes.product.lower()


def test_the_three_queries_of_the_brief() -> None:
    product = ProductFacts("1", "Achocolatado em Pó Nescau Sabor Chocolate 400g", "Nescau", "7891000053508")
    queries = build_search_queries(product, parse_product_attributes(product.name, product.brand))
    assert queries == [
        "EAN 7891000053508 Nescau Achocolatado em Pó Sabor Chocolate",
        "Nescau Achocolatado em Pó Sabor Chocolate 400g embalagem",
        "Achocolatado em Pó Sabor Chocolate 400g foto produto",
    ]


def test_empty_parts_are_dropped_and_duplicates_removed() -> None:
    product = ProductFacts("1", "Banana prata", None, None)
    queries = build_search_queries(product, parse_product_attributes(product.name, product.brand))
    assert queries == ["Banana prata", "Banana prata embalagem", "Banana prata foto produto"]
    assert all("  " not in q and "None" not in q for q in queries)


def test_flavour_is_added_to_the_third_query_only_when_not_already_in_the_name() -> None:
    product = ProductFacts("1", "Iogurte Vigor 100g", "Vigor", "7896625211422")
    attributes = parse_product_attributes(product.name, product.brand)
    attributes.flavour = "morango"
    assert build_search_queries(product, attributes)[2] == "Iogurte morango 100g foto produto"


@pytest.mark.parametrize(
    ("text", "size"),
    [("2 L", "2L"), ("6 x 1 L", "6x1L"), ("0,5kg", "0,5kg"), ("200 gr", "200g"), ("sem tamanho", None)],
)
def test_size_spellings(text: str, size: str | None) -> None:
    assert find_size(f"Produto {text}") == size
