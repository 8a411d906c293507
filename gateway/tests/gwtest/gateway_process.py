"""A gateway in its own process (``meshapi-gateway serve``), for load tests that need a second core.

The settings travel as a TOML config file written from the same dictionary the in-thread
harness uses, so both kinds of gateway see the same catalog and secrets.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from gwtest.harness import fake_models
from gwtest.server_thread import free_port


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def write_config(path: Path, settings: dict[str, Any]) -> Path:
    lines: list[str] = []
    tables: list[str] = []
    for name, value in settings.items():
        if name == "models":
            for model in value:
                tables.append("[[models]]")
                tables.extend(f"{k} = {_toml_value(v)}" for k, v in model.items())
        elif isinstance(value, dict):
            tables.append(f"[{name}]")
            tables.extend(f"{k} = {_toml_value(v)}" for k, v in value.items())
        else:
            lines.append(f"{name} = {_toml_value(value)}")
    path.write_text("\n".join([*lines, *tables]) + "\n")
    return path


class GatewayProcess:
    def __init__(self, tmp: Path, upstream_url: str, port: int | None = None, **overrides: Any) -> None:
        self.port = port or free_port()
        self.settings: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": self.port,
            "data_dir": str(tmp),
            "builtin_catalog": False,
            "local_model": {"enabled": False},
            "models": fake_models(upstream_url),
            "jwt_secret": "test-secret-" + "x" * 32,
            "log_level": "warning",
            **overrides,
        }
        self.config = write_config(tmp / "gateway.toml", self.settings)
        self.proc: subprocess.Popen[bytes] | None = None
        self.open_file_limit: int | None = None  # soft and hard RLIMIT_NOFILE of the process, if set
        self.log = tmp / "gateway.log"
        # With TLS settings, what clients trust (httpx's verify=: an SSLContext loaded with the authority).
        self.verify: Any = True

    @property
    def url(self) -> str:
        scheme = "https" if self.settings.get("ssl_certfile") else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> "GatewayProcess":
        env = {k: v for k, v in os.environ.items() if not k.startswith("MESHAPI_GATEWAY_")}
        with open(self.log, "wb") as log:
            command = [sys.executable, "-m", "meshapi_gateway", "serve", "--config", str(self.config)]
            self.proc = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                preexec_fn=self._limit_files if self.open_file_limit else None,
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(self.url + "/health", timeout=1, verify=self.verify).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("gateway process did not start: " + self.log.read_text()[-3000:])
            time.sleep(0.1)

    def _limit_files(self) -> None:
        import resource

        assert self.open_file_limit is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_file_limit, self.open_file_limit))

    def stop(self, timeout: float = 60.0) -> int | None:
        """Graceful stop (SIGTERM, as a process manager would); returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
