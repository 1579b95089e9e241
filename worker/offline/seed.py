"""The demo catalogue: ~30 products with real EANs (some OFF knows, some it does not), bad check
digits and missing codes, so every path of the pipeline shows up in one run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SeedProduct:
    name: str
    brand: str | None
    ean: str | None
    note: str


DEMO_PRODUCTS: list[SeedProduct] = [
    # In the offline Open Food Facts stand-in (real OFF responses).
    SeedProduct(
        "Kit de macarrão tailandês com amendoim 155g", "Thai Kitchen", "737628064502", "UPC-A de 12 dígitos"
    ),
    SeedProduct("Arroz jasmim Imperial Grain 1kg", "Aldi", "22007377", "EAN-8"),
    SeedProduct("Vinho do Porto Special Reserve 750ml", "Calem", "5601077161035", "Portugal"),
    SeedProduct("Bebida de soja ecológica 1L", "Gerblé", "8424259826051", "Espanha, idioma es"),
    SeedProduct(
        "Papai Noel de chocolate ao leite 125g", "Lindt", "4000539770708", "duas imagens de frente (de, fr)"
    ),
    SeedProduct("Molho à bolonhesa 420g", "Pouce", "3596710352418", "OFF sem imagem de frente"),
    SeedProduct("Produto Asda", "Asda", "5054070608074", "OFF sem nome do produto"),
    SeedProduct(
        "Bebida de soja (código com espaços)", "Gerblé", "842 4259 82605 1", "EAN digitado com espaços"
    ),
    # Valid Brazilian EANs the stand-in does not know (OFF answers "product not found").
    SeedProduct("Refrigerante guaraná 2L", "Antarctica", "7894900011517", "OFF não conhece"),
    SeedProduct("Leite condensado 395g", "Moça", "7891000100103", "OFF não conhece"),
    SeedProduct("Biscoito recheado chocolate 140g", "Trakinas", "7622300991913", "OFF não conhece"),
    SeedProduct("Achocolatado em pó 400g", "Nescau", "7891000053508", "OFF não conhece"),
    SeedProduct("Maionese 500g", "Hellmann's", "7891910000197", "OFF não conhece"),
    SeedProduct("Café torrado e moído 500g", "Pilão", "7896004000855", "OFF não conhece"),
    SeedProduct("Sabão em pó 1kg", "Omo", "7891149101009", "OFF não conhece"),
    SeedProduct("Água mineral 1,5L", "Crystal", "7894900530001", "OFF não conhece"),
    SeedProduct("Extrato de tomate 340g", "Elefante", "7896045104482", "OFF não conhece"),
    SeedProduct("Requeijão cremoso 200g", "Catupiry", "7892840222949", "OFF não conhece"),
    SeedProduct("Feijão carioca 1kg", "Camil", "7891991010856", "OFF não conhece"),
    SeedProduct("Azeite extra virgem 500ml", "Gallo", "7896036090244", "OFF não conhece"),
    SeedProduct("Creme de leite 200g", "Nestlé", "7891000244005", "OFF não conhece"),
    SeedProduct("Margarina 500g", "Qualy", "7896102000122", "OFF não conhece"),
    # Bad check digits: never enqueued, shown as invalid EAN.
    SeedProduct("Detergente 500ml", "Ypê", "7896005800013", "dígito verificador errado"),
    SeedProduct("Macarrão espaguete 500g", "Renata", "7891234567890", "dígito verificador errado"),
    SeedProduct("Sardinha em lata 125g", "Gomes da Costa", "12345678", "dígito verificador errado"),
    SeedProduct("Chocolate (EAN com letra)", "Garoto", "78961O0000000", "letra no lugar de número"),
    SeedProduct("Pão de forma 500g", "Pullman", "789100", "curto demais"),
    # No EAN at all.
    SeedProduct("Pão francês (granel)", None, None, "sem EAN"),
    SeedProduct("Queijo minas frescal (balança)", None, "", "EAN vazio"),
    SeedProduct("Banana prata (kg)", None, "   ", "EAN em branco"),
]
