"""Gateway overhead: every target against the same nginx upstream, alternating order, twice."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import loadgen
import paired
import probe
from deps import log
from procs import RssSampler, cpu_seconds, machine_busy_seconds, own_and_children_seconds, rss_bytes, tree
from targets import Context, Skip, Target

MIB = 1024 * 1024


@dataclass
class Plan:
    seconds: float  # per wrk run
    warmup: float
    rounds: int
    stream_n: int
    concurrencies: tuple[int, ...] = (50, 10)
    soak_seconds: float = 60.0  # the request log's backlog and RSS under steady load (0: skipped)
    pair_windows: int = 8  # paired comparisons: wrk windows per target per figure (0: skipped)
    pair_seconds: float = 3.0  # per paired window


def measure_once(target: Target, ctx: Context, plan: Plan, scripts: Path) -> dict[str, Any]:
    """Start the target, check it, then time it; the target is stopped afterwards in every case."""
    t0 = time.monotonic()
    running = target.start(ctx)
    try:
        running.check()
        started = time.monotonic() - t0
        time.sleep(1.0)  # let start-up work settle before calling it idle
        out: dict[str, Any] = {"version": running.version, "start_s": round(started, 2)}
        out["rss_idle_mib"] = rss_bytes(running.pids()) / MIB
        chat = loadgen.write_script(
            scripts / f"{target.name}-chat.lua", running.chat_body, running.chat_headers, running.expect
        )
        # Slow starters (lazy imports on the first calls) get up to three warm-up runs.
        for _ in range(3):
            warm = loadgen.run(running.chat_url, chat, 50, plan.warmup)
            if warm.errors:
                raise probe.CheckFailed(f"warm-up had {warm.errors} bad responses: {warm.sample!r}")
            if warm.requests >= 50:
                break
        pids = running.pids()  # after warm-up: every worker exists by now
        # The upstream's CPU, unless the target is the upstream itself.
        upstream_pids = [p for p in tree(ctx.upstream.proc.pid) if p not in pids]
        for c in plan.concurrencies:
            cpu0, up0 = cpu_seconds(pids), cpu_seconds(upstream_pids)
            busy0, rig0, wall0 = machine_busy_seconds(), own_and_children_seconds(), time.monotonic()
            with RssSampler(pids) as rss:
                res = loadgen.run(running.chat_url, chat, c, plan.seconds)
            cpu = cpu_seconds(pids) - cpu0
            # The rig's own CPU: the upstream (nginx) and the load generator (wrk, under this process).
            rig = (cpu_seconds(upstream_pids) - up0) + (own_and_children_seconds() - rig0)
            # Whatever else ran on the machine meanwhile (other jobs, not the rig): the noise indicator.
            others = (machine_busy_seconds() - busy0) - cpu - rig
            other_cores = max(0.0, others / (time.monotonic() - wall0))
            out[f"c{c}"] = {
                "rps": res.rps,
                "p50_ms": res.p50_ms,
                "p90_ms": res.p90_ms,
                "p99_ms": res.p99_ms,
                "requests": res.requests,
                "errors": res.errors,
                "sample": res.sample,
                "cpu_ms_per_req": 1000 * cpu / res.requests if res.requests else None,
                "rig_cpu_ms_per_req": 1000 * rig / res.requests if res.requests else None,
                "rss_peak_mib": rss.peak / MIB,
                "other_cores": other_cores,
            }
            log(
                f"  {target.name} c={c}: {res.rps:,.0f} req/s p50 {res.p50_ms:.2f} ms p99 {res.p99_ms:.2f} ms"
                f" cpu {out[f'c{c}']['cpu_ms_per_req'] or 0:.3f} ms/req errors {res.errors}"
                f" (other load {other_cores:.2f} cores)"
            )
        # Streams under load: what relaying 12 chunks costs once the proxy is busy.
        stream = loadgen.write_script(
            scripts / f"{target.name}-stream.lua", running.stream_body, running.stream_headers, running.expect
        )
        cpu0 = cpu_seconds(pids)
        res = loadgen.run(running.stream_url, stream, 10, plan.seconds)
        cpu = cpu_seconds(pids) - cpu0
        out["stream_c10"] = {
            "rps": res.rps,
            "p50_ms": res.p50_ms,
            "p99_ms": res.p99_ms,
            "requests": res.requests,
            "errors": res.errors,
            "sample": res.sample,
            "cpu_ms_per_req": 1000 * cpu / res.requests if res.requests else None,
        }
        log(
            f"  {target.name} streams c=10: {res.rps:,.0f} streams/s p50 {res.p50_ms:.2f} ms"
            f" cpu {out['stream_c10']['cpu_ms_per_req'] or 0:.3f} ms/stream errors {res.errors}"
        )
        st = probe.stream_timing(running.stream_url, running.stream_body, running.stream_headers, plan.stream_n)
        out["stream"] = asdict(st)
        out["rss_load_mib"] = max(out[f"c{c}"]["rss_peak_mib"] for c in plan.concurrencies)
        log(
            f"  {target.name} stream: first {st.first_p50_ms:.2f} ms last {st.last_p50_ms:.2f} ms;"
            f" rss idle {out['rss_idle_mib']:.0f} MiB load {out['rss_load_mib']:.0f} MiB"
        )
        return out
    finally:
        running.stop()


# The logged gateway and, when it is in the run, the same gateway without its log: RSS over
# time with and without the request log, same run.
SOAK_TARGETS = ("meshapi", "meshapi-nolog")
SOAK_SAMPLE_SECONDS = 5.0
# RSS is compared from here to the end: the first 20 s of a 60 s soak are warm-up (caches,
# allocator arenas, the log's first batches); "flat" is judged over the last 40 s.
SOAK_WARMUP_FRACTION = 1 / 3


def _metric(url: str, name: str) -> float | None:
    """One unlabelled series from the target's /metrics (None if absent)."""
    import urllib.request

    try:
        with urllib.request.urlopen(url.split("/v1/", 1)[0] + "/metrics", timeout=10) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def _file_mib(path: Path) -> float:
    try:
        return path.stat().st_size / MIB
    except OSError:
        return 0.0


