"""What a call will try: its model, the request's ``models`` fallbacks, the catalog's candidates, its deadline.

Every data-plane endpoint plans the same way, so ``model``/``models``, the request's
``timeout`` and the ``x-meshapi-fallback`` header mean one thing everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from meshapi_gateway.observability.record import note_requested_model
from meshapi_gateway.providers.base import GATEWAY_ONLY_FIELDS
from meshapi_gateway.reliability.policy import request_deadline
from meshapi_gateway.request_schemas import fallback_models, model_and_fallbacks

if TYPE_CHECKING:
    from meshapi_gateway.catalog import ModelEntry
    from meshapi_gateway.providers.base import Target
    from meshapi_gateway.routing import Attempted, Router

# Body fields the gateway reads itself; the adapters never send them upstream.
GATEWAY_FIELDS = GATEWAY_ONLY_FIELDS


@dataclass(slots=True)
class Plan:
    """The candidates in the order the router tries them, and the request's deadline (loop time)."""

    requested: str | None  # the model asked for first (the balance precheck lets free models pass)
    entries: list[ModelEntry]
    deadline: float | None


def requested_and_fallbacks(body: dict[str, Any]) -> tuple[Any, list[Any] | None]:
    """``model`` and the ``models`` list; without ``model`` the first of ``models`` is the model."""
    return model_and_fallbacks(body.get("model"), fallback_models(body))


def read(body: dict[str, Any]) -> tuple[str | None, Any, list[Any] | None, float | None]:
    """The plan's inputs in one pass over a chat-shaped body: the model asked for (for the balance
    precheck), the model and fallbacks for ``Router.candidates``, and the deadline (loop time)."""
    model = body.get("model")
    models = body.get("models")
    fallbacks = models if isinstance(models, list) else None
    if not model and fallbacks:
        model, fallbacks = fallbacks[0], fallbacks[1:]
    deadline = request_deadline(body) if "timeout" in body else None
    return (model if isinstance(model, str) and model else None), model, fallbacks, deadline


def plan(router: Router, body: dict[str, Any], model: Any = None) -> Plan:
    """The plan of ``body`` (``model`` overrides the body's, e.g. one filled from a template)."""
    requested, fallbacks = model_and_fallbacks(model or body.get("model"), fallback_models(body))
    note_requested_model(requested)  # before a 404 for an unknown model, so the request log names it
    entries = router.candidates(requested, fallbacks)
    return Plan(requested if isinstance(requested, str) else None, entries, request_deadline(body))


def answer_headers(target: Target, attempted: Attempted) -> dict[str, str]:
    """``x-resolved-model-id``, and ``x-meshapi-fallback`` listing the distinct models tried when another
    model than the first answered (retries of the same model are not a fallback)."""
    headers = {"x-resolved-model-id": target.entry.id}
    if len(attempted.tried) > 1:
        models = attempted.models()
        if len(models) > 1:
            headers["x-meshapi-fallback"] = ",".join(models)
    return headers
