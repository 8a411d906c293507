"""Completion windows: ``24h`` as OpenAI, and short windows where a setting allows them (tests)."""

from __future__ import annotations

import re

from meshapi_gateway.errors import field_error

_SHORT = re.compile(r"^(\d{1,6})([smh])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600}


def window_seconds(window: object, allow_short: bool) -> int:
    if window == "24h":
        return 24 * 3600
    if allow_short and isinstance(window, str):
        match = _SHORT.match(window)
        if match and int(match.group(1)) > 0:
            return int(match.group(1)) * _SECONDS[match.group(2)]
    raise field_error(
        "completion_window",
        "completion_window must be '24h'.",
        type_="literal_error",
        value=window if isinstance(window, str) else None,
    )
