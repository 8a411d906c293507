"""Starting real gateways for tests: settings pointing at the fake upstream, keys and tokens."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from gwtest.openai_upstream import Recorder
from gwtest.server_thread import ServerThread
from meshapi_gateway.app import asgi
from meshapi_gateway.auth.jwt_tokens import JWTVerifier
from meshapi_gateway.auth.keys import create_key
from meshapi_gateway.config import Settings, load_settings
from meshapi_gateway.store import db


@dataclass
class FakeUpstream:
    url: str
    recorder: Recorder


def fake_models(base_url: str) -> list[dict[str, Any]]:
    """Catalog entries served by the fake upstream; the upstream name picks its behaviour."""
    paid = {"prompt_usd_per_1m": "1", "completion_usd_per_1m": "2"}
    common = {"provider": "openai_compat", "base_url": base_url, "api_key": "sk-fake"}
    out = [
        {"id": "fake/echo", "upstream_model": "echo", **common, **paid},
        {"id": "fake/free-echo", "upstream_model": "echo", "is_free": True, **common},
        {"id": "fake/tools", "upstream_model": "tools", **common, **paid},
        {"id": "fake/nodone", "upstream_model": "nodone", **common, **paid},
        {"id": "fake/cut-3", "upstream_model": "cut-3", **common, **paid},
        {"id": "fake/embed", "upstream_model": "embed", "model_type": "embedding", **common, **paid},
    ]
    for status in (400, 401, 429, 500, 502, 503):
        out.append({"id": f"fake/fail-{status}", "upstream_model": f"fail-{status}", **common, **paid})
    out.append({"id": "fake/flaky", "upstream_model": "fail-503", "fallbacks": ["fake/echo"], **common, **paid})
    return out


@dataclass
class Gateway:
    url: str
    settings: Settings
    server: ServerThread
    _keys: list[str] = field(default_factory=list)

    def create_key(self, owner: str = "alice", **limits: Any) -> str:
        async def run() -> str:
            engine = db.make_engine(self.settings.resolved_database_url())
            try:
                async with db.sessionmaker(engine)() as session:
                    return (await create_key(session, owner, "test", **limits)).key
            finally:
                await engine.dispose()

        return asyncio.run(run())

    def token(self, owner: str = "alice", ttl: int = 3600) -> str:
        s = self.settings
        return JWTVerifier(s.resolved_jwt_secret(), s.jwt_audience, s.jwt_issuer).mint(owner, ttl)

    def client(self, key: str | None = None, **kw: Any) -> httpx.Client:
        headers = {"authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kw)


def start_gateway(tmp: Path, upstream_url: str, **overrides: Any) -> Gateway:
    data = {
        "data_dir": str(tmp),
        "builtin_catalog": False,
        "local_model": {"enabled": False},
        "models": fake_models(upstream_url),
        "jwt_secret": "test-secret-" + "x" * 32,
        "key_cache_refresh_seconds": 0.5,
    }
    data.update(overrides)
    settings = load_settings(overrides=data, environ={})
    db.upgrade(settings.resolved_database_url())
    server = ServerThread(asgi(settings)).start()
    return Gateway(server.url, settings, server)
