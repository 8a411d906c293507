"""The most a call can cost, reserved against budgets before it is sent.

Prompt tokens are bounded by the request's size in bytes: every token a tokenizer makes
covers at least one byte of text, and the JSON around the text only adds bytes. (An image
part is the exception: its tokens are priced by the provider, not by its URL's length.)
Output tokens are what the request allows (``max_tokens``, ``max_completion_tokens`` or
``max_output_tokens``, times ``n`` choices), else the model's output limit. The price is the
most expensive candidate the call may fall back to: ``reachable`` gives them all.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import orjson

if TYPE_CHECKING:
    from meshapi_gateway.catalog import Catalog, ModelEntry

OUTPUT_FIELDS = ("max_completion_tokens", "max_tokens", "max_output_tokens")
# Fields that are not sent to the model as text (the model ids, the gateway's own options).
NOT_PROMPT = ("model", "models", "stream", "stream_options", "metadata", "user", "timeout")
_NOT_PROMPT = frozenset(NOT_PROMPT)
# The fields left out besides the model: a body with none of them loses only its model id.
BESIDES_MODEL = _NOT_PROMPT - {"model"}


def prompt_bound(body: dict[str, Any]) -> int:
    """An upper bound of the prompt tokens of ``body`` (its text bytes).

    The length of ``body`` as compact JSON without the ``NOT_PROMPT`` fields, worked out from the
    whole body's: each field left out takes ``"name":value`` and one comma with it (the ``{}`` stay).
    """
    try:
        size = len(orjson.dumps(body))
        if BESIDES_MODEL.isdisjoint(body):  # the common body: its model id is all there is to leave out
            model = body.get("model")
            if type(model) is str and len(body) > 1 and model.isascii() and model.isprintable():
                if '"' not in model and "\\" not in model:
                    return size - 11 - len(model)  # "model":"<id>", as JSON writes a plain ASCII id
        out = 0
        for name in body:
            if name in _NOT_PROMPT:
                out += 1
                value = body[name]
                printable = type(value) is str and value.isascii() and value.isprintable()
                if printable and '"' not in value and "\\" not in value:
                    size -= len(name) + 6 + len(value)  # a string JSON writes as it is, in its quotes
                else:
                    size -= len(name) + 4 + len(orjson.dumps(value))
        return size + 1 if out and out == len(body) else size  # no field left: no comma to take away
    except TypeError:
        pass
    try:
        return len(orjson.dumps({k: v for k, v in body.items() if k not in NOT_PROMPT}))
    except TypeError:  # a body that did not come from JSON: be generous
        return len(str(body).encode())


def output_bound(body: dict[str, Any], entry: ModelEntry) -> int:
    if entry.model_type == "embedding":
        return 0
    per_choice = entry.max_output_tokens
    for name in OUTPUT_FIELDS:
        asked = body.get(name)
        if type(asked) is int and asked > 0:
            per_choice = asked
            break
    n = body.get("n")
    return per_choice * (n if isinstance(n, int) and not isinstance(n, bool) and n > 1 else 1)


def worst_case(body: dict[str, Any], entries: Iterable[ModelEntry], multiplier: Decimal = Decimal(1)) -> Decimal:
    """The highest cost among ``entries`` for ``body``; 0 when every candidate is free."""
    prompt = prompt_bound(body)
    worst = Decimal(0)
    for entry in entries:
        if entry.is_free:
            continue
        worst = max(worst, entry.pricing.cost(prompt, output_bound(body, entry), 0, multiplier))
    return worst


def reachable(entries: Sequence[ModelEntry], catalog: Catalog) -> list[ModelEntry]:
    """``entries`` and every model the router may put after them for a prompt too long for one.

    A model's context-window fallbacks are tried when it reports a context too short, and theirs in
    turn when they do (``AttemptLoop.splice_context_fallbacks``), so each level may be billed. A chain
    may name a model again: each is taken once.
    """
    out = list(entries)
    seen = {e.id for e in out}
    for entry in out:  # grows as it goes: the fallbacks' own fallbacks are visited too
        for model_id in entry.context_window_fallbacks:
            if model_id not in seen:
                seen.add(model_id)
                found = catalog.get(model_id)
                if found is not None:
                    out.append(found)
    return out
