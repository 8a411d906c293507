"""``model: "auto"``: which catalog model serves a request when the caller lets the gateway choose.

A pure function over the catalog entries, what the request needs (read from its body),
who may use what, the breakers' view of health and the operator's preference. It never
calls a model, so ``POST /v1/router/select`` can show the same choice and why each other
model was left out. See docs/routing.md.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Iterable, Mapping, Sequence

import orjson

from meshapi_gateway.catalog import ModelEntry
from meshapi_gateway.money import money

# Model ids that ask for the auto router (OpenRouter spells its own one ``openrouter/auto``).
AUTO_IDS = frozenset({"auto", "meshapi/auto"})

# Answer size assumed for the price comparison when the request sets no ``max_tokens``.
DEFAULT_OUTPUT_TOKENS = 500

# Why a model was left out, in the order the checks run (the first failing one is reported).
EXCLUDED = "excluded"
NOT_ALLOWED = "not_allowed"
NOT_CHAT = "not_chat"
NO_TOOLS = "no_tools"
NO_IMAGES = "no_images"
NO_JSON_OUTPUT = "no_json_output"
NO_REASONING = "no_reasoning"
CONTEXT_TOO_SMALL = "context_too_small"
UNHEALTHY = "unhealthy"

_REASON_TEXT = {
    EXCLUDED: "excluded by the request or the configuration",
    NOT_ALLOWED: "this key may not use it",
    NOT_CHAT: "not a chat model for this API",
    NO_TOOLS: "the request has tools and this model cannot call tools",
    NO_IMAGES: "the request has images and this model reads text only",
    NO_JSON_OUTPUT: "the request asks for JSON output and this model cannot guarantee it",
    NO_REASONING: "the request asks for reasoning and this model does not think",
    CONTEXT_TOO_SMALL: "the prompt and the answer do not fit its context length",
    UNHEALTHY: "every deployment is cooling down after failures",
}


def is_auto(model: object) -> bool:
    return isinstance(model, str) and model in AUTO_IDS


@dataclass(frozen=True, slots=True)
class Needs:
    """What a request requires of the model that serves it."""

    tools: bool = False
    images: bool = False
    json_output: bool = False
    reasoning: bool = False
    prompt_tokens: int = 0
    output_tokens: int = 0  # 0: the request sets no limit
    api: str = "completions"  # or "responses"


@dataclass(frozen=True, slots=True)
class Preference:
    """The operator's preference among qualifying models (``[auto_router]`` in the config)."""

    prefer: tuple[str, ...] = ()  # ordered: the first qualifying one wins
    weights: Mapping[str, float] = field(default_factory=dict)  # a weighted draw among qualifying weighted models
    models: tuple[str, ...] = ()  # the pool; empty means the whole catalog
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Candidate:
    """One model considered, and what became of it."""

    id: str
    estimated_cost: Decimal
    dropped: str | None = None

    def wire(self, chosen: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.id,
            "selected": self.id == chosen,
            "estimated_cost_usd": money(self.estimated_cost, precision=None),
        }
        if self.dropped is not None:
            out["dropped"] = self.dropped
            out["reason"] = _REASON_TEXT[self.dropped]
        return out


@dataclass(frozen=True, slots=True)
class Choice:
    entry: ModelEntry | None
    candidates: list[Candidate]
    why: str

    @property
    def only_unhealthy(self) -> bool:
        """Some model would qualify but is cooling down (a 503 rather than a 400)."""
        return self.entry is None and any(c.dropped == UNHEALTHY for c in self.candidates)


# -- reading the request -------------------------------------------------------------------------------
def _text_chars(content: Any) -> tuple[int, bool]:
    """Characters of text in a message content, and whether it carries an image."""
    if isinstance(content, str):
        return len(content), False
    chars, image = 0, False
    if isinstance(content, list):
        for part in content:
            if not isinstance(part, dict):
                continue
            kind = part.get("type")
            if kind in ("image_url", "input_image", "image"):
                image = True
            text = part.get("text")
            if isinstance(text, str):
                chars += len(text)
    return chars, image


def _json_chars(value: Any) -> int:
    # Tool schemas count against the context too; their JSON length is a fair measure.
    try:
        return len(orjson.dumps(value))
    except TypeError:
        return 0


