"""Where a target's CPU per request goes beyond the request's own instructions: threads, kernel, switches.

Callgrind counts the instructions of one request; under load a process also spends CPU in the
kernel (system calls, wake-ups), in other threads (database writers, pollers) and in hand-offs
between them. This script puts one target at a time under a steady wrk load and reads, per
request over the same window:

* user and system CPU of every thread (``/proc/<pid>/task/*/stat``) and the time each spent
  runnable but waiting for a core (``schedstat``);
* voluntary and involuntary context switches per thread (``/proc/<pid>/task/*/status``);
* ``perf stat`` software events of the process tree (task-clock, context switches, migrations,
  page faults), if ``perf`` runs here (hardware counters are often absent in a VM);
* system calls by name, from ``strace -c -f`` over a separate, shorter window (strace slows the
  process down: compare counts per request, not times).

    python3 bench/cpu_breakdown.py --targets minimal,meshapi --connections 10 --seconds 10 --rounds 3

With ``--gc`` the gateway's one-worker targets also time their garbage collector over the window
(``bench/gcwatch/sitecustomize.py``): passes per generation, their pauses in a histogram, and the
pause time per request. A pass stops the event loop whichever thread runs it.

``--stream`` loads the streamed chat path instead of the plain one (a "request" is then a whole
stream), as ``make bench``'s stream rows do.

Threads are named by ``comm``; the Python threads of one process all read ``python`` unless they
name themselves, so they are listed by thread id with the busiest first (the main thread, where
the event loop runs, has the process's id). With ``--rounds`` the summary's medians include the
loop's thread on its own (on a core, and waiting for one) and the busiest of the process's other
threads (the request log's writer, when the log is on): the loop's share of a request moved by
tens of microseconds between rounds on a busy machine, more than most changes it is run for.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import deps
import loadgen
import procs
import targets as targets_mod
import upstream


@dataclass
class ThreadSample:
    name: str
    utime: int  # clock ticks
    stime: int
    run_ns: int  # schedstat: on a core
    wait_ns: int  # schedstat: runnable, waiting for a core
    voluntary: int
    involuntary: int


def _threads(pids: list[int]) -> dict[tuple[int, int], ThreadSample]:
    out: dict[tuple[int, int], ThreadSample] = {}
    for pid in pids:
        try:
            tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            continue
        for tid in tids:
            base = f"/proc/{pid}/task/{tid}"
            try:
                stat = Path(base, "stat").read_bytes()
                status = Path(base, "status").read_text()
                sched = Path(base, "schedstat").read_text().split()
            except OSError:
                continue
            name = stat[stat.find(b"(") + 1 : stat.rfind(b")")].decode(errors="replace")
            rest = stat[stat.rfind(b")") + 2 :].split()
            vol = int(re.search(r"^voluntary_ctxt_switches:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]
            invol = int(re.search(r"^nonvoluntary_ctxt_switches:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]
            out[(pid, tid)] = ThreadSample(name, int(rest[11]), int(rest[12]), int(sched[0]), int(sched[1]), vol, invol)
    return out


def _perf(pids: list[int], seconds: float) -> subprocess.Popen[str] | None:
    perf = shutil.which("perf")
    if perf is None:
        return None
    events = "task-clock,context-switches,cpu-migrations,page-faults,instructions"
    return subprocess.Popen(
        [perf, "stat", "-x", ",", "-e", events, "-p", ",".join(map(str, pids)), "--", "sleep", f"{seconds:g}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _perf_lines(proc: subprocess.Popen[str] | None, requests: int) -> list[str]:
    if proc is None:
        return ["perf: not installed"]
    _, err = proc.communicate(timeout=60)
    lines = []
    for row in err.splitlines():
        cols = row.split(",")
        if len(cols) < 3 or not cols[2]:
            continue
        value, event = cols[0], cols[2]
        if value.startswith("<"):
            lines.append(f"perf {event}: {value}")
            continue
        per = float(value) / requests if requests else 0.0
        unit = " ms" if event == "task-clock" else ""
        lines.append(f"perf {event}: {per:.4f}{unit} per request")
    return lines


def _strace(pid: int, url: str, script: Path, connections: int, seconds: float) -> list[str]:
    exe = shutil.which("strace")
    if exe is None:
        return ["strace: not installed"]
    out = Path(script).with_suffix(".strace")
    tracer = subprocess.Popen([exe, "-c", "-f", "-o", str(out), "-p", str(pid)], stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    res = loadgen.run(url, script, connections, seconds)
    tracer.send_signal(signal.SIGINT)
    tracer.wait(30)
    rows = []
    for line in out.read_text().splitlines():
        cols = line.split()
        if len(cols) >= 5 and cols[0][0].isdigit() and cols[-1] != "total":
            calls = int(cols[3])
            rows.append((calls, cols[-1], int(cols[4]) if len(cols) == 6 and cols[4].isdigit() else 0))
    rows.sort(reverse=True)
    total = sum(c for c, _, _ in rows)
    lines = [f"strace window: {res.requests} requests at {res.rps:,.0f} req/s (slowed by strace)"]
    lines.append(f"  syscalls per request: {total / max(1, res.requests):.2f}")
    for calls, name, errors in rows[:14]:
        err = f" ({errors / max(1, res.requests):.2f} failed)" if errors else ""
        lines.append(f"    {name:<22} {calls / max(1, res.requests):6.2f}{err}")
    return lines


GC_WATCH = Path(__file__).resolve().parent / "gcwatch"
GC_BUCKETS_MS = (0.5, 1, 2, 4, 8, 16)


def _watch_gc(work: Path) -> None:
    """Gateway targets start with the collector timed (see ``bench/gcwatch``), reporting to files in ``work``."""
    env = targets_mod._gateway_env

    def timed_env() -> dict[str, str]:
        out = env()
        out["PYTHONPATH"] = os.pathsep.join([str(GC_WATCH), out["PYTHONPATH"]])
        out["MESHAPI_BENCH_GC_OUT"] = str(work / "gc")
        return out

    targets_mod._gateway_env = timed_env


def _gc_passes(pid: int, work: Path, timeout: float = 3.0) -> list[list[float]] | None:
    """The collector passes the target made since the last call (None: the target does not report them)."""
    out = work / f"gc.{pid}"
    out.unlink(missing_ok=True)
    try:
        os.kill(pid, signal.SIGUSR2)
    except OSError:
        return None
    deadline = time.monotonic() + timeout
    while not out.exists():
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)
    return json.loads(out.read_text())["passes"]  # type: ignore[no-any-return]


def _gc_lines(passes: list[list[float]], requests: int) -> tuple[list[str], float]:
    """Per generation: passes, per 1,000 requests, pauses (median, max, histogram); and pause us per request."""
    lines = []
    total = 0.0
    for gen in (0, 1, 2):
        ms = sorted(p[1] * 1000 for p in passes if p[0] == gen)
        if not ms:
            continue
        total += sum(ms)
        on_loop = sum(1 for p in passes if p[0] == gen and p[3])
        edges = (0.0, *GC_BUCKETS_MS, float("inf"))
        hist = []
        for lo, hi in zip(edges, edges[1:]):
            k = sum(1 for x in ms if lo <= x < hi)
            if k:
                hist.append(f"{lo:g}-{hi:g} ms: {k}" if hi != float("inf") else f">{lo:g} ms: {k}")
        lines.append(
            f"gc gen{gen}: {len(ms)} passes ({len(ms) * 1000 / max(1, requests):.2f} per 1k requests,"
            f" {on_loop} on the loop's thread), pause median {statistics.median(ms):.2f} ms,"
            f" max {ms[-1]:.2f} ms; " + ", ".join(hist)
        )
    if not lines:
        lines.append("gc: no passes")
    per_req = total * 1000 / max(1, requests)
    lines.append(f"gc pauses: {per_req:.2f} us per request")
    return lines, per_req


def measure(
    name: str,
    ctx: targets_mod.Context,
    connections: int,
    seconds: float,
    strace_s: float,
    gc_watch: bool = False,
    stream: bool = False,
) -> dict[str, float]:
    """One target's window, printed thread by thread; returns the per-request figures the summary takes medians of."""
    by_name = {t.name: t for t in targets_mod.all_targets(ctx.cpus)}
    # Only the gateway's targets load the collector's timer; SIGUSR2 would end any other. Only a single
    # process: the signal reaches the main pid, which for several workers is their supervisor, serving nothing.
    gc_watch = gc_watch and name.startswith("meshapi") and by_name[name].workers == 1
    running = by_name[name].start(ctx)
    try:
        running.check()
        if stream:
            url, body, headers, kind = running.stream_url, running.stream_body, running.stream_headers, "stream"
        else:
            url, body, headers, kind = running.chat_url, running.chat_body, running.chat_headers, "chat"
        script = loadgen.write_script(ctx.work / f"{name}-{kind}.lua", body, headers, running.expect)
        loadgen.run(url, script, connections, 3)  # warm-up
        pids = running.pids()
        if gc_watch:
            _gc_passes(running.pid, ctx.work)  # starts the count afresh
        before = _threads(pids)
        perf = _perf(pids, seconds)
        t0 = time.monotonic()
        res = loadgen.run(url, script, connections, seconds)
        wall = time.monotonic() - t0
        after = _threads(pids)
        n = max(1, res.requests)
        passes = _gc_passes(running.pid, ctx.work) if gc_watch else None
        tick_us = 1e6 / procs.CLK_TCK
        print(
            f"\n== {name} ({kind}): c={connections}, {res.requests} requests, {res.rps:,.0f} req/s,"
            f" p50 {res.p50_ms:.2f} ms, p99 {res.p99_ms:.2f} ms"
        )
        heads = ("user us", 9), ("sys us", 9), ("oncpu us", 10), ("rq-wait us", 11), ("vol cs", 8), ("invol cs", 9)
        print(f"{'pid/tid':<14}{'thread':<16}" + "".join(f"{h:>{w}}" for h, w in heads))
        tot = [0.0] * 6
        loop = [0.0] * 6  # the event loop's thread: the main thread of the target's own process
        rows = []
        for key, a in after.items():
            b = before.get(key, ThreadSample(a.name, 0, 0, 0, 0, 0, 0))
            vals = [
                (a.utime - b.utime) * tick_us / n,
                (a.stime - b.stime) * tick_us / n,
                (a.run_ns - b.run_ns) / 1000 / n,
                (a.wait_ns - b.wait_ns) / 1000 / n,
                (a.voluntary - b.voluntary) / n,
                (a.involuntary - b.involuntary) / n,
            ]
            rows.append((vals[2], key, a.name, vals))
        busiest_other = 0.0  # the gateway's request log writer, when it is on (the ledger's writer next)
        for _, key, tname, vals in sorted(rows, reverse=True):
            if vals[2] < 0.05 and vals[4] < 0.001:
                continue
            tot = [x + y for x, y in zip(tot, vals)]
            if key == (running.pid, running.pid):
                loop = vals
            elif key[0] == running.pid:
                busiest_other = max(busiest_other, vals[2])
            print(
                f"{key[0]}/{key[1]:<8}"[:14].ljust(14)
                + f"{tname[:15]:<16}{vals[0]:9.1f}{vals[1]:9.1f}{vals[2]:10.1f}{vals[3]:11.1f}"
                + f"{vals[4]:8.3f}{vals[5]:9.3f}"
            )
        print(
            f"{'total':<30}{tot[0]:9.1f}{tot[1]:9.1f}{tot[2]:10.1f}{tot[3]:11.1f}{tot[4]:8.3f}{tot[5]:9.3f}"
            f"   (window {wall:.1f} s)"
        )
        # Neither on a core nor waiting for one: blocked in epoll (idle) or on a lock, the GIL's included.
        asleep = wall * 1e6 / n - loop[2] - loop[3]
        print(f"event loop asleep: {asleep:.1f} us per request (epoll waits and GIL waits together)")
        for line in _perf_lines(perf, n):
            print(line)
        gc_us: dict[str, float] = {}
        if passes is not None:
            lines, per_req = _gc_lines(passes, n)
            for line in lines:
                print(line)
            gc_us["gc pause us"] = per_req
            gc_us["gc passes per 1k"] = len(passes) * 1000 / n
        if strace_s > 0:
            for line in _strace(running.pid, url, script, connections, strace_s):
                print(line)
        return {
            "req/s": res.rps,
            "p50 ms": res.p50_ms,
            "p99 ms": res.p99_ms,
            "cpu us": tot[2],
            "loop user us": loop[0],
            "loop sys us": loop[1],
            "loop oncpu us": loop[2],
            "loop rq-wait us": loop[3],
            "other threads us": tot[2] - loop[2],
            "busiest other thread us": busiest_other,
            "rq-wait us": tot[3],
            "vol cs": tot[4],
            "invol cs": tot[5],
            "loop asleep us": asleep,
            **gc_us,
        }
    finally:
        running.stop()


