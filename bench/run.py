"""One command for every benchmark: `python3 bench/run.py` (or `make bench`); see docs/performance.md."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cache_bench
import deps
import gateway_bench
import local_model_bench
import report
import targets as targets_mod
import upstream
from deps import log

PARTS = ("gateway", "sdk", "cache", "local")
DOC = deps.ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- bench:results:begin -->", "<!-- bench:results:end -->"
LOCAL_BEGIN, LOCAL_END = "<!-- bench:local:begin -->", "<!-- bench:local:end -->"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description="meshapi benchmarks: gateway vs peers, SDK vs openai, one run, one machine")
    p.add_argument("--only", default=",".join(PARTS), help="comma list of parts: gateway,sdk,cache,local")
    p.add_argument(
        "--targets",
        default="",
        help="comma list of gateway targets (default: all): " + ",".join(t.name for t in targets_mod.all_targets(2)),
    )
    p.add_argument("--quick", action="store_true", help="smoke run: 1 round, short runs, fewer calls")
    p.add_argument(
        "--rounds", type=int, help="rounds per target (default 2, quick 1; 0: only the paired comparisons, no soak)"
    )
    p.add_argument("--seconds", type=float, help="seconds per wrk run (default 10, quick 2)")
    p.add_argument(
        "--pair-windows",
        type=int,
        help="paired comparisons: wrk windows per target per figure, A B B A order, so an even number balances "
        "the order (default 8, quick 4; 0: none)",
    )
    p.add_argument("--pair-seconds", type=float, help="seconds per paired window (default 3, quick 1)")
    p.add_argument("--python", help="Python to run our side with (default: the project venv, else bench/.peers/venv)")
    p.add_argument("--update-docs", action="store_true", help="write the report into docs/performance.md")
    return p.parse_args()


def run_sdk(python: str, up: upstream.Upstream, quick: bool) -> dict[str, Any]:
    argv = [
        python,
        str(deps.BENCH / "sdk_bench.py"),
        "--chat-root",
        f"http://127.0.0.1:{up.chat_port}",
        "--stream200-root",
        f"http://127.0.0.1:{up.stream200_port}",
    ]
    if quick:
        argv.append("--quick")
    env = {**os.environ, "PYTHONPATH": deps.source_path()}
    log("SDK: import time, per-call CPU, SSE decoding (meshapi vs openai)")
    out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"sdk_bench failed: {out.stderr[-1500:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run_cache(python: str, quick: bool) -> dict[str, Any]:
    argv = [python, str(deps.BENCH / "cache_bench.py")] + (["--quick"] if quick else [])
    env = {**os.environ, "PYTHONPATH": deps.source_path()}
    out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"cache_bench failed: {out.stderr[-1500:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run_local(python: str, quick: bool, rounds: int | None, work: Path) -> dict[str, Any]:
    """The local model through the gateway against llama.cpp's server; skipped (with why) without the model."""
    argv = [python, str(deps.BENCH / "local_model_bench.py"), "--work", str(work / "local")]
    argv += ["--quick"] if quick else []
    if rounds:
        argv += ["--rounds", str(rounds)]
    env = {**os.environ, "PYTHONPATH": deps.source_path()}
    log("local model: the gateway against llama.cpp's own server (tokens/s, first token)")
    out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=3600)
    if out.returncode != 0:
        return {"skipped": (out.stderr.strip().splitlines() or ["failed"])[-1][-400:]}
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _replace_block(text: str, begin: str, end: str, markdown: str) -> str:
    if begin not in text:
        text += f"\n{begin}\n{end}\n"
    return re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: f"{begin}\n{markdown}\n{end}", text, flags=re.S)


def update_docs(markdown: str | None, local: str | None) -> None:
    """Each block is rewritten only by a run that measured it: ``--only local`` leaves the main results alone."""
    text = DOC.read_text() if DOC.exists() else f"# Performance\n\n{BEGIN}\n{END}\n"
    if markdown is not None:
        text = _replace_block(text, BEGIN, END, markdown)
    if local is not None:
        text = _replace_block(text, LOCAL_BEGIN, LOCAL_END, local)
    DOC.write_text(text)
    log(f"wrote {DOC.relative_to(deps.ROOT)}")


def main() -> int:
    args = parse_args()
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        sys.exit(f"unknown part(s): {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    cpus = os.cpu_count() or 1
    all_t = targets_mod.all_targets(cpus)
    wanted = [t.strip() for t in args.targets.split(",") if t.strip()]
    chosen = [t for t in all_t if not wanted or t.name in wanted]
    if wanted and len(chosen) != len(wanted):
        sys.exit(f"unknown target in {wanted}; choose from {', '.join(t.name for t in all_t)}")
    plan = gateway_bench.Plan(
        seconds=args.seconds or (2.0 if args.quick else 10.0),
        warmup=1.0 if args.quick else 3.0,
        rounds=args.rounds if args.rounds is not None else (1 if args.quick else 2),
        stream_n=50 if args.quick else 300,
        soak_seconds=12.0 if args.quick else 60.0,
        pair_windows=args.pair_windows if args.pair_windows is not None else (4 if args.quick else 8),
        pair_seconds=args.pair_seconds or (1.0 if args.quick else 3.0),
    )
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    work = deps.RESULTS / stamp
    work.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "quick": args.quick,
        "machine": report.machine(),
        "revision": report.revision(str(deps.ROOT)),
    }

    tools = {"nginx": "nginx", "wrk": "wrk"}
    if "gateway" in parts:
        tools["redis-server"] = "redis-server"
    deps.ensure_apt(tools)
    python = deps.bench_python(args.python)
    log(f"our side runs on {python}")
    up = upstream.start(work)
    try:
        if "gateway" in parts:
            ctx = targets_mod.Context(upstream=up, work=work, python=python, cpus=cpus)
            try:
                data["gateway"] = gateway_bench.run(chosen, ctx, plan)
            finally:
                ctx.close()
        if "sdk" in parts:
            data["sdk"] = run_sdk(python, up, args.quick)
    finally:
        up.stop()
    if "cache" in parts:
        log("response cache: an exact hit's cache work, a semantic lookup on 10,000 prompts")
        data["cache"] = run_cache(python, args.quick)
    if "local" in parts:
        data["local"] = run_local(python, args.quick, args.rounds, work)
        # Its own block in the docs: it says itself when and on what it was measured.
        data["local"].update({k: data[k] for k in ("started", "quick", "revision")}, machine=data["machine"])
    main_parts = [p for p in parts if p != "local"]
    markdown = report.render(data) if main_parts else None
    if markdown is not None and "cache" in data:
        markdown += "\n\n" + cache_bench.render(data["cache"])
    local = local_model_bench.render(data["local"]) if "local" in data else None
    full = "\n\n".join(m for m in (markdown, local) if m is not None)
    (work / "results.json").write_text(json.dumps(data, indent=2, default=str))
    (work / "report.md").write_text(full)
    print(full)
    log(f"raw figures and logs in {work.relative_to(deps.ROOT)}")
    if args.update_docs:
        update_docs(markdown, local)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
