"""Building the ASGI application: settings → state → routes, and the start/stop order.

Start: migrate the schema, load the catalog, warm the key cache, open the shared
upstream connection pool, start feature services. Stop: the reverse, and the billing
writer flushes last so no usage is lost on a graceful shutdown.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from typing import Any, AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from meshapi_gateway.api.common import on_gateway_error, on_http_exception, on_unexpected
from meshapi_gateway.api.routes import routes
from meshapi_gateway.auth.jwt_tokens import JWTVerifier
from meshapi_gateway.auth.key_cache import KeyCache
from meshapi_gateway.billing.choose import build_billing
from meshapi_gateway.catalog import load_catalog
from meshapi_gateway.chat import ChatPipeline
from meshapi_gateway.config import Settings
from meshapi_gateway.errors import GatewayError
from meshapi_gateway.http_client import HTTPClient
from meshapi_gateway.limits.choose import build_limiter
from meshapi_gateway.observability.record import AttachCall
from meshapi_gateway.observability.request_log import capture_limit
from meshapi_gateway.providers.registry import ProviderRegistry
from meshapi_gateway.request_context import RecordObserver, RequestContext
from meshapi_gateway.responses.service import ResponsesService
from meshapi_gateway.routing import Router
from meshapi_gateway.state import GatewayState
from meshapi_gateway.store import db
from meshapi_gateway.store.data_version import DataVersion
from meshapi_gateway.store.sqlite_writer import SQLiteWriter, sqlite_file
from meshapi_gateway.templates.hook import install as install_templates
from meshapi_gateway.websearch.choose import provider_from_settings

log = logging.getLogger("meshapi_gateway")

# A feature area's start-up: ``async def hook(state) -> optional async stop``.
StartHook = Callable[[GatewayState], Awaitable[Callable[[], Awaitable[None]] | None]]


def _feature_hooks() -> list[StartHook]:
    """Start hooks of the built-in feature areas, imported lazily."""
    from meshapi_gateway.auth.revocations import start_token_revocations

    hooks: list[StartHook] = [start_token_revocations]
    from meshapi_gateway.governance.refresh import start_governance

    hooks.append(start_governance)
    from meshapi_gateway.observability.request_log import start_request_log

    hooks.append(start_request_log)
    from meshapi_gateway.observability.tracing import start_tracing

    hooks.append(start_tracing)
    from meshapi_gateway.providers.local import start_local_models

    hooks.append(start_local_models)
    from meshapi_gateway.reliability.lifecycle import start_reliability

    hooks.append(start_reliability)
    from meshapi_gateway.batches.setup import start_files_and_batches

    hooks.append(start_files_and_batches)
    from meshapi_gateway.providers.local_embeddings.catalog_entry import add_local_embedding_model

    hooks.append(add_local_embedding_model)
    from meshapi_gateway.cache.service import start_cache

    hooks.append(start_cache)
    return hooks


def settle_garbage_collector() -> None:
    """Keep the collector's full passes short once everything long-lived exists.

    A full collection walks every tracked object, and after start-up that is the whole
    import graph: measured here it paused the event loop for tens of milliseconds and made
    the p99 latency at c=10 about 70 ms (7 ms with the collector off). Freezing what
    start-up made moves it out of the collector's sight, and a higher first threshold makes
    young collections rarer on a loop that allocates per request.
    """
    gc.collect()
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, second, third)


# Young-generation allocations between collections (CPython's default is 700).
GC_YOUNG_THRESHOLD = 20_000


async def build_state(settings: Settings) -> GatewayState:
    url = settings.resolved_database_url()
    engine = db.make_engine(url)
    sessions = db.sessionmaker(engine)
    catalog = load_catalog(settings.builtin_catalog, settings.catalog_file, settings.models)
    providers = ProviderRegistry()
    path = sqlite_file(url)
    version = DataVersion(path)
    writer = SQLiteWriter(path) if path else None
    state = GatewayState(
        settings=settings,
        engine=engine,
        sessions=sessions,
        catalog=catalog,
        providers=providers,
        router=Router(catalog, providers, settings),
        key_cache=KeyCache(sessions, settings.key_cache_refresh_seconds, version),
        jwt=JWTVerifier(
            settings.resolved_jwt_secret(),
            settings.jwt_audience,
            settings.jwt_issuer,
            settings.jwt_owner_claim,
            settings.jwks_url,
            settings.jwt_max_ttl_seconds,
        ),
        limits=await build_limiter(settings),
        billing=build_billing(settings, sessions, catalog, version, writer),
        http=HTTPClient(),
        data_version=version,
        sqlite_writer=writer,
    )
    state.chat = ChatPipeline(state)
    state.responses = ResponsesService(state)
    state.web_search = provider_from_settings(settings.web_search, state.http)
    install_templates(state)
    return state


def create_app(
    settings: Settings, *, migrate: bool = True, tune_gc: bool = False, observers: list[RecordObserver] | None = None
) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        if migrate:
            db.upgrade(settings.resolved_database_url())
        state = await build_state(settings)
        if observers is not None:
            observers.clear()  # a restarted lifespan (tests) starts with none
            state.request_observers = observers
        state.call_observers.append(AttachCall())  # finished calls join their request's record
        app.state.gw = state
        stops: list[Callable[[], Awaitable[None]]] = []
        try:
            await state.key_cache.start()
            for hook in _feature_hooks():
                stop = await hook(state)
                if stop is not None:
                    stops.append(stop)
            await state.billing.start()
            if tune_gc:
                settle_garbage_collector()
            yield {}
        finally:
            for stop in reversed(stops):
                with contextlib.suppress(Exception):
                    await stop()
            await state.key_cache.stop()
            await state.limits.aclose()
            await state.billing.aclose()
            if state.sqlite_writer is not None:
                await state.sqlite_writer.aclose()  # the state's own share, after every writer's
            await state.providers.aclose()
            await state.http.aclose()
            await state.engine.dispose()
            state.data_version.close()

    from meshapi_gateway.idempotency.asgi import IdempotencyMiddleware

    app = Starlette(
        routes=routes(),
        lifespan=lifespan,
        middleware=[Middleware(IdempotencyMiddleware)],
        exception_handlers={GatewayError: on_gateway_error, HTTPException: on_http_exception, Exception: on_unexpected},
    )
    return app


def asgi(settings: Settings, *, migrate: bool = True, tune_gc: bool = False) -> RequestContext:
    """The application as served: the request-id/envelope layer around Starlette.

    ``migrate=False`` when the schema was brought up to date beforehand (``serve`` does it
    in a child process, once for all workers). ``tune_gc`` is for a process that only serves
    (see ``settle_garbage_collector``); tests that start many gateways in one process leave it off.
    """
    from meshapi_gateway.api.chat import chat_completions
    from meshapi_gateway.api.messages import messages
    from meshapi_gateway.idempotency.asgi import with_idempotency

    # Per-token routes skip Starlette (api/raw.py); Claude Code's agent loop is as busy as chat.
    fast_routes = {
        # Chat reads the Idempotency-Key in its own pass over the headers (idempotency/asgi.run_keyed).
        ("POST", "/v1/chat/completions"): chat_completions,
        ("POST", "/v1/messages"): with_idempotency(messages),
    }
    json_lines = settings.access_log and settings.access_log_format == "json"
    if json_lines:
        from meshapi_gateway.observability.access_log import use_json_lines

        use_json_lines()
    # Shared with the state: features started in the lifespan add the observers of finished requests.
    observers: list[RecordObserver] = []
    return RequestContext(
        create_app(settings, migrate=migrate, tune_gc=tune_gc, observers=observers),
        access_log=settings.access_log,
        fast_routes=fast_routes,
        access_log_json=json_lines,
        observers=observers,
        capture_bytes=capture_limit(settings.request_log),
        tracing=bool(settings.otel_endpoint),
    )
