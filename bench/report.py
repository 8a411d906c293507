"""Turn one run's raw figures into the markdown report: the table, the goals, the machine."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

# Typographic signs by code point, so the source stays plain ASCII.
DASH, TIMES, GE, LE = "\u2013", "\u00d7", "\u2265", "\u2264"
RIGHT, DIVIDED, MINUS = "\u2192", "\u00f7", "\u2212"
ORDER = [
    "direct",
    "minimal",
    "meshapi",
    "meshapi-cache-hit",
    "meshapi-nolog",
    "meshapi-redis-1",
    "meshapi-redis-n",
    "meshapi-priced",
    "meshapi-governed",
    "litellm",
    "portkey",
]


def _get(d: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def _f(v: Any, fmt: str = "{:,.0f}") -> str:
    return DASH if v is None else fmt.format(v)


def _ms(v: Any) -> str:
    return _f(v, "{:.2f}")


def _ratio(a: Any, b: Any) -> str:
    return DASH if not a or not b else f"{a / b:.2f}{TIMES}"


def gateway_table(gw: dict[str, Any]) -> str:
    res = gw.get("results", {})
    med = {n: r["median"] for n, r in res.items()}
    direct = med.get("direct")
    ours = _get(med, "meshapi", "c50", "rps")
    rows = [
        "| target | req/s c=50 | req/s c=10 | p50 / p90 / p99 ms c=10 | p50 / p99 ms c=50 "
        "| added p50 / p99 ms c=10 | stream first / last ms | +first ms | streams/s c=10 | RSS idle / load MiB "
        "| CPU ms/req | meshapi ÷ target c=50 | other load, cores |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    names = [n for n in ORDER if n in med] + [n for n in med if n not in ORDER]
    for name in names:
        m = med[name]
        c10, c50, st = m.get("c10", {}), m.get("c50", {}), m.get("stream", {})
        added = DASH
        first_added = DASH
        if direct and name != "direct":
            added = f"{c10['p50_ms'] - direct['c10']['p50_ms']:.2f} / {c10['p99_ms'] - direct['c10']['p99_ms']:.2f}"
            first_added = _ms(st.get("first_p50_ms", 0) - direct["stream"]["first_p50_ms"])
        bad = sum(run.get(k, {}).get("errors", 0) for run in res[name]["runs"] for k in ("c10", "c50", "stream_c10"))
        label = res[name]["label"] + (f" \u26a0 {bad:,} bad responses" if bad else "")
        rows.append(
            f"| {label} | {_f(c50.get('rps'))} | {_f(c10.get('rps'))} "
            f"| {_ms(c10.get('p50_ms'))} / {_ms(c10.get('p90_ms'))} / {_ms(c10.get('p99_ms'))} "
            f"| {_ms(c50.get('p50_ms'))} / {_ms(c50.get('p99_ms'))} | {added} "
            f"| {_ms(st.get('first_p50_ms'))} / {_ms(st.get('last_p50_ms'))} | {first_added} "
            f"| {_f(_get(m, 'stream_c10', 'rps'))} "
            f"| {_f(m.get('rss_idle_mib'))} / {_f(m.get('rss_load_mib'))} "
            f"| {_f(c50.get('cpu_ms_per_req'), '{:.3f}')} "
            f"| {DASH if name.startswith('meshapi') else _ratio(ours, c50.get('rps'))} "
            f"| {_f(c50.get('other_cores'), '{:.2f}')} |"
        )
    for name, why in gw.get("skipped", {}).items():
        label = gw.get("labels", {}).get(name, name)
        rows.append(f"| {label} | skipped: {why.splitlines()[0][:160]} |" + " |" * 11)
    return "\n".join(rows)


# The paired figures, in the order the table shows them: (name, label, format of A and B).
PAIRED_FIGURES = (
    ("c50_rps", "req/s c=50", "{:,.0f}"),
    ("c50_cpu_ms", "CPU ms/req c=50", "{:.4f}"),
    ("c10_rps", "req/s c=10", "{:,.0f}"),
    ("c10_p50_ms", "p50 ms c=10 (median of the windows')", "{:.3f}"),
    ("c10_cpu_ms", "CPU ms/req c=10", "{:.4f}"),
    ("stream_c10_rps", "streams/s c=10", "{:,.0f}"),
    ("stream_c10_cpu_ms", "CPU ms/stream c=10", "{:.4f}"),
    ("first_chunk_ms", "stream first chunk ms, sequential (median of all)", "{:.3f}"),
)


def _relation(fig: dict[str, Any], value: Any) -> str:
    if value is None:
        return DASH
    return f"{value:+.3f} ms" if fig.get("kind") == "diff" else f"{value:.3f}{TIMES}"


def _interval(fig: dict[str, Any]) -> str:
    iv = fig.get("interval")
    return f"{_relation(fig, iv[0])} {DASH} {_relation(fig, iv[1])}" if iv else DASH


def _pair_method(pair: dict[str, Any]) -> str:
    """How a pair was measured, where it differs from the plain method (several starts, one process)."""
    arrow = f"; {pair['reference']} {RIGHT} {pair['subject']}:"
    legs = pair.get("legs", 1)
    if pair.get("one_process"):
        times = f" {legs} times, each time" if legs > 1 else ""
        return (
            f"{arrow} both on one gateway process holding a key for each side,{times} started afresh; the"
            " windows alternate between the two keys' loads on that process, whose CPU after each window"
            " (an idle gap for the window's deferred writes) counts with the window"
        )
    if legs > 1:
        return f"{arrow} {legs} times that, each with both targets started afresh"
    return ""


def paired_table(gw: dict[str, Any]) -> str:
    """One row per figure of each pair: both sides, B against A, and how the window pairs spread."""
    rows = [
        f"| A {RIGHT} B | figure | A | B | B {DIVIDED} A or B {MINUS} A | window pairs: min / median / max "
        "| 95 % bootstrap interval | other load, cores |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    paired = gw.get("paired") or {}
    for pair in paired.get("pairs", {}).values():
        bad = pair.get("errors", 0)
        label = f"{pair['reference']} {RIGHT} {pair['subject']}" + (" (one process)" if pair.get("one_process") else "")
        label += f" \u26a0 {bad:,} bad responses" if bad else ""
        for fig_name, fig_label, fmt in PAIRED_FIGURES:
            fig = pair["figures"].get(fig_name)
            if fig is None:
                continue
            spread = fig.get("spread")
            load = next((w for w in ("stream_c10", "c50", "c10") if fig_name.startswith(w + "_")), "")
            rows.append(
                f"| {label} | {fig_label} | {_f(fig['reference'], fmt)} | {_f(fig['subject'], fmt)} "
                f"| {_relation(fig, fig['value'])} "
                f"| {' / '.join(_relation(fig, v) for v in spread) if spread else DASH} "
                f"| {_interval(fig)} | {_f(_get(pair, 'other_cores', load), '{:.2f}')} |"
            )
    for name, why in paired.get("skipped", {}).items():
        arrow = name.replace("/", f" {RIGHT} ")
        rows.append(f"| {arrow} | skipped: {why.splitlines()[0][:160]} | | | | | | |")
    return "\n".join(rows)


def _wal(s: dict[str, Any]) -> str:
    if not s.get("wal_mib"):
        return DASH
    return " ".join(f"{m:.1f}" for m in s["wal_mib"]) + f" ({_f(s.get('db_mib'), '{:.1f}')})"


def soak_table(gw: dict[str, Any]) -> str:
    """RSS over time under steady load, with and without the request log (same run)."""
    soaked = gw.get("soak", {})
    rows = [
        "| target | requests | RSS MiB every "
        + f"{_f(_get(next(iter(soaked.values()), {}), 'sample_seconds'), '{:g}')} s "
        + "| growth after warm-up (from) | growth over the whole soak | log records written / dropped "
        + "| log backlog at each sample | SQLite write-ahead log MiB at each sample (database at the end) "
        + "| CPU ms/req |",
        "|---|---:|---|---:|---:|---:|---|---|---:|",
    ]
    for name, s in soaked.items():
        label = gw.get("labels", {}).get(name, name)
        logged = s.get("written") is not None
        backlog = " ".join(_f(q) for q in s.get("queued", [])) if logged else DASH
        rows.append(
            f"| {label} | {_f(s.get('requests'))} | {' '.join(f'{m:.0f}' for m in s.get('rss_mib', []))} "
            f"| {_f(s.get('rss_growth_mib'), '{:+.1f}')} ({_f(s.get('rss_growth_from_s'), '{:g}')} s) "
            f"| {_f(s.get('rss_growth_all_mib'), '{:+.1f}')} "
            f"| {(_f(s.get('written')) + ' / ' + _f(s.get('dropped'))) if logged else DASH} "
            f"| {backlog} | {_wal(s)} | {_f(s.get('cpu_ms_per_req'), '{:.3f}')} |"
        )
    return "\n".join(rows)


def sdk_table(sdk: dict[str, Any]) -> str:
    def cell(section: str, name: str, key: str) -> str:
        v = _get(sdk, section, name)
        if isinstance(v, dict) and "error" in v:
            return "n/a (" + str(v["error"])[:70].replace("|", "/") + ")"
        return _ms(_get(v, key))

    rows = [
        "| figure | meshapi | openai | httpx + pydantic floor | meshapi ÷ openai |",
        "|---|---:|---:|---:|---:|",
    ]
    spec = [
        ("import time, median of 5 fresh interpreters (ms)", "import", "median_ms", True),
        ("CPU per `create` call (ms)", "create", "cpu_ms", False),
        ("CPU per 200-chunk stream consumed (ms)", "stream200", "cpu_ms", False),
        ("decode one 1 MiB SSE event in 64-byte reads (CPU ms)", "sse_1mb", "median_ms", False),
    ]
    for label, section, key, floor in spec:
        a = _get(sdk, section, "meshapi", key)
        b = _get(sdk, section, "openai", key)
        rows.append(
            f"| {label} | {cell(section, 'meshapi', key)} | {cell(section, 'openai', key)} "
            f"| {cell(section, 'floor', key) if floor else ''} | {_ratio(a, b)} |"
        )
    return "\n".join(rows)


def _times(text: str) -> str:
    """'4x' becomes '4' and a times sign (a number followed by x); words such as 'proxy' stay."""
    return re.sub(r"(\d)x\b", lambda m: m.group(1) + TIMES, text)


@dataclass
class Goal:
    label: str
    value: float | None
    unit: str  # format of the figure, e.g. "{:.2f}x"
    limit: float
    at_least: bool  # True: the figure must be >= limit; False: <= limit
    interval: list[float] | None = None  # a paired figure's 95 % bootstrap interval

    def row(self) -> str:
        label = _times(self.label)
        if self.value is None:
            return f"| {label} | {DASH} | not measured |"
        met = self.value >= self.limit if self.at_least else self.value <= self.limit
        figure = _times(self.unit.format(self.value))
        if self.interval:
            low, high = (_times(self.unit.format(v)) for v in self.interval)
            figure += f" ({low} {DASH} {high})"
        status = "met" if met else "**missed**"
        if self.interval and min(self.interval) < self.limit < max(self.interval):
            # The interval holds figures on both sides of the limit: this run does not decide the goal.
            status += ", not settled"
        return f"| {label} | {figure} | {status} |"


def _ratio_of(a: Any, b: Any) -> float | None:
    return float(a) / float(b) if a and b else None


def _diff(a: Any, b: Any) -> float | None:
    return float(a) - float(b) if a is not None and b is not None else None


def _paired(gw: dict[str, Any], pair: str, figure: str, label: str, unit: str, limit: float, at_least: bool) -> Goal:
    """A goal on B against A from the paired comparison ``pair`` ("A/B"; not measured when it did not run)."""
    fig = _get(gw, "paired", "pairs", pair, "figures", figure) or {}
    value = fig.get("value")
    return Goal(label, float(value) if value is not None else None, unit, limit, at_least, fig.get("interval"))


def gateway_goals(gw: dict[str, Any]) -> list[Goal]:
    med = {n: r["median"] for n, r in gw.get("results", {}).items()}

    def g(*path: str) -> Any:
        return _get(med, *path)

    minimal = "minimal/meshapi"

    ours = g("meshapi", "c50", "rps")
    return [
        Goal("throughput >= 4x Portkey (c=50)", _ratio_of(ours, g("portkey", "c50", "rps")), "{:.2f}x", 4, True),
        Goal("throughput >= 40x LiteLLM (c=50)", _ratio_of(ours, g("litellm", "c50", "rps")), "{:.1f}x", 40, True),
        _paired(gw, minimal, "c50_rps", "throughput >= 0.7x minimal proxy (c=50, paired)", "{:.2f}x", 0.7, True),
        _paired(gw, minimal, "c50_rps", "throughput >= 0.9x minimal proxy (c=50, paired)", "{:.2f}x", 0.9, True),
        _paired(gw, minimal, "c10_rps", "throughput >= 0.85x minimal proxy (c=10, paired)", "{:.2f}x", 0.85, True),
        _paired(
            gw, minimal, "c10_p50_ms", "p50 <= 0.3 ms above the minimal proxy (c=10, paired)", "{:+.2f} ms", 0.3, False
        ),
        _paired(gw, minimal, "stream_c10_rps", "streams/s >= 0.8x minimal proxy (c=10, paired)", "{:.2f}x", 0.8, True),
        _paired(
            gw,
            minimal,
            "stream_c10_cpu_ms",
            "CPU per stream <= 1.3x minimal proxy (c=10, paired)",
            "{:.2f}x",
            1.3,
            False,
        ),
        _paired(
            gw,
            minimal,
            "first_chunk_ms",
            "stream first chunk <= 0.15 ms above the minimal proxy (paired)",
            "{:+.2f} ms",
            0.15,
            False,
        ),
        Goal("CPU per proxied request <= 0.25 ms", g("meshapi", "c50", "cpu_ms_per_req"), "{:.3f} ms", 0.25, False),
        _paired(
            gw,
            "meshapi-priced/meshapi-governed",
            "c50_cpu_ms",
            "CPU per request, budgeted + allowlisted key <= 1.05x plain key (c=50, paired on one process)",
            "{:.3f}x",
            1.05,
            False,
        ),
        Goal(
            "added latency p50 <= 2 ms (c=10)",
            _diff(g("meshapi", "c10", "p50_ms"), g("direct", "c10", "p50_ms")),
            "{:.2f} ms",
            2,
            False,
        ),
        Goal(
            "added latency p99 <= 6 ms (c=10)",
            _diff(g("meshapi", "c10", "p99_ms"), g("direct", "c10", "p99_ms")),
            "{:.2f} ms",
            6,
            False,
        ),
        Goal(
            "stream first chunk <= 1 ms above direct",
            _diff(g("meshapi", "stream", "first_p50_ms"), g("direct", "stream", "first_p50_ms")),
            "{:.2f} ms",
            1,
            False,
        ),
        Goal(
            "exact cache hit: p50 <= 0.3 ms above the pass-through path (c=10)",
            _diff(g("meshapi-cache-hit", "c10", "p50_ms"), g("meshapi", "c10", "p50_ms")),
            "{:.2f} ms",
            0.3,
            False,
        ),
        Goal(
            "exact cache hit: throughput >= 1.5x the pass-through path (c=50)",
            _ratio_of(g("meshapi-cache-hit", "c50", "rps"), ours),
            "{:.2f}x",
            1.5,
            True,
        ),
        Goal("RSS idle <= 80 MiB", g("meshapi", "rss_idle_mib"), "{:.0f} MiB", 80, False),
        Goal("RSS under load <= 120 MiB", g("meshapi", "rss_load_mib"), "{:.0f} MiB", 120, False),
        _paired(
            gw,
            "meshapi-nolog/meshapi",
            "c50_cpu_ms",
            "request log: CPU per request <= 1.10x without it (c=50, paired)",
            "{:.2f}x",
            1.10,
            False,
        ),
        Goal(
            "request log: RSS flat under load (growth over the soak's last 40 s <= 2 MiB)",
            _get(gw.get("soak", {}), "meshapi", "rss_growth_mib"),
            "{:.1f} MiB",
            2,
            False,
        ),
        Goal(
            "N workers + Redis scale >= 1.7x from 1 to 2 workers",
            _ratio_of(g("meshapi-redis-n", "c50", "rps"), g("meshapi-redis-1", "c50", "rps")),
            "{:.2f}x",
            1.7,
            True,
        ),
    ]


def sdk_goals(sdk: dict[str, Any]) -> list[Goal]:
    def s(*path: str) -> Any:
        return _get(sdk, *path)

    return [
        Goal(
            "SDK import <= 1.3x httpx + pydantic floor",
            _ratio_of(s("import", "meshapi", "median_ms"), s("import", "floor", "median_ms")),
            "{:.2f}x",
            1.3,
            False,
        ),
        Goal(
            "SDK CPU per create <= openai's",
            _ratio_of(s("create", "meshapi", "cpu_ms"), s("create", "openai", "cpu_ms")),
            "{:.2f}x openai's",
            1,
            False,
        ),
        Goal(
            "SDK CPU per 200-chunk stream <= openai's",
            _ratio_of(s("stream200", "meshapi", "cpu_ms"), s("stream200", "openai", "cpu_ms")),
            "{:.2f}x openai's",
            1,
            False,
        ),
        Goal("1 MiB SSE event <= 20 ms", s("sse_1mb", "meshapi", "median_ms"), "{:.1f} ms", 20, False),
    ]


def goals(gw: dict[str, Any] | None, sdk: dict[str, Any] | None) -> str:
    """One row per goal of the parts that ran: met or missed, with its figure."""
    chosen = (gateway_goals(gw) if gw else []) + (sdk_goals(sdk) if sdk else [])
    rows = ["| goal | figure | status |", "|---|---:|---|"]
    rows += [goal.row().replace(">=", GE).replace("<=", LE) for goal in chosen]
    return "\n".join(rows)


def _cmd(argv: list[str]) -> str:
    if not shutil.which(argv[0]):
        return "?"
    out = subprocess.run(argv, capture_output=True, text=True)
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else "?"


def machine() -> dict[str, str]:
    model = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kb = int(open("/proc/meminfo").readline().split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": model,
        "cores": str(os.cpu_count() or 1),
        "memory": mem,
        "kernel": platform.release(),
        "load_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "nginx": _cmd(["nginx", "-v"]).replace("nginx version: ", ""),
        "wrk": _cmd(["wrk", "--version"]).split(" [")[0].replace("wrk ", ""),
        "node": _cmd(["node", "--version"]),
    }


def revision(root: str) -> str:
    """The commit measured, marked when the checkout had local changes."""
    head = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        return "unknown"
    dirty = subprocess.run(
        ["git", "-C", root, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
    ).stdout.strip()
    return head.stdout.strip() + (" with local changes" if dirty else "")


def render(data: dict[str, Any]) -> str:
    kind = "quick smoke run" if data["quick"] else "full run"
    parts = [f"## Results ({data['started']}, {kind}, commit {data.get('revision', '?')})", ""]
    m = data["machine"]
    parts.append("Machine: " + "; ".join(f"{k} {v}" for k, v in m.items()))
    parts.append("")
    gw, sdk = data.get("gateway"), data.get("sdk")
    if gw:
        plan = gw["plan"]
        vers = {n: r["median"].get("version", "") for n, r in gw["results"].items()}
        parts.append(
            f"### Gateway: wrk, 2 threads, {plan['seconds']:g} s per run, {plan['rounds']} round(s) alternating order, "
            f"medians; streaming timed over {plan['stream_n']} sequential 12-chunk streams"
        )
        parts.append("")
        if plan["rounds"]:
            parts.append("Versions: " + ", ".join(f"{n} {v}" for n, v in vers.items() if v))
            parts.append("")
            parts.append(gateway_table(gw))
        else:
            parts.append("No per-target rounds (`--rounds 0`): the paired comparisons only.")
        parts.append("")
        pp = _get(gw, "paired", "plan")
        if pp and (_get(gw, "paired", "pairs") or _get(gw, "paired", "skipped")):
            parts.append(
                f"Paired comparisons: both targets up at once; per figure {pp['windows']} wrk windows of "
                f"{pp['seconds']:g} s per target in A B B A order; req/s and CPU per request summed over each "
                f"side's windows, p50 the median of its windows'; first chunk over {pp['first_chunk_n']} "
                f"sequential streams per target in {pp['windows']} interleaved slices"
                + "".join(_pair_method(p) for p in (_get(gw, "paired", "pairs") or {}).values() if _pair_method(p))
                + ". The goals below that compare these targets read these figures."
            )
            parts.append("")
            parts.append(paired_table(gw))
            parts.append("")
        if gw.get("soak"):
            parts.append(f"Soak: {plan['soak_seconds']:g} s at c=50, RSS sampled as it goes (request log on and off)")
            parts.append("")
            parts.append(soak_table(gw))
            parts.append("")
        noise = [
            run.get(f"c{c}", {}).get("other_cores", 0.0)
            for r in gw["results"].values()
            for run in r["runs"]
            for c in (10, 50)
        ]
        if noise and max(noise) > 0.2:
            parts.append(
                f"\u26a0 Other processes used up to {max(noise):.2f} cores during the load runs "
                "(last column): the figures of this run are disturbed; rerun on a quiet machine."
            )
            parts.append("")
    if sdk:
        v = sdk.get("versions", {})
        parts.append("### SDK (" + ", ".join(f"{k} {val}" for k, val in v.items()) + ")")
        parts.append("")
        parts.append(sdk_table(sdk))
        parts.append("")
    parts.append("### Goals")
    parts.append("")
    parts.append(goals(gw, sdk))
    parts.append("")
    ceiling = scale_ceiling(gw, data["machine"]) if gw else None
    if ceiling:
        parts.append(ceiling)
        parts.append("")
    return "\n".join(parts)


def scale_ceiling(gw: dict[str, Any], machine: dict[str, str]) -> str | None:
    """What N workers could reach at best here, when wrk and nginx share the cores with them.

    Every request costs the gateway's CPU plus the rig's (nginx and wrk), and the machine
    has so many cores: the rate can be at most cores / (gateway + rig) per request.
    """
    med = {n: r["median"] for n, r in gw.get("results", {}).items()}
    many, one = _get(med, "meshapi-redis-n", "c50"), _get(med, "meshapi-redis-1", "c50")
    cores = int(machine.get("cores") or 0)
    if not (many and one and cores and many.get("rig_cpu_ms_per_req") and one.get("rps")):
        return None
    per_request = many["cpu_ms_per_req"] + many["rig_cpu_ms_per_req"]
    best = 1000 * cores / per_request
    return (
        f"Scale-out ceiling on this machine: {cores} cores / ({many['cpu_ms_per_req']:.3f} ms gateway + "
        f"{many['rig_cpu_ms_per_req']:.3f} ms nginx and wrk per request) = {best:,.0f} req/s at most, "
        f"{best / one['rps']:.2f}{TIMES} the 1-worker rate; measured {many['rps'] / one['rps']:.2f}{TIMES} "
        f"({many['rps'] / best:.0%} of the ceiling)."
    )
