"""The limiter interface the routes call, and the do-nothing limiter for keys without limits."""

from __future__ import annotations

from meshapi_gateway.auth.principal import Principal


class Limiter:
    """``check`` is called once per request before any work; it raises the 429 itself.

    It returns the ``X-RateLimit-*`` headers to put on the response. ``add_tokens``
    feeds the tokens a finished request used into the TPM window.
    """

    async def check(self, principal: Principal) -> dict[str, str]:
        raise NotImplementedError

    async def add_tokens(self, principal: Principal, tokens: int) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


class NoLimits(Limiter):
    async def check(self, principal: Principal) -> dict[str, str]:
        return {}

    async def add_tokens(self, principal: Principal, tokens: int) -> None:
        return None
