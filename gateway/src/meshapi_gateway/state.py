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
from meshapi_gateway.store.data_version import DataVersion
from meshapi_gateway.store.sqlite_writer import SQLiteWriter

if TYPE_CHECKING:
    from meshapi_gateway.batches.runner import BatchRunner
    from meshapi_gateway.batches.service import BatchService
    from meshapi_gateway.cache import ResponseCache
    from meshapi_gateway.chat.pipeline import ChatPipeline
    from meshapi_gateway.files.service import FileService
    from meshapi_gateway.governance.team_cache import TeamCache
    from meshapi_gateway.idempotency.service import IdempotencyService
    from meshapi_gateway.observability.request_log import RequestLogWriter
    from meshapi_gateway.providers.local.supervisor import ModelServer
    from meshapi_gateway.responses.service import ResponsesService
    from meshapi_gateway.templates.cache import TemplateCache
    from meshapi_gateway.websearch.hook import SearchProvider

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
    # Set by ``app.build_state`` once the state exists (they are built from it).
    chat: ChatPipeline = field(init=False)
    responses: ResponsesService = field(init=False)
    # Feature areas attach these at start-up; None where the area is off.
    templates: TemplateCache | None = None
    idempotency: IdempotencyService | None = None
    files: FileService | None = None
    batches: BatchService | None = None
    batch_runner: BatchRunner | None = None
    local_model: ModelServer | None = None
    web_search: SearchProvider | None = None
    request_log: RequestLogWriter | None = None
    team_cache: TeamCache | None = None
    response_cache: ResponseCache | None = None
    # The Redis client the first area that needed one opened, shared by the others (shared_redis.py).
    redis: Any = None
    # The database's change counter the pollers check before re-reading a table (store/data_version.py).
    data_version: DataVersion = field(default_factory=lambda: DataVersion(None))
    # On a SQLite file: the connection the ledger, the request log and the idempotency answers write through,
    # on the event loop (store/sqlite_writer.py); each takes a share of it.
    sqlite_writer: SQLiteWriter | None = None
    # Called with the record of every finished data-plane request (request log, traces); never blocking.
    request_observers: list[Callable[[RequestRecord], None]] = field(default_factory=list)

    def call_context(self, request_id: str) -> CallContext:
        s = self.settings
        # By position, in the dataclass's field order (owner "" until the caller sets it): once a call.
        return CallContext(request_id, self.http, "", s.upstream_connect_timeout, s.upstream_read_timeout)
