"""Keeping one ``llama_cpp.server`` child process alive and knowing when it can answer.

The child is started at gateway start-up and loads the model while the gateway already
serves. A background task waits for it to answer ``GET /v1/models`` (ready), then waits
for it to exit; an exit that the gateway did not ask for is logged and the child is started
again after a short, growing pause. Everything is asynchronous: nothing here blocks the
gateway's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import secrets
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from meshapi_gateway.http_client import HTTPClient, TransportError

log = logging.getLogger("meshapi_gateway.local_model")

_PR_SET_PDEATHSIG = 1
# A child that never answers is given this long to load before it is restarted.
LOAD_TIMEOUT_SECONDS = 180.0
_PROBE_INTERVAL_SECONDS = 0.2
_FIRST_BACKOFF_SECONDS = 0.5
_MAX_BACKOFF_SECONDS = 15.0
# A child that stayed up this long is considered healthy again: the back-off starts over.
_STABLE_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class LaunchSpec:
    """How to start the llama.cpp server."""

    gguf: Path
    model_alias: str
    n_ctx: int = 8192
    threads: int = 0
    port: int = 0
    host: str = "127.0.0.1"
    # The gateway renders the conversation and drives tool calling itself (``/v1/completions``);
    # this format only matters to someone calling the child's chat endpoint directly.
    chat_format: str = "chatml"

    def argv(self, port: int) -> list[str]:
        args = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.gguf),
            "--host",
            self.host,
            "--port",
            str(port),
            "--chat_format",
            self.chat_format,
            "--n_ctx",
            str(self.n_ctx),
            "--model_alias",
            self.model_alias,
            "--verbose",
            "false",
        ]
        if self.threads > 0:
            args += ["--n_threads", str(self.threads), "--n_threads_batch", str(self.threads)]
        return args


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


# What the child may inherit from the gateway's environment: enough to run Python and find its
# libraries. Everything else (the admin token, database URLs, vendor keys) stays with the gateway;
# the child's settings library would also read any variable named like one of its options.
_INHERITED_ENV = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TMPDIR",
    "TZ",
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "LD_LIBRARY_PATH",
    "OMP_NUM_THREADS",
    "SYSTEMROOT",
)


def child_environment(api_key: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The child's whole environment: the allow-listed variables, its API key, and queued (not cut) requests."""
    source = os.environ if environ is None else environ
    env = {k: source[k] for k in _INHERITED_ENV if k in source}
    env["API_KEY"] = api_key
    # By default llama-cpp-python's server ends a running stream early when another request
    # arrives; behind a shared gateway that would cut one client's answer for another's request.
    env["INTERRUPT_REQUESTS"] = "false"
    return env


def _die_with_parent() -> None:
    """Runs in the child before exec: if the gateway dies hard, the kernel ends the child too."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ModelServer(Protocol):
    """What the ``local`` provider needs of the child: this process's supervisor, or (a worker of
    ``serve --workers N``) the node's shared child seen from a worker (``shared.py``)."""

    url: str
    generation: int

    @property
    def auth_headers(self) -> dict[str, str]: ...

    @property
    def base_url(self) -> str: ...

    def status(self) -> dict[str, object]: ...

    async def wait_ready(self, timeout: float) -> bool: ...

    async def wait_for_restart(self, seen: int, timeout: float) -> bool: ...

    async def stop(self) -> None: ...


