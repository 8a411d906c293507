"""SDK costs, meshapi against openai in one process run: import time, per-call CPU, SSE decoding.

Runs under the benchmark's Python (with the SDK importable) and prints one JSON
object; each figure that cannot be taken says why instead of failing the rest.
Run: python sdk_bench.py --chat-root URL --stream200-root URL [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import traceback
from typing import Any, Callable

IMPORTS = {
    "meshapi": "from meshapi import MeshAPI",
    "openai": "from openai import OpenAI",
    "floor": "import httpx; from pydantic import BaseModel",
}
MESSAGES: Any = [{"role": "user", "content": "Say hello in one short sentence."}]
MB_EVENT = b"data: " + b"x" * (1 << 20) + b"\n\n"


def _guard(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception as exc:
        return {
            "error": f"{type(exc).__name__}: {exc}".strip()[:400],
            "where": traceback.format_exc(limit=3).strip().splitlines()[-3:],
        }


def import_ms(statement: str, n: int) -> dict[str, Any]:
    """Median over `n` fresh interpreters of the time the import statement itself takes."""
    code = f"import time\nt = time.perf_counter()\n{statement}\nprint(time.perf_counter() - t)"
    times = []
    for _ in range(n):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "import failed")
        times.append(float(out.stdout.strip()) * 1000)
    return {"median_ms": statistics.median(times), "runs_ms": times}


def cpu_per_call(call: Callable[[], None], n: int, warmup: int) -> float:
    """Process CPU time per call in ms (the upstream is another process, so it is not counted)."""
    for _ in range(warmup):
        call()
    t = time.process_time()
    for _ in range(n):
        call()
    return (time.process_time() - t) * 1000 / n


def per_call(call: Callable[[], None], n: int, warmup: int) -> dict[str, Any]:
    return {"cpu_ms": cpu_per_call(call, n, warmup), "n": n}


def _meshapi_client(root: str) -> Any:
    import meshapi

    # The seed names the credential `token`; keyword spellings are tried in order.
    for kwargs in (
        {"base_url": root, "token": "sk-bench", "max_retries": 0},
        {"base_url": root, "token": "sk-bench"},
        {"base_url": root, "api_key": "sk-bench", "max_retries": 0},
    ):
        try:
            return meshapi.MeshAPI(**kwargs)
        except TypeError:
            continue
    return meshapi.MeshAPI(meshapi.MeshAPIConfig(base_url=root, token="sk-bench"))


def meshapi_calls(chat_root: str, stream_root: str) -> tuple[Callable[[], None], Callable[[], None]]:
    chat = _meshapi_client(chat_root)
    streamer = _meshapi_client(stream_root)

    def create() -> None:
        out = chat.chat.completions.create(model="mock", messages=MESSAGES)
        assert "bench-ok" in out.choices[0].message.content

    def consume() -> None:
        completions = streamer.chat.completions
        if hasattr(completions, "stream"):
            stream = completions.stream(model="mock", messages=MESSAGES)
        else:
            stream = completions.create(model="mock", messages=MESSAGES, stream=True)
        n = 0
        with stream:
            for _ in stream:
                n += 1
        assert n >= 199, n

    return create, consume


def openai_calls(chat_root: str, stream_root: str) -> tuple[Callable[[], None], Callable[[], None]]:
    import openai

    chat = openai.OpenAI(api_key="sk-bench", base_url=chat_root + "/v1", max_retries=0)
    streamer = openai.OpenAI(api_key="sk-bench", base_url=stream_root + "/v1", max_retries=0)

    def create() -> None:
        out = chat.chat.completions.create(model="mock", messages=MESSAGES)
        assert "bench-ok" in (out.choices[0].message.content or "")

    def consume() -> None:
        n = 0
        stream = streamer.chat.completions.create(model="mock", messages=MESSAGES, stream=True)
        with stream:
            for _ in stream:
                n += 1
        assert n >= 199, n

    return create, consume


def _chunks(size: int = 64) -> list[bytes]:
    return [MB_EVENT[i : i + size] for i in range(0, len(MB_EVENT), size)]


def decode_meshapi(chunks: list[bytes]) -> int:
    from meshapi._sse import SSEDecoder

    decoder = SSEDecoder()
    events = []
    for c in chunks:
        events += decoder.feed(c)
    events += decoder.flush()
    return len(events[0].data)


def decode_openai(chunks: list[bytes]) -> int:
    from openai._streaming import SSEDecoder

    events = list(SSEDecoder().iter_bytes(iter(chunks)))
    return len(events[0].data)


def decode_ms(fn: Callable[[list[bytes]], int], repeats: int) -> dict[str, Any]:
    chunks = _chunks()
    times = []
    for _ in range(repeats):
        # CPU time rather than wall time: the decoder is pure computation, and
        # other jobs on a shared machine would otherwise be counted against it.
        t = time.process_time()
        size = fn(chunks)
        times.append((time.process_time() - t) * 1000)
        if size != 1 << 20:
            raise AssertionError(f"decoded {size} bytes instead of 1 MiB")
        if times[-1] > 5000:  # a quadratic decoder: one sample says enough
            break
    return {"median_ms": statistics.median(times), "runs_ms": times}


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": sys.version.split()[0]}
    for dist in ("meshapi", "openai", "httpx", "pydantic"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = "source" if dist == "meshapi" else "?"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chat-root", required=True, help="server root answering /v1/chat/completions")
    parser.add_argument("--stream200-root", required=True, help="server root answering a 200-chunk stream")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n_create, n_stream = (300, 60) if args.quick else (3000, 500)
    out: dict[str, Any] = {"versions": _guard(_versions), "import": {}, "create": {}, "stream200": {}, "sse_1mb": {}}
    for name, stmt in IMPORTS.items():
        out["import"][name] = _guard(import_ms, stmt, 5)
    for name, factory in (("meshapi", meshapi_calls), ("openai", openai_calls)):
        try:
            create, consume = factory(args.chat_root, args.stream200_root)
        except Exception as exc:
            err = {"error": f"{type(exc).__name__}: {exc}"[:400]}
            out["create"][name] = out["stream200"][name] = err
            continue
        out["create"][name] = _guard(per_call, create, n_create, 50)
        out["stream200"][name] = _guard(per_call, consume, n_stream, 10)
    for name, fn in (("meshapi", decode_meshapi), ("openai", decode_openai)):
        out["sse_1mb"][name] = _guard(decode_ms, fn, 3 if args.quick else 7)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
