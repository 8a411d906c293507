"""``serve --workers 2`` with the local model: one llama.cpp child for the node, and both workers
answer with it.

The child is the parent's (the node's), not a worker's; each worker is reached on a connection
the kernel gave it (read from ``/proc``), and answers a chat from the real SmolLM2.
"""

from __future__ import annotations

import http.client
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from gwtest.gateway_process import GatewayProcess
from gwtest.proc_sockets import children, descendants, processes_with, server_side_holder
from meshapi_gateway.providers.local.catalog_entry import LOCAL_MODEL_ID
from meshapi_gateway.providers.local.files import locate

FILES = locate()
needs_model = pytest.mark.skipif(not FILES.available, reason=f"local model not installed: {FILES.missing}")
ADMIN = "admin-" + "w" * 40
LLAMA = b"llama_cpp.server"


def _connection_per_worker(port: int, workers: list[int]) -> dict[int, http.client.HTTPConnection]:
    """One open connection held by each worker (new connections until the kernel gave each one)."""
    held: dict[int, http.client.HTTPConnection] = {}
    spare: list[http.client.HTTPConnection] = []
    for _ in range(64):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        conn.connect()
        conn.request("GET", "/health")  # the worker has accepted it once it answered
        conn.getresponse().read()
        assert conn.sock is not None
        holder = server_side_holder(port, conn.sock.getsockname()[1], workers)
        if holder is not None and holder not in held:
            held[holder] = conn
        else:
            spare.append(conn)
        if len(held) == len(workers):
            break
    for conn in spare:
        conn.close()
    return held


def _wait_for_the_model(url: str) -> None:
    """Until the node reports its local model ready (it loads in the background)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        r = httpx.get(url + "/ready", timeout=10)
        if r.status_code == 200 and r.json().get("local_model", {}).get("state") == "ready":
            return
        time.sleep(0.5)
    raise AssertionError("the local model did not become ready: " + r.text)


@needs_model
def test_two_workers_share_one_local_model_process(tmp_path: Path, redis_url: str) -> None:
    gp = GatewayProcess(
        tmp_path,
        "http://127.0.0.1:9/v1",
        workers=2,
        redis_url=redis_url,
        admin_token=ADMIN,
        local_model={"enabled": True, "n_ctx": 2048, "ready_timeout": 120},
    )
    gp.start()
    assert gp.proc is not None
    try:
        deadline = time.monotonic() + 60
        while len(children(gp.proc.pid, b"spawn_main")) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        trackers = children(gp.proc.pid, b"resource_tracker")
        workers = [p for p in children(gp.proc.pid, b"spawn_main") if p not in trackers]
        assert len(workers) == 2

        # One child for the node, and it is the parent's (other gateways on the machine may have their own).
        llamas = descendants(gp.proc.pid, LLAMA)
        assert llamas == children(gp.proc.pid, LLAMA), llamas
        assert len(llamas) == 1
        _wait_for_the_model(gp.url)

        r = httpx.post(
            gp.url + "/v1/keys",
            headers={"authorization": f"Bearer {ADMIN}"},
            json={"owner": "alice", "name": "workers"},
        )
        assert r.status_code == 201, r.text
        key = r.json()["key"]

        held = _connection_per_worker(gp.port, workers)
        assert sorted(held) == sorted(workers)
        body = json.dumps(
            {"model": LOCAL_MODEL_ID, "max_tokens": 8, "messages": [{"role": "user", "content": "Say hi."}]}
        )
        # Each request is sent on every held connection before any answer is read, so that no
        # connection idles past the server's keep-alive timeout while another worker answers.
        for conn in held.values():
            conn.request(
                "POST",
                "/v1/chat/completions",
                body=body,
                headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
            )
        answers: dict[int, Any] = {}
        for worker, conn in held.items():
            resp = conn.getresponse()
            answers[worker] = (resp.status, json.loads(resp.read()))
        for conn in held.values():
            conn.request("GET", "/ready")
        for conn in held.values():
            ready = conn.getresponse()
            ready_body = json.loads(ready.read())
            assert ready.status == 200, ready_body
            assert ready_body["local_model"]["state"] == "ready"
            conn.close()
        for worker, (status, answer) in answers.items():
            assert status == 200, (worker, answer)
            assert answer["model"] == LOCAL_MODEL_ID
            assert answer["choices"][0]["message"]["content"]
            assert answer["usage"]["completion_tokens"] > 0
        # Still the one child: no worker started its own on first use.
        assert descendants(gp.proc.pid, LLAMA) == llamas
        assert all(children(w, LLAMA) == [] for w in workers)
    finally:
        gp.stop()
    deadline = time.monotonic() + 15
    while any(p in processes_with(LLAMA) for p in llamas) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(p in processes_with(LLAMA) for p in llamas)  # the graceful stop ends the node's child too
