"""JSON bodies of the control-plane resources (keys, teams) built from their keyword arguments.

Only the keywords given are sent. Money may be a ``Decimal`` (sent as a decimal string, never a
float) and times a ``datetime`` (sent as RFC 3339). On a change (``update``), ``None`` is sent as
``null``, which is how the gateway removes a limit or term; on a creation it is simply not sent.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any, Dict, FrozenSet, Mapping, Tuple

from ._shared import RequestOptions, call_parts

__all__ = ["control_body"]


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def control_body(arguments: Dict[str, Any], skip: FrozenSet[str], *, clear: bool) -> Tuple[bytes, RequestOptions]:
    """(JSON body, per-call options) from a method's ``locals()``; ``clear``: send ``None`` as ``null``."""
    fields, options = call_parts(arguments, skip)
    body = {name: _plain(value) for name, value in fields.items() if clear or value is not None}
    return json.dumps(body, separators=(",", ":")).encode(), options
