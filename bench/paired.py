"""Paired comparisons: two targets up at once, short wrk windows taken in A B B A order.

A ratio between two targets measured a minute apart mostly measures how the shared host drifted
in between. Here both targets of a pair run side by side (both started, checked and warmed up
first), and each figure is taken in short windows alternating A B B A A B B A ...: a drift that is
linear over the sequence then falls on both sides alike. Every side's figure sums its windows
(requests, seconds, CPU); the spread of the per-window-pair ratios and a bootstrap interval over
the window pairs say how settled the ratio is.

A pair whose two sides differ only in the key they call with (the governed key against a plain one) runs
on one gateway process holding both keys (``Pair.one_process``): the sides are that process's windows
under either key's load, so they share its memory layout, cores and warm-up, which two processes of the
same code do not (they differ in CPU per request by a few per cent).
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import loadgen
import probe
from deps import log
from procs import cpu_seconds, machine_busy_seconds, own_and_children_seconds, tree
from targets import Context, Running, Target, priced_plain_and_governed

# Idle time after the warm-up and after a figure's last window: the last window's deferred work
# (a request log's batches, say) lands before the final CPU reading, not in the next figure.
SETTLE_SECONDS = 1.0
# Idle time after each window of a pair on one process: the request log writes what gathered every 0.5 s,
# the ledger every 0.25 s, so a window's last batches land (and count) before the other key's next window.
ONE_PROCESS_GAP_SECONDS = 0.75
BOOTSTRAP_RESAMPLES = 2000
# Sequential streams run before each first-chunk slice and are not timed (connection set-up).
SLICE_WARMUP = 3


@dataclass(frozen=True)
class Pair:
    """``reference`` is what the goal compares against (A), ``subject`` the target it judges (B)."""

    reference: str
    subject: str
    loads: tuple[str, ...]  # keys of LOADS, plus "first_chunk" for the sequential stream timing
    # Times the pair is measured, each time with both targets started afresh and the plan's windows. Two
    # processes of the same code differ in CPU per request by a few per cent (where they land in memory
    # and on the cores) however many windows they run, so a goal whose margin is that small needs its
    # targets started more than once.
    legs: int = 1
    # Starts one process serving both sides (A's Running, B's Running): a pair of keys on one gateway. None:
    # each side is its own target's process.
    one_process: Callable[[Context], tuple[Running, Running]] | None = None


# wrk windows: which call shape at which concurrency.
LOADS: dict[str, tuple[str, int]] = {"c50": ("chat", 50), "c10": ("chat", 10), "stream_c10": ("stream", 10)}

PAIRS = (
    # The Python limit against the gateway: throughput, latency, streams and their CPU.
    Pair("minimal", "meshapi", ("c50", "c10", "stream_c10", "first_chunk")),
    # The request log's CPU: the same gateway without it. Two starts of one tree read 1.15x and 1.22x (the unlogged
    # side 0.187 and 0.205 ms a request), 6 % apart, most of the goal's 10 % margin: three starts, 160 s more a run.
    Pair("meshapi-nolog", "meshapi", ("c50",), legs=3),
    # Key governance's CPU: a plain key against a budgeted, allowlisted one on priced models, both keys on one
    # gateway. Its goal's margin (5 %) is within what two processes of the same code differ by, and within what
    # one start leaves open (runs of 8 or 32 windows read 0.95-1.10).
    Pair("meshapi-priced", "meshapi-governed", ("c50",), legs=4, one_process=priced_plain_and_governed),
)


@dataclass(frozen=True)
class PairPlan:
    windows: int  # per target per figure
    seconds: float  # per wrk window
    warmup: float  # seconds of c=50 before the first window (per target)
    first_chunk_n: int  # timed sequential streams per target, over all slices


def key(pair: Pair) -> str:
    return f"{pair.reference}/{pair.subject}"


def abba(windows: int) -> list[int]:
    """The side (0 = A, 1 = B) of each window: A B, B A, A B, ... pair by pair."""
    return [side for i in range(windows) for side in ((0, 1) if i % 2 == 0 else (1, 0))]


@dataclass
class _Side:
    target: Target
    running: Running
    pids: list[int]
    scripts: dict[str, Path]

    def url(self, shape: str) -> str:
        return self.running.chat_url if shape == "chat" else self.running.stream_url


def _start(target: Target, ctx: Context, loads: tuple[str, ...], scripts: Path) -> _Side:
    return _checked(ctx, lambda c: (target.start(c),), (target,), loads, scripts)[0]


def _checked(
    ctx: Context,
    start: Callable[[Context], tuple[Running, ...]],
    targets: tuple[Target, ...],
    loads: tuple[str, ...],
    scripts: Path,
) -> list[_Side]:
    """Start, check each of ``start``'s Runnings (one per target, perhaps all on one process) and write its wrk
    scripts; the started process is stopped if any of that fails."""
    runnings = start(ctx)
    try:
        return [_side(target, running, loads, scripts) for target, running in zip(targets, runnings)]
    except BaseException:
        runnings[0].stop()  # one process for them all, or the one Running
        raise


def _side(target: Target, running: Running, loads: tuple[str, ...], scripts: Path) -> _Side:
    running.check()
    paths = {
        "chat": loadgen.write_script(
            scripts / f"{target.name}-paired-chat.lua", running.chat_body, running.chat_headers, running.expect
        )
    }
    if any(LOADS.get(load, ("", 0))[0] == "stream" for load in loads):
        paths["stream"] = loadgen.write_script(
            scripts / f"{target.name}-paired-stream.lua",
            running.stream_body,
            running.stream_headers,
            running.expect,
        )
    return _Side(target, running, running.pids(), paths)


def _warm(side: _Side, plan: PairPlan) -> None:
    """Up to three c=50 runs (slow starters import on their first calls), then one of each stream script."""
    for _ in range(3):
        warm = loadgen.run(side.url("chat"), side.scripts["chat"], 50, plan.warmup)
        if warm.errors:
            raise probe.CheckFailed(f"{side.target.name}: warm-up had {warm.errors} bad responses: {warm.sample!r}")
        if warm.requests >= 50:
            break
    if "stream" in side.scripts:
        loadgen.run(side.url("stream"), side.scripts["stream"], 10, plan.warmup)
    side.pids = side.running.pids()  # after warm-up: every worker exists by now


def _load_windows(
    sides: list[_Side], load: str, plan: PairPlan, upstream: int, one_process: bool = False
) -> list[list[dict[str, Any]]]:
    """One figure's windows in A B B A order; per side, its windows in the order they ran.

    ``cpu_s`` is the side's CPU during its own window; ``cpu_between_s`` what its process spent from the end
    of that window to the start of the process's next window (or to the settled end): the window's deferred
    work and idle timers. On one process (``one_process``) that next window may be the other side's, so each
    window is followed by ``ONE_PROCESS_GAP_SECONDS`` idle for its deferred work to land before it.
    ``other_cores``: what the machine spent beyond both targets, the upstream and the load generator.
    """
    shape, connections = LOADS[load]
    both = sorted({p for side in sides for p in side.pids})
    upstream_pids = [p for p in tree(upstream) if p not in both]
    per_side: list[list[dict[str, Any]]] = [[], []]
    # Per process (the side's own, or 0 for the one both share): the side whose window ran last on it and
    # the process's CPU reading at that window's end.
    open_tail: dict[int, tuple[int, float]] = {}
    for side_no in abba(plan.windows):
        side = sides[side_no]
        process = 0 if one_process else side_no
        busy0, rig0, both0 = machine_busy_seconds(), own_and_children_seconds(), cpu_seconds(both)
        up0, wall0 = cpu_seconds(upstream_pids), time.monotonic()
        cpu0 = cpu_seconds(side.pids)
        if process in open_tail:
            last_side, end = open_tail[process]
            per_side[last_side][-1]["cpu_between_s"] = cpu0 - end
        res = loadgen.run(side.url(shape), side.scripts[shape], connections, plan.seconds)
        cpu = cpu_seconds(side.pids) - cpu0
        open_tail[process] = (side_no, cpu0 + cpu)
        known = cpu_seconds(both) - both0 + cpu_seconds(upstream_pids) - up0 + own_and_children_seconds() - rig0
        others = max(0.0, (machine_busy_seconds() - busy0 - known) / (time.monotonic() - wall0))
        per_side[side_no].append(
            {
                "requests": res.requests,
                "seconds": res.seconds,
                "cpu_s": cpu,
                "cpu_between_s": 0.0,
                "p50_ms": res.p50_ms,
                "p90_ms": res.p90_ms,
                "p99_ms": res.p99_ms,
                "errors": res.errors,
                "sample": res.sample,
                "other_cores": others,
            }
        )
        if one_process:
            time.sleep(ONE_PROCESS_GAP_SECONDS)
    time.sleep(SETTLE_SECONDS)
    for side_no, end in open_tail.values():
        per_side[side_no][-1]["cpu_between_s"] = cpu_seconds(sides[side_no].pids) - end
    return per_side


def _first_chunk_slices(sides: list[_Side], plan: PairPlan) -> list[list[list[float]]]:
    """Sequential streams in slices taken in A B B A order; per side, each slice's first-chunk times (ms)."""
    per_slice = max(5, round(plan.first_chunk_n / plan.windows))
    per_side: list[list[list[float]]] = [[], []]
    for side_no in abba(plan.windows):
        r = sides[side_no].running
        firsts, _ = probe.stream_samples(r.stream_url, r.stream_body, r.stream_headers, per_slice, SLICE_WARMUP)
        if not firsts:
            raise probe.CheckFailed(f"{sides[side_no].target.name}: no stream completed in a first-chunk slice")
        per_side[side_no].append(firsts)
    return per_side


