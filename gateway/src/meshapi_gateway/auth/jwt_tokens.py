"""Control-plane tokens: Supabase-style HS256 JWTs (and RS256/ES256 through JWKS when configured).

The owner is the signed top-level ``sub``, or the claim named by ``jwt_owner_claim``: a
top-level claim, or a dotted path into ``app_metadata`` (``app_metadata.org_id``), which only
the identity provider's server side can write. ``user_metadata`` is never read: in Supabase
every user edits their own, so trusting it would let anyone name any owner.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

ALLOWED_HS = ["HS256"]
ALLOWED_ASYM = ["RS256", "ES256"]


class TokenError(Exception):
    pass


def _jwt() -> Any:
    # PyJWT pulls in ``cryptography`` (~15 MiB resident); only processes that see a JWT pay for it.
    import jwt

    return jwt


class JWTVerifier:
    def __init__(self, secret: str, audience: str = "authenticated", issuer: str = "", owner_claim: str = "sub",
                 jwks_url: str = "") -> None:
        self._secret = secret
        self._audience = audience
        self._issuer = issuer or None
        self._owner_claim = owner_claim
        self._jwks_url = jwks_url
        self._jwks_client: Any = None

    @property
    def _jwks(self) -> Any:
        if self._jwks_client is None and self._jwks_url:
            self._jwks_client = _jwt().PyJWKClient(self._jwks_url, cache_keys=True, lifespan=600)
        return self._jwks_client

    def mint(self, owner: str, ttl_seconds: int = 3600, extra: dict[str, Any] | None = None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"sub": owner, "aud": self._audience, "iat": now, "exp": now + ttl_seconds,
                                  "role": "authenticated"}
        if self._issuer:
            claims["iss"] = self._issuer
        claims.update(extra or {})
        token: str = _jwt().encode(claims, self._secret, algorithm="HS256")
        return token

    def _owner(self, claims: dict[str, Any]) -> str:
        value: Any = claims
        for part in self._owner_claim.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str) and value:
            return value
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise TokenError("token has no subject")
        return sub

    def _decode(self, token: str) -> dict[str, Any]:
        jwt = _jwt()
        header = jwt.get_unverified_header(token)
        alg = header.get("alg")
        options = {"require": ["exp", "sub"]}
        if alg in ALLOWED_HS:
            key: Any = self._secret
            algorithms = ALLOWED_HS
        elif alg in ALLOWED_ASYM and self._jwks is not None:
            key = self._jwks.get_signing_key_from_jwt(token).key
            algorithms = ALLOWED_ASYM
        else:
            raise TokenError(f"token algorithm {alg!r} is not accepted")
        claims: dict[str, Any] = jwt.decode(token, key, algorithms=algorithms, audience=self._audience,
                                            issuer=self._issuer, options=options)
        return claims

    async def verify(self, token: str) -> str:
        """The owner named by a valid token; ``TokenError`` otherwise."""
        jwt = _jwt()
        try:
            if self._jwks_url and jwt.get_unverified_header(token).get("alg") in ALLOWED_ASYM:
                claims = await asyncio.to_thread(self._decode, token)
            else:
                claims = self._decode(token)
        except jwt.PyJWTError as exc:
            raise TokenError(str(exc)) from exc
        return self._owner(claims)
