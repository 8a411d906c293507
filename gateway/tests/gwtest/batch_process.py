"""Real gateway and worker processes (``python -m meshapi_gateway serve|worker``) for the batch
durability tests, which must be able to SIGKILL them."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from meshapi_gateway.auth.keys import create_key
from meshapi_gateway.store import db

from gwtest.server_thread import free_port


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def to_toml(data: dict[str, Any]) -> str:
    """Enough TOML for gateway settings: scalars, one level of tables, arrays of tables."""
    lines = [
        f"{k} = {_toml_value(v)}"
        for k, v in data.items()
        if not isinstance(v, dict) and not (isinstance(v, list) and v and isinstance(v[0], dict))
    ]
    for k, v in data.items():
        if isinstance(v, dict):
            lines += ["", f"[{k}]", *(f"{kk} = {_toml_value(vv)}" for kk, vv in v.items())]
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            for item in v:
                lines += ["", f"[[{k}]]", *(f"{kk} = {_toml_value(vv)}" for kk, vv in item.items())]
    return "\n".join(lines) + "\n"


class BatchGatewayProcess:
    """One gateway (``serve``) or batch worker (``worker``) process with its config file in ``folder``."""

    def __init__(self, folder: Path, settings: dict[str, Any], command: str = "serve", port: int | None = None) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.settings = {
            "host": "127.0.0.1",
            "port": self.port,
            "data_dir": str(folder),
            "builtin_catalog": False,
            "jwt_secret": "test-secret-" + "x" * 32,
            "key_cache_refresh_seconds": 0.5,
            "local_model": {"enabled": False},
            **settings,
        }
        self.config = folder / f"gateway-{command}-{self.port}.toml"
        self.config.write_text(to_toml(self.settings))
        self.command = command
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = folder / f"{command}-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_url(self) -> str:
        return str(self.settings.get("database_url") or f"sqlite+aiosqlite:///{self.folder / 'gateway.db'}")

    def start(self, timeout: float = 60.0) -> "BatchGatewayProcess":
        env = {k: v for k, v in os.environ.items() if not k.startswith("MESHAPI_GATEWAY_")}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "meshapi_gateway", self.command, "--config", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        if self.command != "serve":
            return self
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("gateway exited during start:\n" + self.log.read_text()[-3000:])
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("gateway did not start:\n" + self.log.read_text()[-3000:])
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, exactly like a crash or an OOM kill."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)

    def create_key(self, owner: str) -> str:
        async def run() -> str:
            engine = db.make_engine(self.database_url)
            try:
                async with db.sessionmaker(engine)() as session:
                    return (await create_key(session, owner, "test")).key
            finally:
                await engine.dispose()

        db.upgrade(self.database_url)
        return asyncio.run(run())