def _spread(values: list[float]) -> list[float] | None:
    return [min(values), statistics.median(values), max(values)] if values else None


def _per(num: float, den: float, scale: float = 1.0) -> float | None:
    return scale * num / den if den else None


def _relate(a: float | None, b: float | None, diff: bool) -> float | None:
    if diff:
        return b - a if a is not None and b is not None else None
    return b / a if a and b is not None else None


Stat = Callable[[list[Any]], "float | None"]


def _interval(a: list[Any], b: list[Any], stat: Stat, diff: bool, legs: int = 1) -> list[float] | None:
    """A 95 % percentile bootstrap of B against A, resampling whole window pairs (a pair's A and B stay together).

    With 8 pairs it is rough, but it says in the figure's own unit how far the run leaves the figure open.
    Over several starts (``legs``, each holding an equal run of the pairs) the starts are resampled first and
    the pairs within each chosen one: windows of one start share that start's processes, so resampling them
    as if independent would leave out the start-to-start difference the starts are there to sample.
    """
    rng = random.Random(0)  # the same windows give the same interval
    n = len(a)
    size = n // legs if legs > 1 and n % legs == 0 else 0
    got = []
    for _ in range(BOOTSTRAP_RESAMPLES):
        if size:
            starts = [rng.randrange(legs) for _ in range(legs)]
            picks = [leg * size + rng.randrange(size) for leg in starts for _ in range(size)]
        else:
            picks = [rng.randrange(n) for _ in range(n)]
        v = _relate(stat([a[i] for i in picks]), stat([b[i] for i in picks]), diff)
        if v is not None:
            got.append(v)
    if len(got) < BOOTSTRAP_RESAMPLES // 2:
        return None
    got.sort()
    return [got[int(0.025 * len(got))], got[int(0.975 * len(got)) - 1]]


