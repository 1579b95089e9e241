"""Which stages run with the current settings, and why the others do not.

Logged once at start-up (`stages`) and printed by `imagefill status`, so a person who just set a
key sees at once whether it took effect.
"""

from __future__ import annotations

from dataclasses import dataclass

from worker.settings import Settings


@dataclass(frozen=True)
class StageState:
    stage: str
    active: bool
    detail: str  # for people, pt-BR


def stage_plan(settings: Settings) -> list[StageState]:
    judge = settings.openai_api_key is not None
    threshold = f"{settings.image_confidence_threshold:.2f}"
    if settings.image_search_provider is None:
        search = StageState("image_search", False, "desligada: IMAGE_SEARCH_PROVIDER vazio (use brave)")
    elif settings.image_search_api_key is None:
        search = StageState("image_search", False, "desligada: IMAGE_SEARCH_API_KEY vazia")
    elif not judge:
        search = StageState(
            "image_search", False, "desligada: precisa da OpenAI (OPENAI_API_KEY) para ranquear"
        )
    else:
        search = StageState("image_search", True, f"ativa: {settings.image_search_provider.value}")
    return [
        StageState("openfoodfacts", True, f"ativa: {settings.off_base_url}"),
        StageState(
            "openai_judge",
            judge,
            f"ativa: modelo {settings.openai_model}, aprova a partir de {threshold}"
            if judge
            else "desligada: OPENAI_API_KEY vazia — nada é aprovado automaticamente",
        ),
        search,
        StageState("review", True, "ativa: o que sobrar vai para needs_review (painel /monitoramento)"),
    ]
