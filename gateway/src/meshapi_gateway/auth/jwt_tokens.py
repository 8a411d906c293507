"""Control-plane tokens: Supabase-style HS256 JWTs (and RS256/ES256 through JWKS when configured).

The owner is the signed top-level ``sub``, or the claim named by ``jwt_owner_claim``: a
top-level claim, or a dotted path into ``app_metadata`` (``app_metadata.org_id``), which only
the identity provider's server side can write. ``user_metadata`` is never read: in Supabase
every user edits their own, so trusting it would let anyone name any owner.

A token living longer than ``jwt_max_ttl_seconds`` (from ``iat``, or from now) is refused, and
so is a revoked one (``auth/revocations.py``, checked in memory). Minted tokens carry a ``jti``
so that each can be revoked on its own.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meshapi_gateway.auth.revocations import Revocations

ALLOWED_HS = ["HS256"]
ALLOWED_ASYM = ["RS256", "ES256"]
DEFAULT_MAX_TTL_SECONDS = 90 * 24 * 3600


class TokenError(Exception):
    pass


def _jwt() -> Any:
    # PyJWT pulls in ``cryptography`` (~15 MiB resident); only processes that see a JWT pay for it.
    import jwt

    return jwt


class JWTVerifier:
    def __init__(
        self,
        secret: str,
        audience: str = "authenticated",
        issuer: str = "",
        owner_claim: str = "sub",
        jwks_url: str = "",
        max_ttl_seconds: int = DEFAULT_MAX_TTL_SECONDS,
    ) -> None:
        self._secret = secret
        self.max_ttl_seconds = max_ttl_seconds
        # Set by the start hook once the revocation table has been read.
        self.revocations: Revocations | None = None
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
        if not 0 < ttl_seconds <= self.max_ttl_seconds:
            raise ValueError(
                f"a token's lifetime must be between 1 and {self.max_ttl_seconds} seconds "
                f"(jwt_max_ttl_seconds), not {ttl_seconds}"
            )
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": owner,
            "aud": self._audience,
            "iat": now,
            "exp": now + ttl_seconds,
            "role": "authenticated",
            "jti": uuid.uuid4().hex,
        }
        if self._issuer:
            claims["iss"] = self._issuer
        claims.update(extra or {})
        token: str = _jwt().encode(claims, self._secret, algorithm="HS256")
        return token

    @staticmethod
    def unverified_jti(token: str) -> str | None:
        """The ``jti`` of a token this gateway just minted (for printing; never for authorization)."""
        jti = _jwt().decode(token, options={"verify_signature": False}).get("jti")
        return jti if isinstance(jti, str) else None

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
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms=algorithms, audience=self._audience, issuer=self._issuer, options=options
        )
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
        self._check_lifetime(claims)
        owner = self._owner(claims)
        if self.revocations is not None and self.revocations.is_revoked(claims, owner):
            raise TokenError("token has been revoked")
        return owner

    def _check_lifetime(self, claims: dict[str, Any]) -> None:
        exp = claims["exp"]  # required and checked numeric by the decoder
        iat = claims.get("iat")
        start = iat if isinstance(iat, (int, float)) and not isinstance(iat, bool) else time.time()
        if exp - start > self.max_ttl_seconds:
            raise TokenError(f"token lifetime exceeds the gateway's maximum of {self.max_ttl_seconds} seconds")
