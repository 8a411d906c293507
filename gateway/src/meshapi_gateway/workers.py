"""``serve --workers N``: N serving processes on one port, each with a listening socket of its own.

uvicorn's own ``--workers`` shares one listening socket among its processes, and whichever
process wakes first accepts a burst of connections: with 50 keep-alive clients and two
workers the split measured 38 to 12, so one worker was saturated while the other idled
(see docs/performance.md). Here every worker listens on a socket of its own in one
``SO_REUSEPORT`` group, and the kernel spreads new connections across them by a hash of
each connection.

The parent only supervises: it starts the workers (spawned, so nothing of the parent's
state is shared), starts a new one in the place of one that dies, and on SIGTERM or
SIGINT asks each worker once to stop gracefully and waits for it. Workers run in process
groups of their own, so a terminal's Ctrl-C reaches them only through the parent (a
second signal would make uvicorn skip its graceful stop), and they end with the parent
if it is killed outright.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import time
from typing import Any

from meshapi_gateway.metrics import worker_gone

log = logging.getLogger("meshapi_gateway.workers")

_PR_SET_PDEATHSIG = 1
RESTART_DELAY_SECONDS = 1.0


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def ensure_port_free(host: str, port: int) -> None:
    """Refuse a port something already listens on, even another gateway's ``SO_REUSEPORT`` group.

    Binding with ``SO_REUSEPORT`` would succeed next to another process of the same user
    and silently split the traffic with it; a plain bind fails instead.
    """
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


def listening_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    return sock


def _serve_one(options: dict[str, Any], sock: socket.socket) -> None:
    """A worker process: uvicorn on the socket it was handed."""
    os.setpgid(0, 0)
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    import uvicorn

    from meshapi_gateway.graceful_stop import serve

    serve(uvicorn.Config(**options), sockets=[sock])


def supervise(options: dict[str, Any], host: str, port: int, workers: int, grace_seconds: float) -> int:
    """Run ``workers`` uvicorn servers with ``options`` (``uvicorn.Config`` arguments) until told to stop."""
    try:
        ensure_port_free(host, port)
        sockets = [listening_socket(host, port) for _ in range(workers)]
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", host, port, exc)
        return 1
    context = multiprocessing.get_context("spawn")
    procs: list[Any] = [None] * workers
    stop_signal: list[int] = []

    def start(i: int) -> None:
        if not sockets[i].getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            # A worker that stopped gracefully shut its listener down (graceful_stop): a new one
            # joins the same SO_REUSEPORT group.
            sockets[i].close()
            sockets[i] = listening_socket(host, port)
        proc = context.Process(target=_serve_one, args=(options, sockets[i]), name=f"meshapi-gateway-worker-{i}")
        proc.start()
        procs[i] = proc

    def on_signal(signum: int, _frame: Any) -> None:
        stop_signal.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for i in range(workers):
            start(i)
        log.info("started %d workers on %s:%d", workers, host, port)
        while not stop_signal:
            time.sleep(0.2)
            for i, proc in enumerate(procs):
                if not proc.is_alive() and not stop_signal:
                    log.warning("worker %d exited with code %s; starting another", i, proc.exitcode)
                    worker_gone(proc.pid)
                    time.sleep(RESTART_DELAY_SECONDS)  # a worker that cannot start must not spin
                    start(i)
    finally:
        for proc in procs:
            if proc is not None and proc.is_alive():
                os.kill(proc.pid, signal.SIGTERM)  # uvicorn's graceful stop: finish what is in flight
        deadline = time.monotonic() + grace_seconds + 5
        for proc in procs:
            if proc is not None:
                proc.join(max(0.1, deadline - time.monotonic()))
                if proc.is_alive():
                    proc.kill()
        for sock in sockets:
            sock.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0
