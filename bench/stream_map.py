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

Run: python bench/stream_map.py --count [--streams 300] [--keep]
     python bench/stream_map.py [--streams 1000] [--per-stream K] [--top 60]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import fixtures
from in_process import chat, start_gateway

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


async def wait_for(path: Path) -> None:
    while not path.exists():
        await asyncio.sleep(0.05)


async def main(args: argparse.Namespace) -> int:
    from meshapi_gateway.reliability import disconnect

    disconnect.WATCH_AFTER = 1e9  # under callgrind a stream outlives the real delay and starts a watcher
    gateway = await start_gateway(HEAD + BODY, "stream-map", QUIET)
    app, key = gateway.app, gateway.key
    for _ in range(50):  # warm-up: the model's shapes learned, pools and caches filled
        assert await chat(app, key, REQUEST) == 200
    if args.callgrind:
        control = Path(args.callgrind)
        (control / "ready").write_text(str(os.getpid()))
        await wait_for(control / "go")
        for _ in range(args.streams):
            await chat(app, key, REQUEST)
        (control / "done").write_text("")
        await wait_for(control / "exit")
    else:
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.streams):
            await chat(app, key, REQUEST)
        profile.disable()
        show(pstats.Stats(profile), args)
    await gateway.stop()
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
    if args.keep:
        print(f"callgrind's dump (for callgrind_annotate): {control}")
    else:
        shutil.rmtree(control, ignore_errors=True)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--per-stream", type=float, default=0.0, help="instructions a stream, in thousands")
    parser.add_argument("--top", type=int, default=60)
    parser.add_argument("--callgrind", help="a folder for the go/done/exit files (see above)")
    parser.add_argument("--count", action="store_true", help="instructions a stream under callgrind")
    parser.add_argument("--keep", action="store_true", help="with --count: keep callgrind's dump and say where")
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