def soak(target: Target, ctx: Context, plan: Plan, scripts: Path) -> dict[str, Any]:
    """60 s at c=50 in 5 s slices: RSS after each, the request log's backlog, rows written and dropped, and
    the SQLite write-ahead log's size (the writers never checkpoint on the event loop: it must stay bounded)."""
    running = target.start(ctx)
    try:
        running.check()
        chat = loadgen.write_script(scripts / f"{target.name}-soak.lua", running.chat_body, running.chat_headers)
        loadgen.run(running.chat_url, chat, 50, plan.warmup)
        pids = running.pids()
        slices = max(2, round(plan.soak_seconds / SOAK_SAMPLE_SECONDS))
        slice_s = plan.soak_seconds / slices
        rss_mib: list[float] = []
        queued: list[float | None] = []
        wal_mib: list[float] = []
        db = running.data_dir / "gateway.db" if running.data_dir else None
        requests = 0
        cpu0 = cpu_seconds(pids)
        for _ in range(slices):
            res = loadgen.run(running.chat_url, chat, 50, slice_s)
            requests += res.requests
            rss_mib.append(rss_bytes(pids) / MIB)
            queued.append(_metric(running.chat_url, "meshapi_request_log_queued"))
            if db is not None:
                wal_mib.append(_file_mib(db.with_name(db.name + "-wal")))
        cpu = cpu_seconds(pids) - cpu0
        time.sleep(2.0)  # the writer's last batches
        written = _metric(running.chat_url, "meshapi_request_log_written_total")
        warm = max(0, round(slices * SOAK_WARMUP_FRACTION) - 1)  # the sample at the end of the warm-up
        out = {
            "seconds": plan.soak_seconds,
            "sample_seconds": slice_s,
            "requests": requests,
            "rss_mib": rss_mib,
            "queued": queued,
            "rss_growth_mib": rss_mib[-1] - rss_mib[warm],
            "rss_growth_from_s": (warm + 1) * slice_s,
            "rss_growth_all_mib": rss_mib[-1] - rss_mib[0],
            "written": written,
            "dropped": _metric(running.chat_url, "meshapi_request_log_dropped_total"),
            "cpu_ms_per_req": 1000 * cpu / requests if requests else None,
            "wal_mib": wal_mib,
            "db_mib": _file_mib(db) if db is not None else None,
        }
        log(
            f"  soak {target.name}: {requests:,} requests in {plan.soak_seconds:.0f} s, RSS "
            + " ".join(f"{m:.0f}" for m in rss_mib)
            + f" MiB (+{out['rss_growth_mib']:.1f} after {out['rss_growth_from_s']:.0f} s),"
            f" backlog {queued}, written {written}, SQLite log "
            + " ".join(f"{m:.1f}" for m in wal_mib)
            + f" MiB, database {out['db_mib'] or 0:.1f} MiB"
        )
        return out
    finally:
        running.stop()