def needs_of(body: Mapping[str, Any], api: str = "completions") -> Needs:
    """What a chat completions body needs; estimates are deliberately rough (4 characters a token)."""
    chars, images = 0, False
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            continue
        n, image = _text_chars(message.get("content"))
        chars += n + 4
        images = images or image
        if message.get("tool_calls"):
            chars += _json_chars(message["tool_calls"])
    tools = bool(body.get("tools")) or bool(body.get("functions"))
    if tools:
        chars += _json_chars(body.get("tools") or body.get("functions"))
    fmt = body.get("response_format")
    json_output = isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema")
    effort = body.get("reasoning_effort")
    reasoning = (isinstance(effort, str) and effort not in ("none", "minimal")) or bool(body.get("thinking"))
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    output = limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else 0
    return Needs(
        tools=tools,
        images=images,
        json_output=json_output,
        reasoning=reasoning,
        prompt_tokens=(chars + 3) // 4,
        output_tokens=output,
        api=api,
    )


# -- choosing ----------------------------------------------------------------------------------------
def _drop_reason(
    entry: ModelEntry,
    needs: Needs,
    excluded: set[str],
    may_use: Callable[[ModelEntry], bool],
    healthy: Callable[[ModelEntry], bool],
) -> str | None:
    if entry.id in excluded:
        return EXCLUDED
    if not may_use(entry):
        return NOT_ALLOWED
    if entry.model_type != "text" or "text" not in entry.output_modalities:
        return NOT_CHAT
    if needs.api == "responses" and not (entry.supports_responses_api or entry.supports_completions_api):
        return NOT_CHAT
    if needs.api == "completions" and not entry.supports_completions_api:
        return NOT_CHAT
    if needs.tools and not entry.supports_tools:
        return NO_TOOLS
    if needs.images and "image" not in entry.input_modalities:
        return NO_IMAGES
    if needs.json_output and not entry.supports_structured_output:
        return NO_JSON_OUTPUT
    if needs.reasoning and not entry.supports_thinking:
        return NO_REASONING
    if needs.prompt_tokens + needs.output_tokens > entry.context_length:
        return CONTEXT_TOO_SMALL
    if not healthy(entry):
        return UNHEALTHY
    return None


def _estimate(entry: ModelEntry, needs: Needs) -> Decimal:
    output = needs.output_tokens or min(DEFAULT_OUTPUT_TOKENS, entry.max_output_tokens)
    return entry.pricing.cost(needs.prompt_tokens, output)


def choose(
    entries: Iterable[ModelEntry],
    needs: Needs,
    preference: Preference = Preference(),
    *,
    exclude: Sequence[str] = (),
    may_use: Callable[[ModelEntry], bool] = lambda e: True,
    healthy: Callable[[ModelEntry], bool] = lambda e: True,
    rng: random.Random | None = None,
) -> Choice:
    """The model that serves ``needs``, and every model considered with the reason it was not chosen.

    Order: the first qualifying model of ``preference.prefer``; else a draw weighted by
    ``preference.weights`` among qualifying weighted models; else the cheapest qualifying
    model for this request (ties keep catalog order).
    """
    pool = set(preference.models)
    excluded = set(preference.exclude) | set(exclude)
    candidates: list[Candidate] = []
    qualifying: list[tuple[Decimal, int, ModelEntry]] = []
    for index, entry in enumerate(entries):
        if entry.id in AUTO_IDS or (pool and entry.id not in pool) or entry.model_type == "embedding":
            continue
        reason = _drop_reason(entry, needs, excluded, may_use, healthy)
        cost = _estimate(entry, needs)
        candidates.append(Candidate(entry.id, cost, reason))
        if reason is None:
            qualifying.append((cost, index, entry))
    if not qualifying:
        return Choice(None, candidates, "no model qualifies")
    by_id = {entry.id: entry for _, _, entry in qualifying}
    for model_id in preference.prefer:
        if model_id in by_id:
            return Choice(by_id[model_id], candidates, "first qualifying model of the configured preference")
    weighted = [
        (entry, preference.weights[entry.id]) for _, _, entry in qualifying if preference.weights.get(entry.id, 0) > 0
    ]
    if weighted:
        draw = (rng or random).choices([e for e, _ in weighted], weights=[w for _, w in weighted])[0]
        return Choice(draw, candidates, "weighted draw among qualifying models")
    cheapest = min(qualifying, key=lambda item: (item[0], item[1]))[2]
    count = len(qualifying)
    why = "the only qualifying model" if count == 1 else f"cheapest of {count} qualifying models"
    return Choice(cheapest, candidates, why)
