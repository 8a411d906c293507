"""Where a 12-chunk stream's instructions go, function by function: the map of what the gateway adds.

Callgrind counts only C functions (every Python function is ``_PyEval_EvalFrameDefault``), so
this runs the gateway's ASGI application in process against a loopback upstream that answers
every request with the bench's 12-chunk stream (``fixtures.sse_body(12)``), its time-driven work
and its client watches held off (as ``instructions_per_call.py`` holds them), and then either:

* ``--count``: runs itself under ``valgrind --tool=callgrind --instr-atstart=no`` with
  ``--callgrind DIR`` (wait for ``DIR/go``, run the streams, write ``DIR/done``, wait for
  ``DIR/exit``), switches counting on and off around the streams alone (``callgrind_control``)
  and prints the instructions a stream (two runs of one tree agree within ≈ 1 k), or
* by default: profiles the streams with cProfile and prints each function's inclusive share of
  the profile, in instructions when given ``--per-stream`` (the first mode's count a stream):
  an estimate, as cProfile's own cost per call weighs functions of many small calls more.

The driver (request and upstream) is part of both counts, so compare the gateway's rows, not the
total, with the minimal proxy's ≈ 530 k a stream under uvicorn (``instructions_per_call.py``).

Run: python bench/stream_map.py --count [--streams 300]
     python bench/stream_map.py [--streams 1000] [--per-stream K] [--top 60]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import fixtures

BODY = fixtures.sse_body(12).encode()
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: %d\r\n\r\n" % len(BODY)
REQUEST = fixtures.request_body("mock", True).encode()
QUIET = {
    "ledger_flush_seconds": 900,
    "key_cache_refresh_seconds": 900,
    "balance_refresh_seconds": 900,
    "breaker_sync_seconds": 900,
    "request_log": {"flush_seconds": 900},
}


async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A keep-alive HTTP/1.1 server that answers every request with the 12-chunk stream."""
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:  # the gateway closed its pooled connection
            return
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await reader.readexactly(length)
        writer.write(HEAD + BODY)
        await writer.drain()


async def stream(app: Any, key: str) -> int:
    scope = {
        "type": "http",
        "state": {},
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(REQUEST)).encode()),
            (b"authorization", f"Bearer {key}".encode()),
        ],
    }
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": REQUEST, "more_body": False}
        await asyncio.Event().wait()  # the client stays connected
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def wait_for(path: Path) -> None:
    while not path.exists():
        await asyncio.sleep(0.05)


async def main(args: argparse.Namespace) -> int:
    from meshapi_gateway.app import asgi
    from meshapi_gateway.auth.keys import create_key
    from meshapi_gateway.config import load_settings
    from meshapi_gateway.reliability import disconnect
    from meshapi_gateway.store import db

    disconnect.WATCH_AFTER = 1e9  # under callgrind a stream outlives the real delay and starts a watcher
    server = await asyncio.start_server(upstream, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    folder = Path(tempfile.mkdtemp(prefix="meshapi-stream-map-"))
    settings = load_settings(
        overrides={
            "data_dir": str(folder),
            "builtin_catalog": False,
            "local_model": {"enabled": False},
            "local_embeddings": False,
            "jwt_secret": "stream-map-" + "x" * 32,
            "models": [
                {
                    "id": "mock",
                    "provider": "openai_compat",
                    "base_url": f"http://127.0.0.1:{port}/v1",
                    "api_key": "sk-mock",
                    "upstream_model": "mock",
                }
            ],
            **QUIET,
        },
        environ={},
    )
    db.upgrade(settings.resolved_database_url())
    engine = db.make_engine(settings.resolved_database_url())
    async with db.sessionmaker(engine)() as session:
        key = (await create_key(session, "bench", "stream-map")).key
    await engine.dispose()

    app = asgi(settings)
    lifespan: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    started = asyncio.Event()
    await lifespan.put({"type": "lifespan.startup"})

    async def lifespan_send(message: dict[str, Any]) -> None:
        started.set()

    task = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, lifespan.get, lifespan_send)
    )
    await started.wait()
    for _ in range(50):  # warm-up: the model's shapes learned, pools and caches filled
        assert await stream(app, key) == 200
    if args.callgrind:
        control = Path(args.callgrind)
        (control / "ready").write_text(str(os.getpid()))
        await wait_for(control / "go")
        for _ in range(args.streams):
            await stream(app, key)
        (control / "done").write_text("")
        await wait_for(control / "exit")
    else:
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.streams):
            await stream(app, key)
        profile.disable()
        show(pstats.Stats(profile), args)
    await lifespan.put({"type": "lifespan.shutdown"})
    await task
    server.close()
    return 0


def show(stats: pstats.Stats, args: argparse.Namespace) -> None:
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total: float = stats.total_tt  # type: ignore[attr-defined]
    scale = args.per_stream / total if args.per_stream else 100 / total
    unit = "k" if args.per_stream else "%"
    rows = []
    for (path, line, name), (_, calls, own, inclusive, _) in raw.items():
        where = path.replace("\\", "/").split("/meshapi_gateway/")[-1] if "/meshapi_gateway/" in path else path
        rows.append((inclusive, own, calls, f"{where}:{line} {name}"))
    rows.sort(reverse=True)
    print(f"{'inclusive':>10} {'own':>8} {'calls':>6}  function (per stream)")
    for inclusive, own, calls, name in rows[: args.top]:
        print(
            f"{inclusive * scale:9.1f}{unit} {own * scale:7.1f}{unit} {calls / args.streams:6.2f}  {name}",
        )


def count(args: argparse.Namespace) -> int:
    """Instructions a stream, counted by callgrind around the streams alone (this script under valgrind)."""
    control = Path(tempfile.mkdtemp(prefix="meshapi-stream-map-cg-"))
    out = control / "callgrind.out"
    argv = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}",
        sys.executable,
        __file__,
        "--streams",
        str(args.streams),
        "--callgrind",
        str(control),
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for flag in ("ready", "done"):
        while not (control / flag).exists():
            if proc.poll() is not None:
                raise SystemExit(f"the run under valgrind ended early (exit {proc.returncode})")
            time.sleep(0.5)
        pid = (control / "ready").read_text()
        if flag == "ready":
            subprocess.run(["callgrind_control", "-i", "on", pid], check=True, capture_output=True)
            (control / "go").write_text("")
        else:
            subprocess.run(["callgrind_control", "-i", "off", pid], check=True, capture_output=True)
            subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
    (control / "exit").write_text("")
    proc.wait()
    total = 0
    for dump in control.glob("callgrind.out*"):
        for line in dump.read_text(errors="replace").splitlines():
            if line.startswith(("summary:", "totals:")):
                total = max(total, int(line.split()[1]))
    print(f"{total / args.streams / 1000:.1f} k instructions a stream ({args.streams} streams, driver included)")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--per-stream", type=float, default=0.0, help="instructions a stream, in thousands")
    parser.add_argument("--top", type=int, default=60)
    parser.add_argument("--callgrind", help="a folder for the go/done/exit files (see above)")
    parser.add_argument("--count", action="store_true", help="instructions a stream under callgrind")
    parsed = parser.parse_args()
    if parsed.count:
        sys.exit(count(parsed))
    try:
        import uvloop
    except ImportError:  # the plain loop counts differently; the figures are then not comparable
        uvloop = None
    if uvloop is not None:
        uvloop.install()
    sys.exit(asyncio.run(main(parsed)))