def run(targets: list[Target], ctx: Context, plan: Plan) -> dict[str, Any]:
    """Rounds alternate the order (forward, reversed, ...); each round starts every target afresh."""
    scripts = ctx.work / "wrk"
    scripts.mkdir(parents=True, exist_ok=True)
    samples: dict[str, list[dict[str, Any]]] = {t.name: [] for t in targets}
    skipped: dict[str, str] = {}
    for rnd in range(plan.rounds):
        order = targets if rnd % 2 == 0 else list(reversed(targets))
        for target in order:
            if target.name in skipped:
                continue
            log(f"round {rnd + 1}/{plan.rounds}: {target.label}")
            try:
                samples[target.name].append(measure_once(target, ctx, plan, scripts))
            except Skip as exc:
                skipped[target.name] = str(exc)
                log(f"  skipped: {exc}")
            except (probe.CheckFailed, RuntimeError, TimeoutError, OSError) as exc:
                skipped[target.name] = f"failed: {str(exc).strip()[:600]}"
                log(f"  FAILED: {exc}")
    pairs: dict[str, Any] = {}
    if plan.pair_windows:
        pair_plan = paired.PairPlan(
            windows=plan.pair_windows, seconds=plan.pair_seconds, warmup=plan.warmup, first_chunk_n=plan.stream_n
        )
        pairs = paired.run(targets, skipped, ctx, pair_plan, scripts)
    soaked: dict[str, Any] = {}
    for target in targets:
        if plan.rounds and plan.soak_seconds and target.name in SOAK_TARGETS and target.name not in skipped:
            log(f"soak: {target.label}, {plan.soak_seconds:.0f} s at c=50")
            try:
                soaked[target.name] = soak(target, ctx, plan, scripts)
            except (Skip, probe.CheckFailed, RuntimeError, TimeoutError, OSError) as exc:
                log(f"  soak FAILED: {exc}")
    results = {}
    for t in targets:
        if samples[t.name] and t.name not in skipped:
            results[t.name] = {
                "label": t.label,
                "role": t.role,
                "workers": t.workers,
                "runs": samples[t.name],
                **median_of(samples[t.name]),
            }
    return {
        "results": results,
        "soak": soaked,
        "paired": pairs,
        "skipped": {n: r for n, r in skipped.items()},
        "plan": asdict(plan),
        "labels": {t.name: t.label for t in targets},
    }


def _median_tree(values: list[Any]) -> Any:
    first = values[0]
    if isinstance(first, dict):
        return {k: _median_tree([v[k] for v in values if k in v]) for k in first}
    if isinstance(first, (int, float)) and not isinstance(first, bool):
        nums = [v for v in values if isinstance(v, (int, float))]
        return statistics.median(nums) if nums else None
    return first


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Figure by figure median over the rounds (the mean of two, for two rounds)."""
    return {"median": _median_tree(runs)}
