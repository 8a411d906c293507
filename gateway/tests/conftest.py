"""Shared fixtures: a fake OpenAI-compatible upstream and real gateways on loopback ports."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from gwtest.harness import FakeUpstream, Gateway, start_gateway
from gwtest.openai_upstream import Recorder, make_app
from gwtest.postgres_server import PostgresServer
from gwtest.redis_server import RedisServer
from gwtest.server_thread import ServerThread


@pytest.fixture(scope="session")
def fake_openai() -> Iterator[FakeUpstream]:
    recorder = Recorder()
    server = ServerThread(make_app(recorder)).start()
    yield FakeUpstream(server.url + "/v1", recorder)
    server.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeUpstream) -> Iterator[Gateway]:
    gw = start_gateway(tmp_path_factory.mktemp("gw"), fake_openai.url)
    yield gw
    gw.server.stop()


@pytest.fixture
def gateway_factory(
    tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeUpstream
) -> Iterator[Callable[..., Gateway]]:
    started: list[Gateway] = []

    def factory(**overrides: Any) -> Gateway:
        gw = start_gateway(tmp_path_factory.mktemp("gwf"), fake_openai.url, **overrides)
        started.append(gw)
        return gw

    yield factory
    for gw in started:
        gw.server.stop()


@pytest.fixture(scope="module")
def key(gateway: Gateway) -> str:
    return gateway.create_key("alice")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One PostgreSQL for the session; skipped with the reason when it is not installed."""
    try:
        server = PostgresServer().start()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    """A fresh PostgreSQL database (SQLAlchemy asyncpg URL) for one test."""
    return pg_server.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Run a test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'gateway.db'}"
    server: PostgresServer = request.getfixturevalue("pg_server")
    return server.new_database()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One Redis for the session; skipped with the reason when redis-server is not installed."""
    try:
        server = RedisServer().start()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A Redis URL (an unused logical database) for one test."""
    return redis_server.new_database()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Each phase's report kept on the test item, so a fixture can tell that its test failed (browser screenshots)."""
    outcome: Any = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)
