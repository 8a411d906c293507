from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from scripted_server import FakeClock, ScriptedServer

import meshapi


@pytest.fixture(scope="session")
def _server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    yield srv
    srv.close()


@pytest.fixture
def server(_server: ScriptedServer) -> ScriptedServer:
    _server.reset()
    return _server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(server: ScriptedServer, clock: FakeClock) -> Iterator[meshapi.MeshAPI]:
    c = meshapi.MeshAPI(base_url=server.url, token="rsk_test", timeout=5.0)
    c._transport.sleep = clock
    c._transport.random = lambda: 0.5
    yield c
    c.close()


@pytest.fixture
def aclient(server: ScriptedServer, clock: FakeClock) -> meshapi.AsyncMeshAPI:
    c = meshapi.AsyncMeshAPI(base_url=server.url, token="rsk_test", timeout=5.0)
    c._transport.sleep = clock.async_sleep
    c._transport.random = lambda: 0.5
    return c
