"""``max_tokens`` as Anthropic means it: a ceiling, not a demand the model must be able to meet.

Anthropic clients ask for far more than most models give (Claude Code sends 32,000), and
Anthropic's newer models stop with ``model_context_window_exceeded`` when the context fills
instead of refusing the request. An OpenAI-shaped upstream refuses a ``max_tokens`` beyond
its output limit or beyond what the context leaves, so the translated request asks for at
most the catalog entry's ``max_output_tokens``, and on the local model (whose prompt the
gateway can count exactly) at most what the context window leaves after the prompt.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from meshapi_gateway.providers.base import UpstreamError

if TYPE_CHECKING:
    from meshapi_gateway.catalog import ModelEntry
    from meshapi_gateway.state import GatewayState

log = logging.getLogger("meshapi_gateway.anthropic_inbound")


async def prompt_tokens(
    state: "GatewayState", entry: "ModelEntry", chat: dict[str, Any], request_id: str
) -> int | None:
    """The prompt's exact token count, where the gateway can count it (the local model)."""
    if entry.provider != "local":
        return None
    counter = getattr(state.providers.get("local"), "count_prompt_tokens", None)
    if counter is None:
        return None
    try:
        count: int = await counter(chat, state.call_context(request_id))
    except UpstreamError:
        return None  # the answer's own admission will say what is wrong
    return count


async def fit_max_tokens(
    state: "GatewayState", entry: "ModelEntry", chat: dict[str, Any], request_id: str
) -> tuple[bool, int | None]:
    """Lower ``chat["max_tokens"]`` to what ``entry`` can give.

    Returns whether the context window set the limit, and the prompt's token count when it was
    counted (a stream's ``message_start`` can then tell it at once).
    """
    asked = int(chat["max_tokens"])
    ceiling = min(asked, entry.max_output_tokens)
    prompt = await prompt_tokens(state, entry, chat, request_id)
    room = entry.context_length - prompt if prompt is not None else None
    by_window = room is not None and 0 < room < ceiling
    if by_window:
        assert room is not None
        ceiling = room
    if ceiling < asked:
        chat["max_tokens"] = max(1, ceiling)
    return by_window, prompt
