"""The response cache a call asks before it is routed, and tells after a complete answer.

``lookup`` decides the request's policy (``control.py``), computes its key (``key.py``) and
looks for an answer: the exact entry first, then, when the request asks for it, the nearest
earlier prompt of the same owner and model (``semantic.py``). ``save`` keeps an answer that
is worth keeping. The call carries the outcome (``hit``, ``miss``, ``bypass``) to the answer's
``x-meshapi-cache`` header, the request log and the ledger.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from meshapi_gateway.cache import control
from meshapi_gateway.cache.key import KeysByBytes, exact_key
from meshapi_gateway.cache.stores import AnswerStore, MemoryStore, RedisStore
from meshapi_gateway.providers.base import Target

if TYPE_CHECKING:
    from meshapi_gateway.cache.control import CachePolicy
    from meshapi_gateway.cache.semantic import SemanticCache
    from meshapi_gateway.calls import Call
    from meshapi_gateway.catalog import ModelEntry
    from meshapi_gateway.config import CacheSettings
    from meshapi_gateway.state import GatewayState

log = logging.getLogger("meshapi_gateway.cache")

# The request bytes ``KeysByBytes`` may hold: thousands of typical chat bodies.
KEYS_BY_BYTES = 4 * 1024 * 1024

# Finish reasons of an answer that is complete (``length``: complete for the max_tokens asked, which is in the key).
COMPLETE = frozenset({"stop", "length"})


@dataclass(slots=True)
class Lookup:
    """One request's dealings with the cache."""

    policy: CachePolicy
    key: str
    kind: str  # "chat" or "embeddings"
    scope: str  # owner and model: where a semantic neighbour may come from
    text: str | None = None  # what the semantic index embeds (None: the request is not semantic)
    vector: Any = None  # its embedding, once computed
    model: str | None = None  # the model whose answer was found
    answer: dict[str, Any] | None = None  # the answer found
    similarity: float | None = None  # a semantic hit's cosine similarity


class ResponseCache:
    def __init__(self, settings: CacheSettings, store: AnswerStore, semantic: SemanticCache | None = None) -> None:
        self.settings = settings
        self.store = store
        self.semantic = semantic
        self.has_defaults = bool(settings.keys or settings.models)
        # The policy of a request whose ``cache`` is ``true`` with no Cache-Control header, when no key or model
        # has defaults: the same for every such request, so decided once (nothing changes a policy once made).
        self.asked = None if self.has_defaults else control.policy(settings, None, None, True, None)
        self.keys_by_bytes = KeysByBytes(KEYS_BY_BYTES)

    def applies(self, body: dict[str, Any]) -> bool:
        """Whether the cache could apply at all (the request asks, or keys or models have defaults): the hot path's
        one check when nobody uses the cache."""
        return "cache" in body or self.has_defaults

    async def lookup(self, call: Call, body: dict[str, Any], kind: str = "chat") -> Lookup | None:
        """The request's lookup (with the answer when there is one), or None when it is not cached."""
        principal = call.principal
        field = body.get("cache")
        pol = self.asked
        if field is not True or call.cache_control is not None or pol is None:
            pol = control.policy(self.settings, principal.key_id, body.get("model"), field, call.cache_control)
            if pol is None:
                return None
        owner = principal.owner
        raw = call.cache_body
        key = exact_key(owner, body, kind) if raw is None else self.keys_by_bytes.key(owner, raw, body, kind)
        found = Lookup(pol, key, kind, f"{owner}\0{body.get('model')}")
        if pol.semantic and self.semantic is not None:
            found.text = self.semantic.prompt_text(body, kind)
        call.cache_status = "bypass"
        if not pol.lookup:
            return found
        call.cache_status = "miss"
        store = self.store
        # This process's memory is read in place: a coroutine to await costs a hit ≈ 4 k instructions.
        raw = store.get_now(found.key) if type(store) is MemoryStore else await store.get(found.key)
        if raw is None and found.text is not None and self.semantic is not None:
            raw = await self.semantic.nearest(self.store, found, pol.threshold)
        if raw is not None:
            entry = orjson.loads(raw)
            found.model, found.answer = entry.get("model"), entry.get("answer")
            if isinstance(found.answer, dict):
                call.cache_status = "hit"
                call.cache_similarity = found.similarity
            else:
                found.answer = None
        return found

    def storable(self, found: Lookup, completion: dict[str, Any]) -> bool:
        """A complete chat answer (tool calls only when the request said so)."""
        if not found.policy.store:
            return False
        choices = completion.get("choices")
        if not isinstance(choices, list) or not choices:
            return False
        for choice in choices:
            if not isinstance(choice, dict):
                return False
            calls = (choice.get("message") or {}).get("tool_calls")
            reason = choice.get("finish_reason")
            if calls or reason == "tool_calls":
                if not found.policy.tool_calls:
                    return False
            elif reason not in COMPLETE:
                return False
        return True

    async def save(self, found: Lookup, model: str, answer: dict[str, Any]) -> None:
        """Keep ``answer`` (without its cost) under the request's key, and in the semantic index when asked."""
        if not found.policy.store:
            return
        kept = {k: v for k, v in answer.items() if k != "cost"}
        raw = orjson.dumps({"model": model, "answer": kept, "at": time.time()})
        await self.store.set(found.key, raw, found.policy.ttl)
        if found.text is not None and self.semantic is not None:
            try:
                await self.semantic.add(found)
            except Exception:  # the exact entry is kept; only the neighbour search misses it
                log.exception("adding to the semantic cache index failed")

    async def aclose(self) -> None:
        await self.store.aclose()
        if self.semantic is not None:
            self.semantic.close()


# The target a hit is billed as, by model id; built once per catalog entry (a reload makes new entries).
_hit_targets: dict[str, Target] = {}


def hit_target(entries: list[ModelEntry], model: str | None) -> Target:
    """Whom a cached answer is billed as: the model that gave it, when it is still a candidate."""
    entry = entries[0]
    if entry.id != model:  # a loop, not ``next()`` over a generator: most hits are of the first candidate
        for other in entries:
            if other.id == model:
                entry = other
                break
    known = _hit_targets.get(entry.id)
    if known is None or known.entry is not entry:
        # all_deployments() builds pydantic models: too dear for every hit.
        known = _hit_targets[entry.id] = Target(entry, entry.all_deployments()[0], "")
    return known


def build_store(state: GatewayState) -> AnswerStore:
    settings = state.settings
    backend = settings.cache.backend
    if backend == "redis" or (backend == "auto" and settings.redis_url):
        from meshapi_gateway.shared_redis import redis_client

        client, owned = redis_client(state)
        return RedisStore(client, owned)
    return MemoryStore(settings.cache.memory_max_bytes)


async def start_cache(state: GatewayState) -> Any:
    """Start hook: the cache on ``state.response_cache`` when enabled."""
    settings = state.settings.cache
    if not settings.enabled:
        return None
    semantic = None
    from meshapi_gateway.cache.semantic import SemanticCache

    semantic = SemanticCache(state)
    cache = ResponseCache(settings, build_store(state), semantic)
    state.response_cache = cache
    return cache.aclose
