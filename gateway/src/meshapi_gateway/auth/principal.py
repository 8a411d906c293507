"""The authenticated caller, as every later stage (limits, billing, storage) sees it.

The admin token acts as the owner ``@admin``. Tenant owners may not start with ``@``, so no
key, token or account can ever share the admin's files, batches or idempotency answers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from meshapi_gateway.auth.key_cache import CachedKey

RESERVED_PREFIX = "@"
ADMIN_OWNER = RESERVED_PREFIX + "admin"
# Owner names are stored in columns of this many characters.
MAX_OWNER_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Principal:
    owner: str
    realm: str  # "data" (rsk key), "control" (JWT) or "admin"
    key_id: str | None = None
    rpm: int | None = None
    rpd: int | None = None
    tpm: int | None = None
    # The key's cached row (its governance terms), for data-plane callers.
    key: "CachedKey | None" = field(default=None, compare=False, hash=False)


def owner_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a tenant owner, or ``None`` when it can."""
    if not name.strip():
        return "must not be empty"
    if len(name) > MAX_OWNER_LENGTH:
        return f"must be at most {MAX_OWNER_LENGTH} characters"
    if name.startswith(RESERVED_PREFIX):
        return f"names starting with {RESERVED_PREFIX!r} are reserved for the gateway (the admin is {ADMIN_OWNER!r})"
    return None


def replay_scope(principal: Principal) -> str:
    """Whose idempotency answers a caller may replay: one owner through one kind of credential.

    A JWT and an rsk key of the same owner are authorized for different routes, so an answer
    given to one is never replayed to the other. The realm is a fixed-width prefix, so no owner
    name can imitate another scope; a long name is hashed to fit the stored column.
    """
    scope = f"{principal.realm[0]}:{principal.owner}"
    if len(scope) > MAX_OWNER_LENGTH:
        scope = f"{principal.realm[0]}#{hashlib.sha256(principal.owner.encode()).hexdigest()}"
    return scope