def _figure(a: list[Any], b: list[Any], stat: Stat, diff: bool, legs: int = 1) -> dict[str, Any]:
    """B against A over all windows (ratio, or difference for latencies), its spread over the window pairs
    (A's i-th window against B's i-th) and a bootstrap interval."""
    a, b = a[: len(b)], b[: len(a)]
    ref, sub = stat(a), stat(b)
    each = [v for x, y in zip(a, b) if (v := _relate(stat([x]), stat([y]), diff)) is not None]
    return {
        "reference": ref,
        "subject": sub,
        "kind": "diff" if diff else "ratio",
        "value": _relate(ref, sub, diff),
        "spread": _spread(each),
        "interval": _interval(a, b, stat, diff, legs) if len(a) > 1 else None,
    }


def _rps(ws: list[dict[str, Any]]) -> float | None:
    return _per(sum(w["requests"] for w in ws), sum(w["seconds"] for w in ws))


def _cpu_ms(ws: list[dict[str, Any]]) -> float | None:
    # A window's requests leave work behind (the request log's and the ledger's batches written after
    # it): the CPU up to the side's next window, or to the settled end, is counted with the window.
    # Both sides stay up for the whole sequence, so each also carries its idle timers alike.
    return _per(sum(w["cpu_s"] + w["cpu_between_s"] for w in ws), sum(w["requests"] for w in ws), 1000)