def summary(figures: dict[str, list[dict[str, float]]]) -> None:
    """Medians over the rounds, with their ranges: on a shared machine one round says little."""
    print("\n== medians over the rounds [range]")
    for name, runs in figures.items():
        cells = []
        for field in runs[0]:
            vals = [r[field] for r in runs]
            ends = field.endswith
            digits = 3 if ends(("cs", "1k")) else 2 if ends("ms") else 1 if ends("us") else 0
            cells.append(
                f"{field} {statistics.median(vals):.{digits}f} [{min(vals):.{digits}f}-{max(vals):.{digits}f}]"
            )
        print(f"{name}: " + ", ".join(cells))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--targets", default="minimal,meshapi")
    p.add_argument("--connections", type=int, default=10)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument(
        "--strace-seconds", type=float, default=3.0, help="0: no strace window (only the first round has one)"
    )
    p.add_argument(
        "--rounds", type=int, default=1, help="rounds, the order of the targets alternating; medians at the end"
    )
    p.add_argument(
        "--hold-writers",
        action="store_true",
        help="the gateway's time-driven work (writers, refreshes) every 900 s, as instructions_per_call.py sets it",
    )
    p.add_argument(
        "--gc", action="store_true", help="time the gateway's garbage collector passes (bench/gcwatch/sitecustomize.py)"
    )
    p.add_argument("--python", help="Python to run our side with (default: the project venv)")
    p.add_argument("--stream", action="store_true", help="load the streamed chat path (a request is a whole stream)")
    args = p.parse_args()
    if args.hold_writers:
        from instructions_per_call import quiet_toml

        config = targets_mod._gateway_config

        def quiet_config(ctx, path, redis_url, priced=False, extra=()):  # type: ignore[no-untyped-def]
            config(ctx, path, redis_url, priced, extra)
            path.write_text(quiet_toml(path.read_text()))

        targets_mod._gateway_config = quiet_config
    python = deps.bench_python(args.python)
    work = deps.RESULTS / ("breakdown-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    work.mkdir(parents=True, exist_ok=True)
    if args.gc:
        _watch_gc(work)
    up = upstream.start(work)
    ctx = targets_mod.Context(upstream=up, work=work, python=python, cpus=os.cpu_count() or 1)
    names = [t for t in args.targets.split(",") if t]
    figures: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    try:
        for rnd in range(args.rounds):
            for name in names if rnd % 2 == 0 else list(reversed(names)):
                strace_s = args.strace_seconds if rnd == 0 else 0.0
                figures[name].append(measure(name, ctx, args.connections, args.seconds, strace_s, args.gc, args.stream))
        if args.rounds > 1:
            summary(figures)
    finally:
        ctx.close()
        up.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
