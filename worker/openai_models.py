"""Which OpenAI models the Chat Completions API (`v1/chat/completions`, what the judge calls) serves.

Some models exist only on the Responses API (`v1/responses`): asked on Chat Completions, OpenAI
answers 404 "This model is only supported in v1/responses and not in v1/chat/completions." —
on the first product, not at start-up. The list comes from two places:

- the `openai` SDK's own types, generated from OpenAI's OpenAPI spec: `ResponsesModel` is
  `ChatModel` plus the models only the Responses API takes (o1-pro, o3-pro, the deep-research
  models, computer-use-preview, gpt-5-pro, gpt-5-codex, ...). Read at import, so an SDK upgrade
  brings the new names along;
- name patterns for what the SDK's `ChatModel` (shared by both APIs) lists although their model
  pages on developers.openai.com mark Chat Completions "not supported": every `-pro` model
  (gpt-5.2-pro, gpt-5.4-pro, ...), every `codex` model (codex-mini-latest, gpt-5.1-codex, ...),
  `deep-research` and `computer-use` (reports of the 404: openai SDK users on GitHub, e.g.
  sigoden/aichat#1318 for o1-pro/o3-pro, docker/docker-agent#313 for gpt-5-codex,
  egoist/chatwise-releases#1122 for gpt-5-pro, run-llama/llama_index#20992 for gpt-5.4-pro).
"""

from __future__ import annotations

import re
from typing import Any, Literal, get_args, get_origin

from openai.types.shared.chat_model import ChatModel
from openai.types.shared.responses_model import ResponsesModel


def _literal_values(alias: Any) -> set[str]:
    """Every string a (nested) Union/Literal type alias spells out."""
    if get_origin(alias) is Literal:
        return {value for value in get_args(alias) if isinstance(value, str)}
    return {value for arg in get_args(alias) for value in _literal_values(arg)}


RESPONSES_ONLY_IN_SDK = frozenset(_literal_values(ResponsesModel) - _literal_values(ChatModel))
_RESPONSES_ONLY_FAMILY = re.compile(r"(?:^|-)(?:pro|codex|deep-research|computer-use)(?:-|$)")


def responses_only(model: str) -> bool:
    """True for a model OpenAI serves only on `v1/responses` (Chat Completions answers 404)."""
    name = model.strip().lower()
    return name in RESPONSES_ONLY_IN_SDK or _RESPONSES_ONLY_FAMILY.search(name) is not None
