"""Prices from the maintained ``genai-prices`` data package instead of a hand-kept table."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Any

# Our provider names → the ids genai-prices uses.
_PROVIDER_IDS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google": "google",
    "mistral": "mistral",
    "deepseek": "deepseek",
    "xai": "x-ai",
}


def _base(value: Any) -> Decimal | None:
    if value is None:
        return None
    base = getattr(value, "base", value)  # tiered prices: the first tier
    return Decimal(str(base))


@lru_cache(maxsize=512)
def lookup_per_mtok(vendor: str, model: str) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
    """(input, output, cached input) USD per million tokens, or Nones when unknown."""
    provider_id = _PROVIDER_IDS.get(vendor)
    if provider_id is None:
        return None, None, None
    try:
        from genai_prices import Usage, calc_price

        calc = calc_price(Usage(input_tokens=1, output_tokens=1), model_ref=model, provider_id=provider_id)
    except Exception:  # unknown model or a data-package change: the catalog's own price applies
        return None, None, None
    mp = calc.model_price
    return _base(mp.input_mtok), _base(mp.output_mtok), _base(mp.cache_read_mtok)
