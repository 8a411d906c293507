"""The README's models example: list, free and paid, with prices read as decimal strings,
once with a data-plane key and once with a control-plane token (models accept either)."""

from __future__ import annotations

from typing import Any

from compat_common import JWT, client, report, step


def listing(token: str = "") -> dict[str, Any]:
    c = client(token)
    all_models = c.models.list()
    free = c.models.free()
    paid = c.models.paid()
    lines = []
    for m in paid[:5]:
        lines.append(
            f"{m.id}: prompt ${m.pricing.prompt_usd_per_1k}/1k, completion ${m.pricing.completion_usd_per_1k}/1k"
        )
    priced = [m for m in all_models if m.pricing is not None]
    return {
        "all": [m.id for m in all_models],
        "free": [m.id for m in free],
        "paid": [m.id for m in paid],
        "free_flags": [m.is_free for m in free],
        "paid_flags": [m.is_free for m in paid],
        "printed": lines,
        "price_types": sorted(
            {type(v).__name__ for m in priced for v in m.pricing.model_dump().values() if v is not None}
        ),
        "free_prices": [(m.pricing.prompt_usd_per_1k, m.pricing.completion_usd_per_1k) for m in free],
        "filtered_free": [m.id for m in c.models.list(free=True)],
    }


step("with_key", listing)
step("with_jwt", lambda: listing(JWT))
report()
