"""The router: which catalog entries a request may be served by, tried in order.

Candidates are the requested model, then the request's own ``models`` list (OpenRouter's
ordered fallbacks), then the catalog's fallback chain of each. Within a model the
deployments are tried in weighted order. A retryable failure moves to the next
candidate; anything else is the answer. Streams fall back only while opening, that is
before any byte has reached the client.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable, TypeVar

from meshapi_gateway.catalog import Catalog, ModelEntry
from meshapi_gateway.errors import GatewayError
from meshapi_gateway.providers.base import CallContext, Provider, Target, UpstreamError
from meshapi_gateway.providers.registry import ProviderRegistry


@dataclass(slots=True)
class Attempted:
    """What the router tried for one request (for the fallback header and errors)."""

    tried: list[str] = field(default_factory=list)
    errors: list[UpstreamError] = field(default_factory=list)


T = TypeVar("T")


def model_not_found(model_id: str) -> GatewayError:
    return GatewayError("model_not_found", f"Model '{model_id}' is not supported.")


class Router:
    def __init__(self, catalog: Catalog, providers: ProviderRegistry) -> None:
        self.catalog = catalog
        self.providers = providers

    def resolve(self, model_id: str) -> ModelEntry:
        entry = self.catalog.get(model_id)
        if entry is None:
            raise model_not_found(model_id)
        return entry

    def candidates(self, model_id: str | None, fallbacks: list[str] | None = None) -> list[ModelEntry]:
        """Ordered, de-duplicated entries; unknown fallback ids are skipped, an unknown primary is a 404."""
        order: list[str] = []
        if model_id:
            order.append(model_id)
        order.extend(m for m in (fallbacks or []) if isinstance(m, str))
        if not order:
            raise GatewayError("validation_error", "Request validation failed.",
                               details=[{"type": "missing", "loc": ["body", "model"], "msg": "Field required"}])
        primary = self.catalog.get(order[0])
        if primary is None and model_id:
            raise model_not_found(order[0])
        seen: set[str] = set()
        out: list[ModelEntry] = []
        queue = list(order)
        while queue:
            mid = queue.pop(0)
            if mid in seen:
                continue
            seen.add(mid)
            entry = self.catalog.get(mid)
            if entry is None:
                continue
            out.append(entry)
            queue.extend(entry.fallbacks)
        if not out:
            raise model_not_found(order[0])
        return out

    def targets(self, entry: ModelEntry) -> list[Target]:
        deployments = entry.all_deployments()
        if len(deployments) > 1:
            # Weighted order without replacement: every deployment gets tried, heavier ones first more often.
            keyed = sorted(deployments, key=lambda d: random.random() ** (1.0 / max(d.weight, 1e-6)), reverse=True)
            deployments = keyed
        return [Target(entry, d, d.resolved_api_key()) for d in deployments]

    def _fail(self, attempted: Attempted) -> GatewayError:
        last = attempted.errors[-1] if attempted.errors else None
        if last is None:
            return GatewayError("provider_not_available", "No deployment could serve this request.")
        err = GatewayError(last.code, last.message, status=last.status, provider_error=last.provider_error,
                           retry_after_seconds=int(last.retry_after + 0.999) if last.retry_after is not None else None)
        return err

    async def first_success(self, entries: list[ModelEntry], attempted: Attempted,
                            call: Callable[[Provider, Target], Awaitable[T]]) -> tuple[Target, T]:
        """Run ``call`` on each candidate target until one succeeds or a failure is final."""
        for entry in entries:
            for target in self.targets(entry):
                attempted.tried.append(entry.id)
                try:
                    provider = self.providers.get(target.deployment.provider or entry.provider)
                    return target, await call(provider, target)
                except UpstreamError as exc:
                    attempted.errors.append(exc)
                    if not exc.retryable:
                        raise self._fail(attempted) from exc
        raise self._fail(attempted)

    async def chat(self, entries: list[ModelEntry], body: dict[str, Any], ctx: CallContext,
                   attempted: Attempted) -> tuple[Target, dict[str, Any]]:
        return await self.first_success(entries, attempted, lambda p, t: p.chat(body, t, ctx))

    async def open_chat_stream(self, entries: list[ModelEntry], body: dict[str, Any], ctx: CallContext,
                               attempted: Attempted) -> tuple[Target, AsyncIterator[dict[str, Any]]]:
        return await self.first_success(entries, attempted, lambda p, t: p.open_chat_stream(body, t, ctx))

    async def embeddings(self, entries: list[ModelEntry], body: dict[str, Any], ctx: CallContext,
                         attempted: Attempted) -> tuple[Target, dict[str, Any]]:
        return await self.first_success(entries, attempted, lambda p, t: p.embeddings(body, t, ctx))
