"""The start hook: launch the child, bind the ``local`` provider to it, list the model."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Awaitable, Callable

from meshapi_gateway.providers.local.catalog_entry import LOCAL_MODEL_ID, UPSTREAM_NAME, local_model_entry

if TYPE_CHECKING:
    from meshapi_gateway.providers.local.supervisor import ModelServer
    from meshapi_gateway.state import GatewayState

log = logging.getLogger("meshapi_gateway.local_model")


async def start_local_models(state: "GatewayState") -> Callable[[], Awaitable[None]] | None:
    """Start serving the local model; None (and a log line saying why) when it cannot be served."""
    cfg = state.settings.local_model
    if not cfg.enabled:
        log.info("local model off: local_model.enabled is false, so %s is not listed", LOCAL_MODEL_ID)
        return None
    # Imported only now: a gateway without the local model keeps its modules (≈ 1.2 MiB) out of memory.
    from meshapi_gateway.providers.local.files import locate
    from meshapi_gateway.providers.local.provider import LocalProvider
    from meshapi_gateway.providers.local.shared import SharedModelClient, handed_over
    from meshapi_gateway.providers.local.supervisor import LaunchSpec, LlamaServerSupervisor

    files = locate(cfg.path)
    if files.gguf is None:
        log.warning("local model off: %s; %s is not listed", files.missing, LOCAL_MODEL_ID)
        return None
    shared = handed_over()
    supervisor: ModelServer
    if shared is not None:  # a worker of `serve --workers N`: the parent runs the node's one child
        client = SharedModelClient(shared["url"], shared["api_key"], state.http)
        await client.start()
        supervisor = client
    else:
        spec = LaunchSpec(
            gguf=files.gguf, model_alias=UPSTREAM_NAME, n_ctx=cfg.n_ctx, threads=cfg.threads, port=cfg.port
        )
        own = LlamaServerSupervisor(spec, state.http, log_path=state.settings.data_dir / "local-model.log")
        await own.start()
        supervisor = own
    state.providers.install(
        "local", LocalProvider(supervisor, cfg.ready_timeout, cfg.n_ctx, cfg.max_concurrent_per_owner)
    )
    state.catalog.add(local_model_entry(supervisor.base_url, cfg.n_ctx))
    state.local_model = supervisor
    log.info("local model %s loading from %s at %s", LOCAL_MODEL_ID, files.gguf, supervisor.url)
    return supervisor.stop
