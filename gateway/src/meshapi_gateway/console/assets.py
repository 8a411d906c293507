"""The console's files, read once from the package and served with the headers that keep the page safe.

The files are small and fixed for the life of the process, so they are held in memory with their
ETag; every answer carries the Content-Security-Policy that allows only the gateway's own scripts,
styles and API (no inline code, no other origin, no framing).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

# 'self' only: the console is plain ES modules and CSS from /ui/static; it talks to this gateway alone.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)

SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",  # x-content-type-options: nosniff is on every answer already (request_context.py)
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


def load_assets() -> dict[str, Asset]:
    """Every file of ``console/static`` by its name."""
    out: dict[str, Asset] = {}
    folder = resources.files("meshapi_gateway.console") / "static"
    for item in folder.iterdir():
        suffix = "." + item.name.rsplit(".", 1)[-1] if "." in item.name else ""
        if not item.is_file() or suffix not in TYPES:
            continue
        body = item.read_bytes()
        out[item.name] = Asset(body, TYPES[suffix], '"' + hashlib.sha256(body).hexdigest()[:20] + '"')
    return out
