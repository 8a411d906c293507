"""Everything a request needs, built once at start-up and shared by all requests of a process."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from meshapi_gateway.auth.jwt_tokens import JWTVerifier
from meshapi_gateway.auth.key_cache import KeyCache
from meshapi_gateway.billing import Billing
from meshapi_gateway.calls.admission import AdmissionCheck
from meshapi_gateway.calls.record import CallObserver
from meshapi_gateway.catalog import Catalog
from meshapi_gateway.config import Settings
from meshapi_gateway.http_client import HTTPClient
from meshapi_gateway.limits import Limiter
from meshapi_gateway.observability.record import RequestRecord
from meshapi_gateway.providers.base import CallContext
from meshapi_gateway.providers.registry import ProviderRegistry
from meshapi_gateway.routing import Router

if TYPE_CHECKING:
    pass

log = logging.getLogger("meshapi_gateway")


@dataclass
class GatewayState:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker  # type: ignore[type-arg]
    catalog: Catalog
    providers: ProviderRegistry
    router: Router
    key_cache: KeyCache
    jwt: JWTVerifier
    limits: Limiter
    billing: Billing
    http: HTTPClient
    # The call layer's extension points (docs/architecture.md, The call layer): checks that may refuse
    # a call before it is routed, and observers of every finished call.
    admission_checks: list[AdmissionCheck] = field(default_factory=list)
    call_observers: list[CallObserver] = field(default_factory=list)
    # Optional services that feature areas attach at start-up (templates, batches, local model …).
    services: dict[str, Any] = field(default_factory=dict)
    # Called with the record of every finished data-plane request (request log, traces); never blocking.
    request_observers: list[Callable[[RequestRecord], None]] = field(default_factory=list)

    def call_context(self, request_id: str) -> CallContext:
        s = self.settings
        return CallContext(request_id=request_id, session=self.http, connect_timeout=s.upstream_connect_timeout,
                           read_timeout=s.upstream_read_timeout)