def _p50(ws: list[dict[str, Any]]) -> float | None:
    return statistics.median(w["p50_ms"] for w in ws) if ws else None


def _all_median(slices: list[list[float]]) -> float | None:
    merged = [t for s in slices for t in s]
    return statistics.median(merged) if merged else None


def load_figures(load: str, per_side: list[list[dict[str, Any]]], legs: int = 1) -> dict[str, Any]:
    """req/s and CPU per request (with the work each window left behind) summed over each side's windows;
    p50 as the median of its windows' p50. ``legs``: the starts the windows come from, in equal runs."""
    a, b = per_side
    out = {
        f"{load}_rps": _figure(a, b, _rps, diff=False, legs=legs),
        f"{load}_cpu_ms": _figure(a, b, _cpu_ms, diff=False, legs=legs),
    }
    if load != "c50":  # at saturation the latency is the queue wrk keeps full, not the proxy's
        out[f"{load}_p50_ms"] = _figure(a, b, _p50, diff=True, legs=legs)
    return out


def first_chunk_figure(per_side: list[list[list[float]]], legs: int = 1) -> dict[str, Any]:
    """Median of all the side's timed streams; the spread is of the slices' own medians, slice pair by pair."""
    return _figure(per_side[0], per_side[1], _all_median, diff=True, legs=legs)


def _outside_share(per_side: list[list[dict[str, Any]]]) -> list[float | None]:
    """Per side: CPU spent between its windows, as a share of what it spent in them."""
    return [_per(sum(w["cpu_between_s"] for w in ws), sum(w["cpu_s"] for w in ws)) for ws in per_side]


def _leg(
    pair: Pair, targets: dict[str, Target], ctx: Context, plan: PairPlan, scripts: Path, first: int = 0
) -> dict[str, Any]:
    """Both targets started afresh (or the pair's one process), then each figure's windows (or first-chunk
    slices), per side in the order they ran; everything started is stopped in every case. ``first``: the side
    (0 = A) started and warmed up first; the legs of a pair take turns, so that neither target always lands
    first in memory and on the cores (on one process: neither key is always the first one warmed)."""
    order = (first, 1 - first)
    names = (pair.reference, pair.subject)
    started: dict[int, _Side] = {}
    try:
        if pair.one_process is not None:
            both = (targets[names[0]], targets[names[1]])
            started = dict(enumerate(_checked(ctx, pair.one_process, both, pair.loads, scripts)))
        else:
            for side_no in order:
                started[side_no] = _start(targets[names[side_no]], ctx, pair.loads, scripts)
        sides = [started[0], started[1]]
        time.sleep(SETTLE_SECONDS)
        for side_no in order:
            _warm(started[side_no], plan)
        time.sleep(SETTLE_SECONDS)
        one = pair.one_process is not None
        return {
            load: _first_chunk_slices(sides, plan)
            if load == "first_chunk"
            else _load_windows(sides, load, plan, ctx.upstream.proc.pid, one)
            for load in pair.loads
        }
    finally:
        stopped: set[int] = set()
        for side_no in reversed(list(started)):
            running = started[side_no].running
            if running.pid not in stopped:  # once per process: its group id may be another's after the stop
                stopped.add(running.pid)
                running.stop()


