"""The CLI's options for a key's governance terms, checked by the same rules as the control plane."""

from __future__ import annotations

import argparse
from typing import Any

import orjson
from pydantic import ValidationError

from meshapi_gateway.config import ConfigError
from meshapi_gateway.governance.key_terms import KeyTerms, term_columns
from meshapi_gateway.governance.periods import PERIODS

# ``--models none`` (and the like) on ``keys update`` removes a term.
REMOVE = "none"


def add_term_args(p: argparse.ArgumentParser, removable: bool) -> None:
    tail = f" ('{REMOVE}' removes it)" if removable else ""
    p.add_argument("--budget-usd", help="spend budget in USD per period, e.g. 25 or 2.50" + tail)
    p.add_argument("--budget-period", choices=PERIODS, help="when the budget resets (UTC); default total")
    p.add_argument("--models", help="comma-separated model ids and vendor/* patterns the key may use" + tail)
    p.add_argument("--expires-at", help="RFC 3339 time after which the key stops working" + tail)
    p.add_argument("--metadata", help="a JSON object kept with the key" + tail)
    p.add_argument("--team-id", help="the team the key belongs to" + tail)


def terms_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Column values for the terms given on the command line (``ConfigError`` naming a bad one)."""
    given: dict[str, Any] = {}
    for name in ("budget_usd", "budget_period", "models", "expires_at", "metadata", "team_id"):
        value = getattr(args, name, None)
        if value is None:
            continue
        if value == REMOVE:
            given[name] = None
        elif name == "models":
            given[name] = [m.strip() for m in value.split(",") if m.strip()]
        elif name == "metadata":
            try:
                given[name] = orjson.loads(value)
            except orjson.JSONDecodeError:
                raise ConfigError("--metadata must be a JSON object") from None
        else:
            given[name] = value
    try:
        terms = KeyTerms.model_validate(given)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise ConfigError(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}") from None
    return term_columns(terms.model_dump(include=set(given)))
