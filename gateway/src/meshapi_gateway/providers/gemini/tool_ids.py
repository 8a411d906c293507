"""Tool-call ids that carry Gemini's thought signatures through OpenAI clients.

Gemini has no call ids of its own worth keeping, but thinking models attach a
``thoughtSignature`` to function calls that must come back with them on the next turn
(Gemini 3 refuses the turn otherwise). OpenAI clients echo tool-call ids verbatim, so the
signature rides inside the id and is taken out again when the conversation returns.
"""

from __future__ import annotations

from meshapi_gateway.ids import ulid

SEPARATOR = "__thought__"


def new_call_id(upstream_id: str | None, signature: str | None) -> str:
    base = f"call_{upstream_id}" if upstream_id else "call_" + ulid().lower()
    return f"{base}{SEPARATOR}{signature}" if signature else base


def split_call_id(call_id: str) -> tuple[str, str | None]:
    base, sep, signature = call_id.partition(SEPARATOR)
    return base, (signature if sep and signature else None)
