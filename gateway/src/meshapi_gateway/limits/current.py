"""The ``X-RateLimit-*`` headers of the request being served, for answers the route does not build.

A limiter's ``check`` stores the headers it returns here (a context variable, so each
request task sees only its own); the error handler adds them to errors raised after the
check, so a 402, a 404 model or an upstream error still tells the client its limits.
"""

from __future__ import annotations

from contextvars import ContextVar

_CURRENT: ContextVar[dict[str, str] | None] = ContextVar("meshapi_ratelimit_headers", default=None)


def remember(headers: dict[str, str]) -> dict[str, str]:
    if headers:
        _CURRENT.set(headers)
    return headers


def current() -> dict[str, str]:
    return _CURRENT.get() or {}
