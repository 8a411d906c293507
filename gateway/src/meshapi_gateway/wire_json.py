"""JSON in and out of the wire.

orjson for speed everywhere; SSE payloads are additionally ASCII-escaped because the
0.1.0 SDK decodes every network read on its own (a split multibyte character becomes
U+FFFD) and splits lines on U+2028/U+2029 (docs/wire.md, SSE framing).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

loads = orjson.loads

_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


# orjson's own function, not a wrapper: a relay encodes every chunk of a stream through it.
dumps = orjson.dumps


def dumps_ascii(obj: Any) -> bytes:
    """Compact JSON with every non-ASCII character as a \\uXXXX escape."""
    raw = orjson.dumps(obj)
    if raw.isascii():
        return raw
    return escape_non_ascii(raw)


def escape_non_ascii(raw: bytes) -> bytes:
    """UTF-8 JSON text (or SSE frames of it) with every non-ASCII character as a \\uXXXX escape.

    Outside JSON strings there is nothing but ASCII, so escaping a whole frame is escaping its strings.
    """
    return _NON_ASCII.sub(_escape, raw.decode()).encode()
