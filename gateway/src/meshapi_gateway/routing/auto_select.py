"""The auto router inside a running gateway: its catalog, breakers, balances and configured preference.

``routing/auto.py`` decides; this module feeds it the live state and turns "nothing
qualifies" into the documented errors. Every entry point that accepts ``model: "auto"``
(chat, Responses, compare, router preview) comes through here, so they all choose alike.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any, Sequence

from meshapi_gateway.catalog import ModelEntry
from meshapi_gateway.errors import GatewayError
from meshapi_gateway.routing.auto import Choice, Preference, choose, is_auto, needs_of

if TYPE_CHECKING:
    from meshapi_gateway.auth.principal import Principal
    from meshapi_gateway.config import AutoRouterSettings
    from meshapi_gateway.state import GatewayState


def preference_of(config: "AutoRouterSettings") -> Preference:
    return Preference(
        prefer=tuple(config.prefer),
        weights=dict(config.weights),
        models=tuple(config.models),
        exclude=tuple(config.exclude),
    )


def select(
    state: "GatewayState",
    principal: "Principal",
    body: dict[str, Any],
    *,
    api: str = "completions",
    exclude: Sequence[str] = (),
) -> Choice:
    """Choose for a chat-shaped ``body`` without calling any model."""
    router = state.router
    now = time.time()

    def healthy(entry: ModelEntry) -> bool:
        slots, _ = router.slots(entry)
        return any(not router.breakers.is_open(slot.key, now) for slot in slots)

    def may_use(entry: ModelEntry) -> bool:
        # A key whose balance is used up may still use free models: auto then picks one of those.
        try:
            state.billing.precheck(principal, entry.id)
        except GatewayError:
            return False
        return True

    return choose(
        state.catalog,
        needs_of(body, api),
        preference_of(state.settings.auto_router),
        exclude=exclude,
        may_use=may_use,
        healthy=healthy,
    )


def no_model(choice: Choice, retry_after: int = 1) -> GatewayError:
    """Nothing qualifies: 503 when only cooling-down models would have, else 400 naming every reason."""
    details = [c.wire(None) for c in choice.candidates]
    if choice.only_unhealthy:
        return GatewayError(
            "provider_not_available",
            "Every model that could serve this request is cooling down after failures.",
            details=details,
            retry_after_seconds=retry_after,
        )
    if not choice.candidates:
        return GatewayError(
            "model_capability_not_supported", "model 'auto': the catalog has no chat model to choose from.", details=[]
        )
    return GatewayError(
        "model_capability_not_supported",
        "model 'auto': no model available to this key can serve this request (see details for why each was left out).",
        details=details,
    )


def cooling_down_for(state: "GatewayState") -> int:
    """Seconds until the first open breaker lets a request through again (at least 1)."""
    until = min(state.router.breakers.open_circuits().values(), default=0.0)
    return max(1, math.ceil(until - time.time()))


def resolve(
    state: "GatewayState", principal: "Principal", body: dict[str, Any], *, api: str = "completions"
) -> dict[str, Any]:
    """``body`` with ``model: "auto"`` replaced by the concrete model chosen; any other body as it is."""
    if not is_auto(body.get("model")):
        return body
    choice = select(state, principal, body, api=api)
    if choice.entry is None:
        raise no_model(choice, cooling_down_for(state))
    return {**body, "model": choice.entry.id}
