"""CPU per call of one target, from sequential calls: the figure that other jobs on the machine do not move.

Throughput on a shared two-core machine is noisy; the CPU a target spends on one call, read from
``/proc`` over a few thousand sequential calls on one keep-alive connection, is not (its time waiting
for the network is not CPU). Used while working on a path, beside the throughput rows of ``run.py``:

    python3 bench/cpu_per_call.py --targets minimal,meshapi --calls 3000
    python3 bench/cpu_per_call.py --targets meshapi --profile /tmp/flame.svg   # py-spy, if installed

It starts the nginx upstream and each target as ``run.py`` does and prints, per target, the CPU
milliseconds per 12-chunk stream and per plain completion (median of ``--repeat`` measurements).
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Mapping

sys.path.insert(0, str(Path(__file__).resolve().parent))

import deps
import procs
import targets as targets_mod
import upstream


def _calls(url: str, body: str, headers: Mapping[str, str], n: int) -> None:
    """``n`` sequential calls on one keep-alive connection, every answer read to its end."""
    host_port = url.split("//", 1)[1].split("/", 1)[0]
    path = "/" + url.split("//", 1)[1].split("/", 1)[1]
    host, port = host_port.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    payload = body.encode()
    hdrs = dict(headers)
    try:
        for _ in range(n):
            conn.request("POST", path, body=payload, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}: {data[:300]!r}")
    finally:
        conn.close()


def cpu_ms_per_call(pids: list[int], url: str, body: str, headers: Mapping[str, str], n: int) -> float:
    tree = [p for pid in pids for p in procs.tree(pid)]
    before = procs.cpu_seconds(tree)
    _calls(url, body, headers, n)
    return (procs.cpu_seconds(tree) - before) * 1000 / n


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--targets", default="minimal,meshapi")
    p.add_argument("--calls", type=int, default=3000, help="sequential calls per measurement")
    p.add_argument("--repeat", type=int, default=3, help="measurements per figure (the median is printed)")
    p.add_argument("--only", default="stream,chat", help="comma list: stream,chat")
    p.add_argument(
        "--profile",
        help="record the last target's streams (chat calls with --only chat) with py-spy into this SVG/speedscope file",
    )
    p.add_argument("--python", help="Python to run our side with (default: the project venv)")
    args = p.parse_args()
    kinds = [k for k in args.only.split(",") if k]
    python = deps.bench_python(args.python)
    work = deps.RESULTS / ("cpu-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    work.mkdir(parents=True, exist_ok=True)
    up = upstream.start(work)
    ctx = targets_mod.Context(upstream=up, work=work, python=python, cpus=os.cpu_count() or 1)
    wanted = [t for t in args.targets.split(",") if t]
    by_name = {t.name: t for t in targets_mod.all_targets(ctx.cpus)}
    try:
        for name in wanted:
            running = by_name[name].start(ctx)
            try:
                pids = [running.pid, *running.extra_pids]
                _calls(running.stream_url, running.stream_body, running.stream_headers, 200)  # warm-up
                _calls(running.chat_url, running.chat_body, running.chat_headers, 200)
                figures = []
                for kind in kinds:
                    if kind == "stream":
                        url, body, headers = running.stream_url, running.stream_body, running.stream_headers
                    else:
                        url, body, headers = running.chat_url, running.chat_body, running.chat_headers
                    runs = [cpu_ms_per_call(pids, url, body, headers, args.calls) for _ in range(args.repeat)]
                    figures.append(f"{kind} {statistics.median(runs):.4f} ms ({', '.join(f'{r:.4f}' for r in runs)})")
                print(f"{name:<18} CPU per call: " + "; ".join(figures), flush=True)
                if args.profile and name == wanted[-1]:
                    spy = shutil.which("py-spy")
                    if spy is None:
                        print("py-spy is not installed; no profile", file=sys.stderr)
                    else:
                        fmt = (
                            "speedscope"
                            if args.profile.endswith(".json")
                            else "raw"
                            if args.profile.endswith(".txt")
                            else "flamegraph"
                        )
                        rec = subprocess.Popen(
                            [spy, "record", "--gil", "-p", str(running.pid), "-r", "500", "-f", fmt, "-o", args.profile]
                        )
                        time.sleep(1.0)
                        if "stream" in kinds:
                            _calls(running.stream_url, running.stream_body, running.stream_headers, args.calls)
                        else:
                            _calls(running.chat_url, running.chat_body, running.chat_headers, args.calls)
                        rec.send_signal(2)
                        rec.wait(60)
            finally:
                for proc in running.procs:
                    proc.stop()
    finally:
        ctx.close()
        up.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
