"""Instructions a target executes per call, counted by callgrind: the figure a busy machine does not move.

CPU time from ``/proc`` (``cpu_per_call.py``) still moves with other jobs on a shared two-core
machine (caches, frequency, preemption). Instructions do not. The target runs under
``valgrind --tool=callgrind --instr-atstart=no``; after a warm-up, counting is switched on for
``--calls`` sequential calls on one keep-alive connection, then dumped and divided:

    python3 bench/instructions_per_call.py --targets minimal,meshapi --only stream,chat

An exact cache hit is the target ``meshapi-cache-hit`` (every request asks the cache; the
warm-up's first call fills it, and before counting one answer must say ``x-meshapi-cache: hit``):

    python3 bench/instructions_per_call.py --targets meshapi,meshapi-cache-hit --only chat,stream

By default the gateway's time-driven work (the ledger and request-log writers, the key, team and
balance refreshes, the breaker sync) is set to run every 900 s, so that only the request path is
counted: under valgrind's slowdown that work runs far more often per request than at full speed,
and the figure would move with it. ``--with-background`` keeps the defaults. Needs ``valgrind``
(``apt-get install valgrind``); about a minute and a half per figure.
"""

from __future__ import annotations

import argparse
import glob
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import deps
import probe
import targets as targets_mod
import upstream
from cpu_per_call import _calls

QUIET = (
    "ledger_flush_seconds = 900",
    "key_cache_refresh_seconds = 900",
    "balance_refresh_seconds = 900",
    "breaker_sync_seconds = 900",
)


def quiet_toml(text: str) -> str:
    """``text`` (a gateway's TOML config) with its time-driven work held off, as ``QUIET`` says."""
    # meshapi-nolog has a [request_log] table of its own, and TOML takes a table once.
    if "[request_log]\n" in text:
        text = text.replace("[request_log]\n", "[request_log]\nflush_seconds = 900\n", 1)
    else:
        text += "\n[request_log]\nflush_seconds = 900\n"
    return "\n".join(QUIET) + "\n" + text


def _wrapper(path: Path, real: list[str], out_dir: Path, only_serve: bool) -> str:
    """A script that runs ``real`` (with its arguments) under callgrind; for the gateway, only ``serve``."""
    vg = f'exec valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file={out_dir}/cg.%p {" ".join(real)} "$@"'
    body = f'if [ "$1" = "serve" ]; then {vg}; fi\nexec {" ".join(real)} "$@"\n' if only_serve else vg + "\n"
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def _total(out_dir: Path, pid: int) -> int:
    """Instructions in the dump made while counting was on (the largest total among the pid's dumps)."""
    total = 0
    for name in glob.glob(str(out_dir / f"cg.{pid}*")):
        with open(name, errors="replace") as f:
            for line in f:
                if line.startswith(("summary:", "totals:")):
                    total = max(total, int(line.split()[1]))
    return total


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--targets", default="minimal,meshapi")
    p.add_argument("--only", default="stream,chat", help="comma list: stream,chat")
    p.add_argument("--calls", type=int, default=300, help="sequential calls counted")
    p.add_argument("--warmup", type=int, default=150)
    p.add_argument("--with-background", action="store_true", help="keep the gateway's time-driven work as it is")
    p.add_argument("--python", help="Python to run our side with (default: the project venv)")
    args = p.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    python = deps.bench_python(args.python)
    work = deps.RESULTS / ("instr-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    work.mkdir(parents=True, exist_ok=True)
    out_dir = Path(tempfile.mkdtemp(prefix="callgrind-", dir=work))
    gateway_exe = Path(python).parent / "meshapi-gateway"
    gateway_real = [str(gateway_exe)] if gateway_exe.exists() else [python, "-m", "meshapi_gateway"]
    targets_mod._gateway_argv = lambda ctx: [_wrapper(work / "gateway-vg.sh", gateway_real, out_dir, True)]
    listening = targets_mod._listening
    targets_mod._listening = lambda proc, port, timeout: listening(proc, port, max(timeout, 900))
    if not args.with_background:
        config = targets_mod._gateway_config

        def quiet_config(ctx, path, redis_url, priced=False, extra=()):  # type: ignore[no-untyped-def]
            config(ctx, path, redis_url, priced, extra)
            path.write_text(quiet_toml(path.read_text()))

        targets_mod._gateway_config = quiet_config
    up = upstream.start(work)
    try:
        for name in [t for t in args.targets.split(",") if t]:
            for kind in [k for k in args.only.split(",") if k]:
                py = _wrapper(work / "python-vg.sh", [python], out_dir, False) if name == "minimal" else python
                ctx = targets_mod.Context(upstream=up, work=work, python=py, cpus=1)
                target = {t.name: t for t in targets_mod.all_targets(1)}[name]
                running = target.start(ctx)
                try:
                    if kind == "stream":
                        url, body, headers = running.stream_url, running.stream_body, running.stream_headers
                    else:
                        url, body, headers = running.chat_url, running.chat_body, running.chat_headers
                    _calls(url, body, headers, args.warmup)
                    if running.expect is not None:  # the cache-hit target: only hits are counted
                        probe.check_header(url, body, headers, running.expect)
                    pid = str(running.pid)
                    subprocess.run(["callgrind_control", "-i", "on", pid], check=True, capture_output=True)
                    _calls(url, body, headers, args.calls)
                    subprocess.run(["callgrind_control", "-i", "off", pid], check=True, capture_output=True)
                    subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
                    time.sleep(1.0)
                    per_call = _total(out_dir, running.pid) / args.calls
                    print(
                        f"{name:<18} {kind:<6} {per_call:,.0f} instructions per call ({args.calls} calls)", flush=True
                    )
                finally:
                    for proc in running.procs:
                        proc.stop()
                    ctx.close()
    finally:
        up.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
