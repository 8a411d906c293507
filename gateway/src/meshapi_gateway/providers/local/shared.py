"""One local model per node: with ``serve --workers N`` the parent runs the llama.cpp child and
every worker uses it.

A model child holds its weights and its context in memory and answers one request at a time,
so one child per worker would multiply the memory and make the workers' requests fight over
the same cores without queueing fairly. Instead the supervising parent starts the usual
``LlamaServerSupervisor`` in a thread of its own (an event loop beside the parent's supervision
loop), and hands the child's address and API key to the workers in their environment. Each
worker talks to the child through ``SharedModelClient``, which offers the provider what the
supervisor offers (readiness, waiting for a restart), learnt by probing the child.

Only the parent can restart the child; a worker that finds it gone waits for the new one
exactly as a single process waits for its own restarted child.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from meshapi_gateway.http_client import HTTPClient, TransportError
from meshapi_gateway.providers.local.supervisor import LaunchSpec, LlamaServerSupervisor

log = logging.getLogger("meshapi_gateway.local_model")

# The environment variable that carries the child's address and key from the parent to its workers
# (a leading underscore after the prefix: never read as a user setting).
SHARED_ENV = "MESHAPI_GATEWAY__LOCAL_MODEL_SHARED"
_PROBE_READY_SECONDS = 1.0
_PROBE_WAITING_SECONDS = 0.2


class SharedModelHost:
    """In the supervising parent: the supervisor and its child, on an event loop in a thread."""

    def __init__(self, spec: LaunchSpec, log_path: Path) -> None:
        self._spec = spec
        self._log_path = log_path
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="local-model-host", daemon=True)
        self.supervisor: LlamaServerSupervisor | None = None
        self._http: HTTPClient | None = None

    def start(self) -> "SharedModelHost":
        self._thread.start()
        # Made on the thread's loop: the supervisor's events and its child belong to that loop (and
        # the child's parent-death signal follows that thread, which lives until stop()).
        self.supervisor = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    async def _start(self) -> LlamaServerSupervisor:
        self._http = HTTPClient()
        supervisor = LlamaServerSupervisor(self._spec, self._http, log_path=self._log_path)
        await supervisor.start()
        return supervisor

    def handoff(self) -> str:
        """What the workers need, as the value of ``SHARED_ENV``."""
        assert self.supervisor is not None
        return json.dumps({"url": self.supervisor.url, "api_key": self.supervisor.api_key})

    def stop(self) -> None:
        if self.supervisor is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self.supervisor.stop(), self._loop).result(timeout=30)
        if self._http is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._http.aclose(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


def host_for(settings: Any) -> SharedModelHost | None:
    """The parent's shared child for these settings, started; None when the local model is not served."""
    from meshapi_gateway.providers.local.catalog_entry import UPSTREAM_NAME
    from meshapi_gateway.providers.local.files import locate

    cfg = settings.local_model
    if not cfg.enabled:
        return None
    files = locate(cfg.path)
    if files.gguf is None:
        return None  # each worker logs why, as a single process does
    spec = LaunchSpec(gguf=files.gguf, model_alias=UPSTREAM_NAME, n_ctx=cfg.n_ctx, threads=cfg.threads, port=cfg.port)
    return SharedModelHost(spec, settings.data_dir / "local-model.log").start()


def handed_over(environ: dict[str, str] | None = None) -> dict[str, str] | None:
    raw = (os.environ if environ is None else environ).get(SHARED_ENV)
    if not raw:
        return None
    data: dict[str, str] = json.loads(raw)
    return data


class SharedModelClient:
    """In a worker: the parent's child seen through probes, with the supervisor's interface."""

    def __init__(self, url: str, api_key: str, http: HTTPClient) -> None:
        self.url = url
        self.api_key = api_key
        self._http = http
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        # Counts the times the child was seen to become ready: a request that found it gone waits for a newer one.
        self.generation = 0
        self.pid: int | None = None  # not this process's child

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.api_key}"}

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    @property
    def is_ready(self) -> bool:
        return self._ready.is_set()

    def status(self) -> dict[str, object]:
        if self._ready.is_set():
            state = "ready"
        else:
            state = "loading" if self.generation == 0 else "restarting"
        return {"state": state, "served_by": "the node's shared model process"}

    async def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name="local-model-watch")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _answers(self) -> bool:
        try:
            async with await self._http.get(self.url + "/v1/models", timeout=2, headers=self.auth_headers) as resp:
                return resp.status == 200
        except TransportError:
            return False

    async def _watch(self) -> None:
        while not self._stopping:
            if await self._answers():
                if not self._ready.is_set():
                    self.generation += 1
                    self._ready.set()
            else:
                self._ready.clear()
            await asyncio.sleep(_PROBE_READY_SECONDS if self._ready.is_set() else _PROBE_WAITING_SECONDS)

    async def wait_ready(self, timeout: float) -> bool:
        if self._ready.is_set():
            return True
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def wait_for_restart(self, seen: int, timeout: float) -> bool:
        """After a call found no server: mark it gone, and wait for the parent's restarted child."""
        self._ready.clear()
        deadline = time.monotonic() + timeout
        while self.generation <= seen and not self._stopping and time.monotonic() < deadline:
            await asyncio.sleep(0.1)  # only on this rare error path, bounded by the deadline
        return self.generation > seen
