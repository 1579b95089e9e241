"""Search results: Brave's response shape parsed, filters, interleaving and the perceptual hash."""

from __future__ import annotations

from io import BytesIO

from PIL import Image

from bench.search_before import interleave
from worker.offline.image_host import synthesize_product_image
from worker.offline.marks import Mark
from worker.picture_identity import picture_hash, same_picture
from worker.stages.image_search import (
    SearchHit,
    hit_refusal,
    parse_brave_images,
    parse_domains,
)

BRAVE_RESPONSE = {
    "type": "images",
    "query": {"original": "nescau 400g", "spellcheck_off": True},
    "results": [
        {
            "type": "image_result",
            "title": "Nescau 400g",
            "url": "https://www.mercado.com.br/nescau-400g",
            "source": "mercado.com.br",
            "thumbnail": {"src": "https://imgs.search.brave.com/abc"},
            "properties": {"url": "https://cdn.mercado.com.br/nescau.jpg", "width": 1000, "height": 1000},
            "meta_url": {"hostname": "www.mercado.com.br"},
            "confidence": "high",
        },
        {"type": "image_result", "title": "sem imagem", "url": "https://x.com", "properties": {}},
    ],
}


def test_brave_results_become_hits_with_their_page_and_host() -> None:
    [hit] = parse_brave_images("nescau 400g", BRAVE_RESPONSE)
    assert hit.url == "https://cdn.mercado.com.br/nescau.jpg"
    assert hit.page_url == "https://www.mercado.com.br/nescau-400g" and hit.host == "mercado.com.br"
    assert (hit.width, hit.height) == (
        1000,
        1000,
    ) and hit.thumbnail_url == "https://imgs.search.brave.com/abc"


def _hit(url: str, host: str = "loja.com.br", size: int = 800) -> SearchHit:
    return SearchHit(
        url=url, title=None, query="q", page_url=f"https://{host}/p", host=host, width=size, height=size
    )


def test_filters_say_why() -> None:
    blocked = parse_domains("mercadolivre.com.br, .exemplo.net")
    check = {"rejected_urls": {"https://a.com/rejeitada.jpg"}, "blocked": blocked, "min_side": 300}
    assert hit_refusal(_hit("https://a.com/ok.jpg"), **check) is None  # type: ignore[arg-type]
    assert "rejeitada" in str(hit_refusal(_hit("https://a.com/rejeitada.jpg"), **check))  # type: ignore[arg-type]
    assert "bloqueado" in str(
        hit_refusal(_hit("https://http2.mlstatic.com/x.jpg", "produto.mercadolivre.com.br"), **check)
    )  # type: ignore[arg-type]
    assert "bloqueado" in str(hit_refusal(_hit("https://cdn.exemplo.net/x.jpg"), **check))  # type: ignore[arg-type]
    assert "tipo" in str(hit_refusal(_hit("https://a.com/logo.svg"), **check))  # type: ignore[arg-type]
    assert "pequena" in str(hit_refusal(_hit("https://a.com/mini.jpg", size=120), **check))  # type: ignore[arg-type]
    assert "http" in str(hit_refusal(_hit("ftp://a.com/x.jpg"), **check))  # type: ignore[arg-type]


def test_interleave_takes_turns_between_queries() -> None:
    a, b = [_hit("a1"), _hit("a2"), _hit("a3")], [_hit("b1")]
    assert [h.url for h in interleave([a, b])] == ["a1", "b1", "a2", "a3"]


def test_the_same_picture_resized_is_a_duplicate_and_another_product_is_not() -> None:
    original = synthesize_product_image(
        "/marked/7891000053508/9/packshot/800x800", (800, 800), mark=Mark("7891000053508")
    )
    other = synthesize_product_image(
        "/marked/7891000100103/9/packshot/800x800", (800, 800), mark=Mark("7891000100103")
    )
    smaller = BytesIO()
    Image.open(BytesIO(original)).resize((400, 400)).save(smaller, format="JPEG", quality=60)
    assert same_picture(picture_hash(original), picture_hash(smaller.getvalue()))
    assert not same_picture(picture_hash(original), picture_hash(other))
