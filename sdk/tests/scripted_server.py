"""A tiny threaded HTTP/1.1 server that answers with scripted bytes.

Tests use it instead of mocks wherever a real socket matters: streaming
responses arrive in separate TCP reads, connections can be dropped in the
middle of a chunked body, and the SDK's connection pool is exercised for
real. Each route holds a queue of replies; the last one repeats.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple, Union

Step = Union[bytes, float, None]  # bytes: write, float: sleep, None: drop the connection


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    headers: Dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    steps: List[Step]
    keep_alive: bool = True


Handler = Callable[[Recorded], Reply]


def _head(status: int, headers: Dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def raw_reply(status: int, body: bytes, content_type: str = "application/json", **headers: str) -> Reply:
    hdrs = {"Content-Type": content_type, "Content-Length": str(len(body))}
    hdrs.update({k.replace("_", "-"): v for k, v in headers.items()})
    return Reply([_head(status, hdrs) + body])


def json_reply(status: int, obj: Any, **headers: str) -> Reply:
    return raw_reply(status, json.dumps(obj).encode(), **headers)


def empty_reply(status: int = 204, **headers: str) -> Reply:
    hdrs = {"Content-Length": "0"}
    hdrs.update({k.replace("_", "-"): v for k, v in headers.items()})
    return Reply([_head(status, hdrs)])


def sse_reply(
    parts: List[bytes],
    *,
    end: bool = True,
    drop: bool = False,
    gap: float = 0.0,
    status: int = 200,
    **headers: str,
) -> Reply:
    """Each part is one HTTP chunk (and, with ``gap``, one TCP write after a pause)."""
    hdrs = {"Content-Type": "text/event-stream", "Transfer-Encoding": "chunked", "Cache-Control": "no-cache"}
    hdrs.update({k.replace("_", "-"): v for k, v in headers.items()})
    steps: List[Step] = [_head(status, hdrs)]
    for part in parts:
        if gap:
            steps.append(gap)
        steps.append(b"%x\r\n%s\r\n" % (len(part), part))
    if drop:
        steps.append(None)
    elif end:
        steps.append(b"0\r\n\r\n")
    return Reply(steps)


def sse_frames(*objs: Any, done: bool = True) -> List[bytes]:
    parts = [b"data: " + json.dumps(o).encode() + b"\n\n" for o in objs]
    if done:
        parts.append(b"data: [DONE]\n\n")
    return parts


def hang_reply(seconds: float, then: Optional[Reply] = None) -> Reply:
    steps: List[Step] = [seconds]
    steps.extend(then.steps if then else [None])
    return Reply(steps)


class ScriptedServer:
    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: List[Recorded] = []
        self._routes: Dict[Tuple[str, str], Deque[Union[Reply, Handler]]] = {}
        self._lock = threading.Lock()
        self._closed = False
        # Called for requests without a scripted route (a tiny fake gateway).
        self.fallback: Optional[Handler] = None
        self.connections = 0
        self.open_connections = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    # -- scripting ---------------------------------------------------------------------
    def on(self, method: str, path: str, *replies: Union[Reply, Handler]) -> None:
        with self._lock:
            self._routes[(method, path)] = deque(replies)

    def reset(self) -> None:
        with self._lock:
            self._routes.clear()
            self.requests.clear()
            self.fallback = None

    def close(self) -> None:
        self._closed = True
        try:
            self._sock.close()
        except OSError:
            pass

    # -- serving -----------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.connections += 1
                self.open_connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _pick(self, req: Recorded) -> Reply:
        with self._lock:
            queue = self._routes.get((req.method, req.path))
            if not queue:
                if self.fallback is not None:
                    return self.fallback(req)
                return json_reply(404, {"error": {"code": "not_found", "message": f"no script for {req.path}"}})
            item = queue.popleft() if len(queue) > 1 else queue[0]
        return item(req) if callable(item) else item

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    k, _, v = line.partition(":")
                    headers[k.strip().lower()] = v.strip()
                length = int(headers.get("content-length", "0"))
                while len(buf) < length:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                body, buf = buf[:length], buf[length:]
                path, _, query = target.partition("?")
                req = Recorded(method, path, query, headers, body)
                with self._lock:
                    self.requests.append(req)
                reply = self._pick(req)
                for step in reply.steps:
                    if step is None:
                        conn.shutdown(socket.SHUT_RDWR)
                        return
                    if isinstance(step, float):
                        time.sleep(step)
                    else:
                        conn.sendall(step)
                if not reply.keep_alive:
                    return
        except OSError:
            return
        finally:
            with self._lock:
                self.open_connections -= 1
            conn.close()


@dataclass
class FakeClock:
    """Replaces the transport's sleep: records delays instead of waiting."""

    sleeps: List[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    async def async_sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
