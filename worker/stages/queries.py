"""Search queries for stage 3, built from the catalogue's name, brand and EAN.

`extract_product_attributes` asks OpenAI (structured output, text only) for brand, product,
flavour and size; with no key, or when the call fails, a deterministic parser for Brazilian names
does it (`400g`, `1,5 L`, `350 ml`, `12x200ml`, `1kg`). Then the user's 2–3 queries:

    "EAN {ean} {brand} {product}"
    "{brand} {product} {size} embalagem"
    "{product} {flavour} {weight} foto produto"

empty parts dropped, no duplicates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import openai
from pydantic import BaseModel, ValidationError

from worker.costs import Usage
from worker.stages.openai_judge import ProductFacts, api_problem, sampling_options, usage_of

_NUMBER = r"\d+(?:[.,]\d+)?"
_UNIT = r"(?:kg|g|gr|mg|ml|l|lt|litros?)"
_MULTIPACK = re.compile(rf"\b(\d+)\s*x\s*({_NUMBER})\s*({_UNIT})\b", re.IGNORECASE)
_SIZE = re.compile(rf"(?<![\w,.])({_NUMBER})\s*({_UNIT})\b", re.IGNORECASE)
_SABOR = re.compile(r"\bsabor\s+([\wÀ-ú]+(?:\s+(?:de\s+)?[\wÀ-ú]+)?)", re.IGNORECASE)
FLAVOURS = (
    "frutas vermelhas",
    "chocolate branco",
    "chocolate",
    "morango",
    "baunilha",
    "limão",
    "laranja",
    "uva",
    "guaraná",
    "coco",
    "maracujá",
    "abacaxi",
    "menta",
    "pêssego",
    "banana",
    "maçã",
    "cola",
    "manga",
    "caramelo",
    "doce de leite",
    "queijo",
    "presunto",
    "frango",
    "carne",
    "churrasco",
    "cebola",
    "natural",
)

ATTRIBUTES_RESPONSE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {
        "name": "product_attributes",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "brand": {"type": ["string", "null"]},
                "product": {"type": ["string", "null"]},
                "flavour": {"type": ["string", "null"]},
                "size": {"type": ["string", "null"]},
            },
            "required": ["brand", "product", "flavour", "size"],
            "additionalProperties": False,
        },
    },
}
ATTRIBUTES_PROMPT = (
    "Extract from a Brazilian supermarket product name: brand, product (the generic product name "
    "without brand, size or flavour), flavour (sabor/variant, if any) and size (weight or volume as "
    "written, e.g. 400g, 1,5L, 12x200ml). Use null when absent. Do not invent anything."
)


@dataclass
class ProductAttributes:
    brand: str | None
    product: str | None
    flavour: str | None
    size: str | None
    source: str = "parser"  # "openai" | "parser"
    problem: str | None = None  # why the parser was used although a key is set
    cached: bool = False  # OpenAI's earlier answer for the same name and brand, not paid again
    usage: list[Usage] = field(default_factory=list)


class _Attributes(BaseModel):
    brand: str | None
    product: str | None
    flavour: str | None
    size: str | None


def _unit(unit: str) -> str:
    unit = unit.lower()
    if unit in ("l", "lt", "litro", "litros"):
        return "L"
    return "g" if unit == "gr" else unit


def find_size(name: str) -> str | None:
    """`12 x 200 ml` → `12x200ml`; `1,5 L` → `1,5L`; `400 g` → `400g`; the first one wins."""
    if multipack := _MULTIPACK.search(name):
        return f"{multipack.group(1)}x{multipack.group(2)}{_unit(multipack.group(3))}"
    if single := _SIZE.search(name):
        return f"{single.group(1)}{_unit(single.group(2))}"
    return None


def find_flavour(name: str) -> str | None:
    if sabor := _SABOR.search(name):
        return sabor.group(1).strip().lower()
    lowered = name.lower()
    for flavour in FLAVOURS:
        if re.search(rf"\b{re.escape(flavour)}\b", lowered):
            return flavour
    return None


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip(" -,.;/")


def parse_product_attributes(name: str | None, brand: str | None) -> ProductAttributes:
    """The deterministic fallback: size and flavour by pattern, brand from the catalogue."""
    text = _squash(name or "")
    size = find_size(text)
    product = _MULTIPACK.sub(" ", text)
    product = _SIZE.sub(" ", product)
    if brand:
        product = re.sub(rf"\b{re.escape(brand)}\b", " ", product, flags=re.IGNORECASE)
    product = _squash(product)
    return ProductAttributes(
        brand=_squash(brand) if brand and brand.strip() else None,
        product=product or None,
        flavour=find_flavour(_SIZE.sub(" ", _MULTIPACK.sub(" ", text))),
        size=size,
    )


async def extract_product_attributes(
    product: ProductFacts, client: openai.AsyncOpenAI | None = None, model: str | None = None
) -> ProductAttributes:
    """OpenAI when a client is configured, the parser otherwise or when the call fails."""
    fallback = parse_product_attributes(product.name, product.brand)
    if client is None or model is None or not product.name:
        return fallback
    text = f"nome: {product.name}\nmarca: {product.brand or '(sem marca)'}"
    try:
        completion = await client.chat.completions.create(  # type: ignore[call-overload]
            model=model,
            messages=[{"role": "system", "content": ATTRIBUTES_PROMPT}, {"role": "user", "content": text}],
            response_format=ATTRIBUTES_RESPONSE_FORMAT,
            **sampling_options(model),
        )
    except openai.OpenAIError as exc:
        fallback.problem = api_problem(exc)
        return fallback
    fallback.usage.append(usage_of(model, "attributes", completion))
    message = completion.choices[0].message if completion.choices else None
    try:
        if message is None or message.refusal or not message.content:
            raise ValueError("sem conteúdo")
        answer = _Attributes.model_validate_json(message.content)
    except (ValidationError, ValueError):
        fallback.problem = "OpenAI: resposta malformada; atributos extraídos pelo analisador"
        return fallback
    return ProductAttributes(
        brand=_squash(answer.brand or "") or fallback.brand,
        product=_squash(answer.product or "") or fallback.product,
        flavour=_squash(answer.flavour or "") or None,
        size=_squash(answer.size or "") or fallback.size,
        source="openai",
        usage=fallback.usage,
    )


def build_search_queries(product: ProductFacts, attributes: ProductAttributes) -> list[str]:
    """The user's 2–3 queries, empty parts dropped, no duplicates (case-insensitive)."""
    brand = attributes.brand or ""
    name = attributes.product or _squash(product.name or "")
    flavour = attributes.flavour or ""
    if flavour and flavour.lower() in name.lower():
        flavour = ""  # already in the product's name: saying it twice narrows nothing
    size = attributes.size or ""
    candidates = [
        " ".join([f"EAN {product.gtin}" if product.gtin else "", brand, name]),
        " ".join([brand, name, size, "embalagem"]),
        " ".join([name, flavour, size, "foto produto"]),
    ]
    queries: list[str] = []
    seen: set[str] = set()
    for query in (_squash(q) for q in candidates):
        if not query or query.lower() in seen or query.lower() in ("embalagem", "foto produto"):
            continue
        seen.add(query.lower())
        queries.append(query)
    return queries