class LlamaServerSupervisor:
    """Starts, watches and restarts the child; ``status()`` is shown by ``/ready``."""

    def __init__(self, spec: LaunchSpec, http: HTTPClient, log_path: Path | None = None) -> None:
        self.spec = spec
        self.port = spec.port or free_port(spec.host)
        self.url = f"http://{spec.host}:{self.port}"
        self._http = http
        self._log_path = log_path
        # Known only to the gateway: local users cannot reach the model around auth, limits and billing.
        self.api_key = secrets.token_urlsafe(32)
        self._proc: asyncio.subprocess.Process | None = None
        self._exited: asyncio.Task[int] | None = None
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        # Counts the times a child became ready: a request that saw a dead child waits for the next one.
        self.generation = 0
        self.restarts = 0

    # -- what others ask ---------------------------------------------------
    @property
    def auth_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.api_key}"}

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    @property
    def is_ready(self) -> bool:
        return self._ready.is_set()

    def status(self) -> dict[str, object]:
        """What ``/ready`` shows beside the node's readiness."""
        if self._ready.is_set():
            state = "ready"
        else:
            state = "loading" if self.generation == 0 else "restarting"
        return {"state": state, "restarts": self.restarts}

    async def wait_ready(self, timeout: float) -> bool:
        if self._ready.is_set():
            return True
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def wait_for_restart(self, seen: int, timeout: float) -> bool:
        """After a call found no server: wait until a child newer than generation ``seen`` is ready.

        Gives up after a short grace when the child that was called is still running (the
        failure had another cause), and after ``timeout`` when no new child became ready.
        """
        now = time.monotonic()
        deadline, grace_end = now + timeout, now + 2.0
        while self.generation <= seen and not self._stopping:
            now = time.monotonic()
            if now >= deadline or (self._ready.is_set() and now >= grace_end):
                return False
            await asyncio.sleep(0.1)  # only on this rare error path, bounded by the deadline
        return self.generation > seen

    # -- life cycle ----------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="local-model-supervisor")

    async def stop(self) -> None:
        self._stopping = True
        self._ready.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._terminate()

    async def _run(self) -> None:
        backoff = _FIRST_BACKOFF_SECONDS
        while not self._stopping:
            started = time.monotonic()
            try:
                await self._spawn()
                if await self._wait_until_answering():
                    self.generation += 1
                    self._ready.set()
                    log.info(
                        "local model ready at %s (pid %s, %.1fs to load)",
                        self.url,
                        self.pid,
                        time.monotonic() - started,
                    )
                    # Shielded: cancelling the supervisor (stop) must not cancel the watch on the child.
                    code = await asyncio.shield(self._exited) if self._exited is not None else None
                    self._ready.clear()
                    if self._stopping:
                        return
                    log.warning(
                        "local model server (pid %s) exited with code %s; restarting",
                        self._proc.pid if self._proc else "?",
                        code,
                    )
                else:
                    log.warning(
                        "local model server did not become ready; restarting it (see %s)",
                        self._log_path or "its output",
                    )
                    await self._terminate()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("local model supervisor failed to start the server; retrying")
            if time.monotonic() - started > _STABLE_SECONDS:
                backoff = _FIRST_BACKOFF_SECONDS
            self.restarts += 1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)

    async def _spawn(self) -> None:
        out: IO[bytes] | int = asyncio.subprocess.DEVNULL
        if self._log_path is not None:
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            out = open(self._log_path, "ab")  # the child keeps its own copy; ours is closed below
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self.spec.argv(self.port),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env=child_environment(self.api_key),
                preexec_fn=_die_with_parent,
            )
            self._exited = asyncio.create_task(self._proc.wait())
        finally:
            if not isinstance(out, int):
                out.close()

    async def _wait_until_answering(self) -> bool:
        deadline = time.monotonic() + LOAD_TIMEOUT_SECONDS
        while time.monotonic() < deadline and not self._stopping:
            exited = self._exited
            if exited is None or exited.done():
                return False
            try:
                async with await self._http.get(self.url + "/v1/models", timeout=2, headers=self.auth_headers) as resp:
                    if resp.status == 200:
                        return True
            except TransportError:
                pass
            # Sleep, but wake at once if the child exits while loading.
            await asyncio.wait({exited}, timeout=_PROBE_INTERVAL_SECONDS)
        return False

    async def _terminate(self) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(proc.wait(), 5)
