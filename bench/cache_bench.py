"""The response cache's own costs, in-process: an exact hit's cache work, and a semantic lookup on 10,000 prompts.

Run by ``run.py`` (part ``cache``) or alone (``python3 bench/cache_bench.py``, prints JSON). The
semantic figure includes embedding the prompt with the local all-MiniLM-L6-v2 model.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from typing import Any

INDEX_SIZE = 10_000


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def exact_hit(n: int) -> dict[str, float]:
    """Key, memory read, decode and replay of a stored chat answer: what a hit does instead of calling upstream."""
    import orjson

    from meshapi_gateway.cache import replay
    from meshapi_gateway.cache.key import exact_key
    from meshapi_gateway.cache.stores import MemoryStore

    body = {
        "model": "bench/echo",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say hello to the benchmark."},
        ],
        "max_tokens": 64,
        "temperature": 0,
        "cache": True,
    }
    answer = {
        "id": "chatcmpl-x",
        "object": "chat.completion",
        "created": 1,
        "model": "bench/echo",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hello, benchmark! " * 8}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 20, "completion_tokens": 40, "total_tokens": 60},
    }
    store = MemoryStore(64 * 1024 * 1024)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(
        store.set(exact_key("owner", body), orjson.dumps({"model": "bench/echo", "answer": answer}), 3600)
    )
    times = []
    for _ in range(n):
        t = time.perf_counter()
        raw = loop.run_until_complete(store.get(exact_key("owner", body)))
        assert raw is not None
        out = orjson.dumps(replay.fresh(orjson.loads(raw)["answer"]))
        times.append(time.perf_counter() - t)
    loop.close()
    assert out
    return {"p50_ms": _p(times, 0.5) * 1000, "p99_ms": _p(times, 0.99) * 1000}


def _lookups(encoder: Any, index: Any, prompts: list[str], int8: bool) -> dict[str, float]:
    """Embed each prompt and search the index, as the gateway's semantic cache does; wall and CPU time."""
    encoder.encode(prompts[:2], int8=int8)  # warm (builds the runtime's session)
    embed, total, cpu = [], [], []
    for text in prompts:
        c = time.process_time()
        t = time.perf_counter()
        q = encoder.encode([text], int8=int8)[0]
        e = time.perf_counter()
        index.nearest("owner\0model", q)
        total.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        embed.append(e - t)
    return {
        "p50_ms": _p(total, 0.5) * 1000,
        "p99_ms": _p(total, 0.99) * 1000,
        "cpu_p50_ms": _p(cpu, 0.5) * 1000,
        "embed_p50_ms": statistics.median(embed) * 1000,
        "search_p50_ms": (statistics.median(total) - statistics.median(embed)) * 1000,
    }


def semantic_lookup(n: int) -> dict[str, Any]:
    """A lookup on a 10,000-prompt index: the default int8 graph, and the exact float32 one for comparison."""
    import numpy as np

    from meshapi_gateway.cache.semantic import SemanticIndex
    from meshapi_gateway.providers.local_embeddings.bert import MiniLMEncoder
    from meshapi_gateway.providers.local_embeddings.model_files import shipped_model_dir

    folder = shipped_model_dir()
    if folder is None:
        raise RuntimeError("the local embeddings model is not installed")
    encoder = MiniLMEncoder(folder)
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((INDEX_SIZE, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = SemanticIndex(None, INDEX_SIZE + 1)
    far = time.time() + 3600
    for i in range(INDEX_SIZE):
        index.add("owner\0model", f"k{i}", vectors[i], far)
    prompts = [f"What is the capital of country number {i}, and why?" for i in range(n)]
    return {
        "entries": INDEX_SIZE,
        "runtime": "onnxruntime" if encoder._onnx else "numpy",
        "int8": _lookups(encoder, index, prompts, True),
        "float32": _lookups(encoder, index, prompts, False),
    }


def run(quick: bool = False) -> dict[str, Any]:
    return {"exact_hit": exact_hit(2000 if quick else 20000), "semantic": semantic_lookup(50 if quick else 300)}


def render(result: dict[str, Any]) -> str:
    hit, sem = result["exact_hit"], result["semantic"]
    q, f = sem["int8"], sem["float32"]
    return "\n".join(
        [
            "### Response cache (in-process)",
            "",
            "| measure | p50 | p99 | CPU p50 | goal |",
            "|---|---|---|---|---|",
            f"| exact hit: key, memory read, replay | {hit['p50_ms']:.3f} ms | {hit['p99_ms']:.3f} ms "
            "| | ≤ 0.3 ms added |",
            f"| semantic lookup, {sem['entries']:,} entries, embedding included (int8, the default) "
            f"| {q['p50_ms']:.2f} ms | {q['p99_ms']:.2f} ms | {q['cpu_p50_ms']:.2f} ms | ≤ 5 ms p50 |",
            f"| of which the embedding / the search | {q['embed_p50_ms']:.2f} / {q['search_p50_ms']:.2f} ms | | | |",
            f"| the same with the exact float32 graph | {f['p50_ms']:.2f} ms | {f['p99_ms']:.2f} ms "
            f"| {f['cpu_p50_ms']:.2f} ms | |",
            "",
            f"Embedding runtime: {sem['runtime']}.",
        ]
    )


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv)))
