"""``/ready``: whether this node can take traffic (database, schema, Redis), with the local model beside.

A load balancer sends traffic to nodes whose ``/ready`` answers 200. The node's dependencies
decide it; the local model's state is shown next to it and never pulls the node out.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from gwtest.harness import FakeUpstream, Gateway, start_gateway
from gwtest.redis_server import RedisServer
from meshapi_gateway.providers.local.files import SERVER_MODULES, _module_missing
from meshapi_gateway.readiness import expected_revisions

needs_llama_server = pytest.mark.skipif(
    any(_module_missing(m) for m in SERVER_MODULES), reason="llama-cpp-python's server is not installed"
)


def _wait_for(gw: Gateway, status: int, timeout: float = 30.0) -> httpx.Response:
    """The first /ready answer with ``status``: Redis clients reconnect by themselves, a little later."""
    deadline = time.monotonic() + timeout
    with gw.client() as c:
        while True:
            resp = c.get("/ready")
            if resp.status_code == status or time.monotonic() > deadline:
                return resp
            time.sleep(0.2)


def test_a_ready_node_names_its_checks_and_the_local_model_beside_them(gateway: Gateway) -> None:
    with gateway.client() as c:
        resp = c.get("/ready")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "ready"
    assert body["checks"] == {"database": "ok", "migrations": "ok"}  # no Redis configured: not checked
    assert body["local_model"] == {"state": "off"}


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis of this test's own, which it stops and starts again."""
    try:
        server = RedisServer().start()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    yield server
    server.stop()


def test_a_node_whose_redis_is_down_is_not_ready_until_redis_is_back(
    tmp_path: Path, fake_openai: FakeUpstream, own_redis: RedisServer
) -> None:
    gw = start_gateway(tmp_path, fake_openai.url, redis_url=own_redis.url)
    try:
        ready = _wait_for(gw, 200)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["redis"] == "ok"

        own_redis.halt()
        down = _wait_for(gw, 503)
        assert down.status_code == 503, down.text
        error = down.json()["error"]
        assert error["code"] == "provider_not_available"
        assert error["message"] == "Not ready: redis."
        report = error["details"][0]
        assert report["status"] == "not_ready"
        assert report["checks"]["redis"].startswith("error: ")
        assert report["checks"]["database"] == "ok"

        own_redis.start()
        back = _wait_for(gw, 200)
        assert back.status_code == 200, back.text
        assert back.json()["checks"]["redis"] == "ok"
    finally:
        gw.server.stop()


def test_a_database_behind_the_code_is_not_ready(tmp_path: Path, fake_openai: FakeUpstream) -> None:
    gw = start_gateway(tmp_path, fake_openai.url)
    try:
        db_file = gw.settings.resolved_database_url().split(":///", 1)[1]
        with sqlite3.connect(db_file) as conn:  # as if this node's code were newer than the schema
            conn.execute("UPDATE alembic_version SET version_num = '0001_keys'")
        with gw.client() as c:
            resp = c.get("/ready")
        assert resp.status_code == 503, resp.text
        checks = resp.json()["error"]["details"][0]["checks"]
        assert checks["database"] == "ok"
        assert checks["migrations"] == f"at 0001_keys, expected {', '.join(sorted(expected_revisions()))}"
        assert resp.json()["error"]["message"] == "Not ready: migrations."
    finally:
        gw.server.stop()


def test_the_expected_schema_is_the_newest_migration() -> None:
    versions = Path(__import__("meshapi_gateway").__file__).parent / "store" / "migrations" / "versions"
    newest = max(p.stem for p in versions.glob("[0-9]*.py"))
    assert expected_revisions() == {newest}


@needs_llama_server
def test_a_local_model_that_is_not_ready_leaves_the_node_ready(gateway_factory: Any, tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a GGUF file: the model never finishes loading")
    gw = gateway_factory(local_model={"enabled": True, "path": str(broken), "ready_timeout": 1})
    with gw.client() as c:
        resp = c.get("/ready")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["checks"] == {"database": "ok", "migrations": "ok"}
    assert body["local_model"]["state"] in ("loading", "restarting")
