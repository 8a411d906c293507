"""The request log's CPU cost as instruction counts: the gateway under callgrind, log on and off.

On a shared two-core machine CPU per request from ``/proc`` moves by more than the 10 % the
request log may cost (other jobs evict caches and steal cycles), so this counts the
instructions the gateway process executes instead (valgrind's callgrind, all threads). For
each mode a gateway starts under callgrind with instrumentation off; after a warm-up the
count covers an idle window (timers and background refreshes, subtracted per second) and then
a fixed number of chat completions sent by a few client threads, plus the writer's last batch;
timed background refreshes are set to an hour in both modes.
The writer's ``flush_seconds`` is raised to 10 s so that its batches hold tens of rows (a
gateway under callgrind serves a few requests a second; at the bench's load a batch holds
hundreds, so per-batch costs weigh more here than there).

    python3 bench/log_cost.py [--requests 400] [--clients 4]

Prints one JSON line: instructions per request for each mode and their ratio.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import deps
import fixtures
import targets as T
import upstream
from procs import Proc, free_port, wait_port

# Background work that runs on a timer (key and balance refreshes, the batch runner's poll) is
# pushed out of the window: at a few requests a second it would outweigh what is measured.
QUIET = ["key_cache_refresh_seconds = 3600", "balance_refresh_seconds = 3600", "batch_poll_seconds = 3600"]
MODES = {
    "on": ("[request_log]", "flush_seconds = {flush}"),
    "off": ("[request_log]", "enabled = false"),
}


def _totals(prefix: Path) -> dict[str, int]:
    """Each dump's trigger name ("idle", "load", ...) and its instruction total."""
    out: dict[str, int] = {}
    for path in sorted(prefix.parent.glob(prefix.name + ".*")):
        trigger, total = "", 0
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("desc: Trigger:"):
                trigger = line.split(":", 2)[2].strip().removeprefix("dump ").strip()
            elif line.startswith(("summary:", "totals:")):
                total = int(line.split()[1])
        out[trigger] = total
    return out


def measure(ctx: T.Context, mode: str, args: argparse.Namespace) -> dict[str, float]:
    home = ctx.work / mode
    data = home / "data"
    data.mkdir(parents=True)
    config = home / "gateway.toml"
    T._gateway_config(ctx, config, "", False, tuple(line.format(flush=args.flush) for line in MODES[mode]))
    config.write_text("\n".join(QUIET) + "\n" + config.read_text())  # top-level keys go before any table
    env = {**os.environ, **T._gateway_env()}
    base = T._gateway_argv(ctx)
    made = subprocess.run(
        [*base, "keys", "create", "--owner", "bench", "--json", "--data-dir", str(data), "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    key = json.loads(made.stdout)["key"]
    port = free_port()
    prefix = home / "callgrind.out"
    argv = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={prefix}.%p",
        *base,
        "serve",
        *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
        *("--data-dir", str(data), "--config", str(config)),
    ]
    proc = Proc(f"callgrind-{mode}", argv, ctx.logs, env=T._gateway_env())
    try:
        wait_port(port, proc, timeout=900)
        body = fixtures.request_body("bench/mock", False)
        headers = T._headers(key)

        def calls(client: int, n: int) -> list[int]:
            """``n`` sequential calls on a keep-alive connection of this client thread's own."""
            conn, codes = http.client.HTTPConnection("127.0.0.1", port, timeout=300), []
            for _ in range(n):
                conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                codes.append(resp.status)
            conn.close()
            return codes

        def run(total: int) -> list[int]:
            share = [total // args.clients + (c < total % args.clients) for c in range(args.clients)]
            with ThreadPoolExecutor(args.clients) as pool:
                return [code for part in pool.map(calls, range(args.clients), share) for code in part]

        run(args.clients * 10)  # warm-up: lazy imports, caches, the first batches
        time.sleep(args.flush + 2)
        control = ["callgrind_control"]
        subprocess.run([*control, "-i", "on", str(proc.pid)], check=True, capture_output=True)
        t0 = time.monotonic()
        time.sleep(args.idle)
        idle_s = time.monotonic() - t0
        subprocess.run([*control, "-d", "idle", str(proc.pid)], check=True, capture_output=True)
        t0 = time.monotonic()
        codes = run(args.requests)
        time.sleep(args.flush + 2)  # the writer's last batch of the window is counted too
        load_s = time.monotonic() - t0
        subprocess.run([*control, "-d", "load", str(proc.pid)], check=True, capture_output=True)
        time.sleep(2)
    finally:
        proc.stop()
    bad = sum(code != 200 for code in codes)
    if bad:
        raise RuntimeError(f"{mode}: {bad} of {args.requests} requests failed")
    totals = _totals(prefix)
    idle_rate = totals["idle"] / idle_s
    net = totals["load"] - idle_rate * load_s
    return {
        "requests": args.requests,
        "instructions_per_request": net / args.requests,
        "idle_instructions_per_s": idle_rate,
        "window_s": load_s,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--flush", type=float, default=10.0, help="the log writer's flush_seconds under callgrind")
    ap.add_argument("--idle", type=float, default=15.0, help="seconds of the idle window")
    ap.add_argument("--python", default=None)
    args = ap.parse_args()
    if not shutil.which("valgrind"):
        sys.exit("valgrind is not installed")
    python = deps.bench_python(args.python)
    work = deps.RESULTS / ("log-cost-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    work.mkdir(parents=True)
    up = upstream.start(work)
    out: dict[str, object] = {}
    try:
        ctx = T.Context(upstream=up, work=work, python=python, cpus=os.cpu_count() or 1)
        for mode in MODES:
            out[mode] = measure(ctx, mode, args)
            print(f"[log_cost] {mode}: {out[mode]}", file=sys.stderr, flush=True)
    finally:
        up.stop()
    on, off = out["on"], out["off"]
    assert isinstance(on, dict) and isinstance(off, dict)
    out["ratio"] = on["instructions_per_request"] / off["instructions_per_request"]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
