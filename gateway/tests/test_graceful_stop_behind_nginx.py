"""A node stopped gracefully behind nginx costs no client a 502, while new connections keep coming.

nginx passes a request to the next node only when the node refused the connection (or failed
before the request was written); a POST it has already written on a connection is never sent
elsewhere. So a stopping node must refuse new connections outright and answer every connection
it has let in, including those the kernel completed in the listening socket's queue but the
server had not yet taken: closing the listener resets those, and nginx answers their POSTs 502.

Here nginx keeps no idle connections to the nodes, so every request opens a new one (the most
queued connections a stop can meet), and clients send chat completions without retrying while
one of two nodes gets SIGTERM. Every request must be answered 200 by one node or the other.
"""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from gwtest.gateway_process import GatewayProcess
from gwtest.harness import FakeUpstream

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "scale_test.py"
ADMIN = "admin-graceful-" + "g" * 32
CLIENTS = 24
BEFORE, AFTER = 150, 150  # requests answered before the signal, and after the node has exited


def _scale_test() -> ModuleType:
    """deploy/scale_test.py, for its nginx (the deployment's proxy settings)."""
    spec = importlib.util.spec_from_file_location("scale_test", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["scale_test"] = module
    spec.loader.exec_module(module)
    return module


async def _load(url: str, key: str, stopping: GatewayProcess) -> tuple[list[str], dict[str, int]]:
    """Chat completions from ``CLIENTS`` clients until ``AFTER`` more were answered after the node exited."""
    outcomes: list[str] = []
    answered = {"before_exit": 0, "after_exit": 0}
    exited = asyncio.Event()
    body = {"model": "fake/free-echo", "messages": [{"role": "user", "content": "still there?"}]}

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60, headers={"authorization": f"Bearer {key}"}) as c:
            while answered["after_exit"] < AFTER:
                try:
                    r = await c.post("/v1/chat/completions", json=body)
                    outcomes.append(str(r.status_code) if r.status_code != 200 else "200")
                except httpx.HTTPError as exc:
                    outcomes.append(type(exc).__name__)
                answered["after_exit" if exited.is_set() else "before_exit"] += 1

    async def conductor() -> None:
        while answered["before_exit"] < BEFORE:
            await asyncio.sleep(0.01)
        assert stopping.proc is not None
        stopping.proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(stopping.proc.wait, 60)
        exited.set()

    await asyncio.gather(conductor(), *(client() for _ in range(CLIENTS)))
    return outcomes, answered


@pytest.mark.timeout(300)
def test_no_client_sees_a_502_when_a_node_behind_nginx_is_stopped_gracefully(
    tmp_path: Path, fake_openai: FakeUpstream, pg_url: str
) -> None:
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        pytest.skip("nginx is not installed")
    settings: dict[str, Any] = {
        "database_url": pg_url,
        "admin_token": ADMIN,
        "key_cache_refresh_seconds": 0.5,
        "shutdown_grace_seconds": 10,
    }
    nodes: list[GatewayProcess] = []
    nginx: Any = None
    try:
        subprocess.run([sys.executable, "-m", "meshapi_gateway", "migrate", "--database-url", pg_url], check=True)
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            nodes.append(GatewayProcess(tmp_path / name, fake_openai.url, **settings))
        with ThreadPoolExecutor(2) as pool:  # both start at once: the machine's two cores
            list(pool.map(lambda node: node.start(timeout=180), nodes))  # slow when the machine is busy
        nginx = _scale_test().Nginx(tmp_path / "nginx", [n.port for n in nodes], keepalive=False).start()
        r = httpx.post(
            nodes[0].url + "/v1/keys",
            json={"owner": "graceful", "name": "load"},
            headers={"authorization": f"Bearer {ADMIN}"},
        )
        assert r.status_code == 201, r.text
        key = r.json()["key"]
        for node in nodes:  # both nodes know the key before the load starts
            deadline = time.monotonic() + 30
            while httpx.get(node.url + "/v1/models", headers={"authorization": f"Bearer {key}"}).status_code != 200:
                assert time.monotonic() < deadline, "the new key never reached a node"
                time.sleep(0.2)

        outcomes, answered = asyncio.run(_load(nginx.url, key, nodes[0]))

        failed = [o for o in outcomes if o != "200"]
        assert not failed, (
            f"{len(failed)} of {len(outcomes)} requests failed ({sorted(set(failed))}); nginx said: "
            f"{nginx.errors()[-3:]}"
        )
        assert answered["after_exit"] >= AFTER  # the other node served on alone
        assert nodes[0].proc is not None and nodes[0].proc.returncode in (0, -signal.SIGTERM)
    finally:
        if nginx is not None:
            nginx.stop()
        for node in nodes:
            node.stop()