def measure_pair(pair: Pair, targets: dict[str, Target], ctx: Context, plan: PairPlan, scripts: Path) -> dict[str, Any]:
    """Every figure of the pair in interleaved windows, over ``pair.legs`` starts of both targets."""
    legs = [_leg(pair, targets, ctx, plan, scripts, leg % 2) for leg in range(pair.legs)]
    figures: dict[str, Any] = {}
    windows: dict[str, Any] = {}
    outside: dict[str, Any] = {}
    other_cores: dict[str, float] = {}
    errors = 0
    for load in pair.loads:
        per_side: list[list[Any]] = [[w for leg in legs for w in leg[load][side]] for side in (0, 1)]
        windows[load] = {"reference": per_side[0], "subject": per_side[1]}
        if load == "first_chunk":
            figures["first_chunk_ms"] = first_chunk_figure(per_side, pair.legs)
            fig = figures["first_chunk_ms"]
            log(
                f"  paired {key(pair)} first chunk: {fig['reference']:.3f} / {fig['subject']:.3f} ms,"
                f" {fig['value']:+.3f} ms (slice pairs {_fmt_spread(fig['spread'], '{:+.3f}')})"
            )
            continue
        errors += sum(w["errors"] for ws in per_side for w in ws)
        figures.update(load_figures(load, per_side, pair.legs))
        outside[load] = _outside_share(per_side)
        other_cores[load] = statistics.median(w["other_cores"] for ws in per_side for w in ws)
        rps, cpu = figures[f"{load}_rps"], figures[f"{load}_cpu_ms"]
        log(
            f"  paired {key(pair)} {load}: {rps['reference'] or 0:,.0f} / {rps['subject'] or 0:,.0f} req/s"
            f" ({rps['value'] or 0:.3f}x, windows {_fmt_spread(rps['spread'], '{:.3f}')}),"
            f" cpu {cpu['reference'] or 0:.4f} / {cpu['subject'] or 0:.4f} ms/req"
            f" ({cpu['value'] or 0:.3f}x, windows {_fmt_spread(cpu['spread'], '{:.3f}')});"
            f" between windows {' / '.join(_fmt_share(s) for s in outside[load])} of the in-window CPU;"
            f" errors {errors}; other load {other_cores[load]:.2f} cores (median of the windows)"
        )
    return {
        "reference": pair.reference,
        "subject": pair.subject,
        "legs": pair.legs,
        "one_process": pair.one_process is not None,
        "figures": figures,
        "cpu_between_share": outside,
        "other_cores": other_cores,
        "errors": errors,
        "windows": windows,
    }


def _fmt_spread(spread: list[float] | None, fmt: str) -> str:
    return "-" if not spread else " / ".join(fmt.format(v) for v in spread)


def _fmt_share(share: float | None) -> str:
    return "-" if share is None else f"{share:.1%}"


def run(targets: list[Target], skipped: dict[str, str], ctx: Context, plan: PairPlan, scripts: Path) -> dict[str, Any]:
    """Every pair whose two targets are in the run and were not skipped in the rounds."""
    by_name = {t.name: t for t in targets}
    pairs: dict[str, Any] = {}
    failed: dict[str, str] = {}
    for pair in PAIRS:
        if pair.reference not in by_name or pair.subject not in by_name:
            continue
        if pair.reference in skipped or pair.subject in skipped:
            failed[key(pair)] = "a target of the pair was skipped"
            continue
        legs = f", {pair.legs} starts" if pair.legs > 1 else ""
        legs += ", one process with a key per side" if pair.one_process is not None else ""
        windows = f"{plan.windows} x {plan.seconds:g} s windows per figure"
        log(f"paired: {pair.reference} against {pair.subject}, {windows}{legs}")
        try:
            pairs[key(pair)] = measure_pair(pair, by_name, ctx, plan, scripts)
        except (probe.CheckFailed, RuntimeError, TimeoutError, OSError) as exc:
            failed[key(pair)] = f"failed: {str(exc).strip()[:600]}"
            log(f"  paired FAILED: {exc}")
    return {
        "plan": {
            "windows": plan.windows,
            "seconds": plan.seconds,
            "warmup": plan.warmup,
            "first_chunk_n": plan.first_chunk_n,
        },
        "pairs": pairs,
        "skipped": failed,
    }
