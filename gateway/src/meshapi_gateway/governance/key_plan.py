"""What a key's budgeted call made for the ones after it: its price plan, budget and counters, kept on the key.

Most budgeted calls of a key ask the same model with a body of the same shape, and every
step of the long way (the key's terms, its budget in the current period, the price plan of
the candidates its allowlists let through) gives them the same answer. ``KeyGovernance.decide``
keeps those answers on the key's cache entry (``CachedKey.plan``: a change of terms is a new
entry, so a new plan); a later call checks that they still hold for it (same model, catalog
version and price, before the budget's period ends or the key expires) and works out only
its own worst case (``worst_units``), from rates unpacked here so that it takes one frame.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson

from meshapi_gateway.governance.budgets import Budget, Tally
from meshapi_gateway.governance.price_plan import PricePlan
from meshapi_gateway.governance.worst_case import BESIDES_MODEL, OUTPUT_FIELDS

if TYPE_CHECKING:
    from meshapi_gateway.catalog import ModelEntry


class KeyPlan:
    """A key's kept admission for calls that name ``model`` and no fallbacks (``KeyGovernance.decide``)."""

    __slots__ = (
        "budget",
        "completion_rate",
        "limit",
        "limit_units",
        "model",
        "model_field",
        "multiplier",
        "plan",
        "prompt_rate",
        "sole",
        "tally",
        "until",
        "version",
    )

    def __init__(
        self,
        version: int,
        model: str,
        plan: PricePlan,
        budget: Budget,
        expires_at: int | None,
        multiplier: Decimal,
        tally: Tally,
        sole: ModelEntry | None = None,
    ) -> None:
        self.version = version
        self.model = model
        self.plan = plan
        self.budget = budget
        self.limit_units = budget.limit_units
        # The budget's counters in the check's memory (``MemoryBudgets.tally``), held so that no call looks
        # them up by the budget's slot again: a call admitted here reserves and settles on them.
        self.tally = tally
        # The catalog entry of ``model`` when the plan clears it and it has no context-window fallbacks: the
        # router's usual candidate list, which ``Call.candidate_admit`` then knows by identity (``clear``).
        self.sole = sole
        self.until = budget.until if expires_at is None else min(budget.until, float(expires_at))
        self.multiplier = multiplier  # the call's own (1): a call with another multiplier goes the long way
        plain = model.isascii() and model.isprintable() and '"' not in model and "\\" not in model
        # ``"model":"<id>",`` in the body's compact JSON, for the prompt bound; -1: not an id JSON writes as it is.
        self.model_field = 11 + len(model) if plain else -1
        # The one priced candidate's rates in counter units per token and its output limit (``PricePlan.single``);
        # model_field -1 when there is not one, or the id is not plain: then every call takes the plan's way.
        single = plan.single
        if single is None:
            self.model_field = -1
            single = (0, 0, 0)
        self.prompt_rate, self.completion_rate, self.limit = single

    def worst_units(self, body: dict[str, Any]) -> int:
        """``plan.worst_units(body)`` for a body asking ``model`` without fallbacks; -1 for one with fallbacks.

        In one frame for the usual body, whose only field not sent as text is its ``model``:
        ``prompt_bound``'s first case, without its checks of the id's characters (made once, here),
        then the plan's one priced candidate. Any other body goes to the plan, to the same figure.
        """
        if (
            self.model_field < 0
            or body.get("model") != self.model
            or not BESIDES_MODEL.isdisjoint(body)
            or len(body) < 2
        ):
            return -1 if "models" in body else self.plan.worst_units(body)
        try:
            prompt = len(orjson.dumps(body)) - self.model_field
        except TypeError:
            return self.plan.worst_units(body)
        # The first of OUTPUT_FIELDS that is a positive integer (``PricePlan._most``).
        asked = body.get("max_completion_tokens") or body.get("max_tokens") or body.get("max_output_tokens")
        if asked is not None and (type(asked) is not int or asked <= 0):
            asked = next((v for v in map(body.get, OUTPUT_FIELDS) if type(v) is int and v > 0), 0)
        n = body.get("n")
        if n is not None and type(n) is int and n > 1:
            asked = n * (asked or 0)
        else:
            n = 1
        limit = self.limit
        if limit < 0:  # an embedding: no output tokens
            return prompt * self.prompt_rate
        return prompt * self.prompt_rate + (asked or limit * n) * self.completion_rate
