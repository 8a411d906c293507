"""Instructions per call of the gateway under callgrind, for a plain key and a governed key in one process.

CPU time on a shared two-core machine moves by more than the few per cent a change to one part of the
path is worth; the count of instructions a call executes does not. One gateway (priced models, so every
call is billed) is started under ``valgrind --tool=callgrind`` with instrumentation off; two keys are
made for it, a plain one and a budgeted, allowlisted one (``targets.GOVERNED_KEY_ARGS``). After a warm-up,
instrumentation is switched on and each key makes ``--calls`` sequential completions, counted apart:

    python3 bench/instructions_governed.py --calls 200 --rounds 6

prints the instructions per call of each key and their ratio (the governance goal: at most 1.05).
Needs ``valgrind`` (``apt-get install valgrind``) and nginx, as ``run.py`` does.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import deps
import fixtures
import targets as targets_mod
import upstream
from cpu_per_call import _calls
from procs import Proc, free_port, wait_port

QUIET = "key_cache_refresh_seconds = 3600\nbalance_refresh_seconds = 3600\nledger_flush_seconds = 3600\n"
QUIET_TABLES = "\n[request_log]\nflush_seconds = 3600\n"


def _control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], capture_output=True, check=True, timeout=120)


def _instructions(out: Path) -> int:
    """The instructions counted in the dumps callgrind wrote so far (``out`` and its numbered parts)."""
    total = 0
    for part in out.parent.glob(out.name + "*"):
        m = re.search(r"^(?:summary|totals):\s*(\d+)", part.read_text(errors="replace"), re.M)
        if m:
            total += int(m.group(1))
        part.unlink()
    return total


def measure(pid: int, out: Path, url: str, body: str, headers: dict[str, str], n: int) -> float:
    _control(pid, "--zero")
    _instructions(out)
    _calls(url, body, headers, n)
    _control(pid, "--dump")
    return _instructions(out) / n


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calls", type=int, default=300, help="sequential calls per key and round")
    p.add_argument("--rounds", type=int, default=2, help="rounds, each key in turn")
    p.add_argument("--python", help="Python to run the gateway with (default: the project venv)")
    args = p.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    python = deps.bench_python(args.python)
    work = deps.RESULTS / ("instr-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    data = work / "data"
    data.mkdir(parents=True)
    up = upstream.start(work)
    ctx = targets_mod.Context(upstream=up, work=work, python=python, cpus=1)
    proc = None
    try:
        config = work / "gateway.toml"
        targets_mod._gateway_config(ctx, config, "", priced=True)
        # Work on timers (cache refreshes, the batched ledger and request-log writes) runs many times per call
        # under callgrind's slowdown, and more or less often with the machine's load: spaced out here, so the
        # counts are of the calls themselves (both keys' calls are billed and logged alike).
        config.write_text(QUIET + config.read_text() + QUIET_TABLES)
        argv = targets_mod._gateway_argv(ctx)
        keys = {
            "plain": targets_mod.create_key(argv, data, config, []),
            "governed": targets_mod.create_key(argv, data, config, list(targets_mod.GOVERNED_KEY_ARGS)),
        }
        port = free_port()
        out = work / "callgrind.out"
        grind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
        serve = ["serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data), "--config", str(config)]
        proc = Proc(
            "gateway",
            [*grind, python, "-m", "meshapi_gateway", *serve, "--workers", "1"],
            ctx.logs,
            env=targets_mod._gateway_env(),
        )
        wait_port(port, proc, timeout=600)
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        body = fixtures.request_body("bench/mock", False)
        heads = {name: targets_mod._headers(key) for name, key in keys.items()}
        for h in heads.values():
            _calls(url, body, h, 50)  # warm-up, uninstrumented
        _control(proc.pid, "--instr=on")
        for h in heads.values():
            _calls(url, body, h, 20)  # the code paths instrumented once before counting
        figures: dict[str, list[float]] = {name: [] for name in heads}
        for _ in range(args.rounds):
            for name, h in heads.items():
                figures[name].append(measure(proc.pid, out, url, body, h, args.calls))
        for name, runs in figures.items():
            print(f"{name:<9} instructions per call: {min(runs):,.0f} ({', '.join(f'{r:,.0f}' for r in runs)})")
        print(f"governed / plain: {min(figures['governed']) / min(figures['plain']):.3f}")
    finally:
        if proc is not None:
            proc.stop(grace=30)
        up.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
