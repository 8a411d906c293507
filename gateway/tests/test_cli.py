"""The ``meshapi-gateway`` command as a user runs it: help, JSON output, keys, tokens, settings errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "meshapi_gateway"]


def run(*args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MESHAPI_GATEWAY_")}
    full_env.update(env or {})
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, env=full_env, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.mark.parametrize(
    "cmd",
    [
        [],
        ["serve"],
        ["keys"],
        ["keys", "create"],
        ["keys", "list"],
        ["keys", "revoke"],
        ["tokens", "create"],
        ["models", "list"],
        ["migrate"],
    ],
)
def test_every_command_has_help(cmd: list[str]) -> None:
    out = run(*cmd, "--help").stdout
    assert "usage: meshapi-gateway" in out


def test_keys_create_list_revoke_json(tmp_path: Path) -> None:
    created = json.loads(
        run(
            "keys", "create", "--owner", "acme", "--name", "ci", "--rpm", "60", "--json", "--data-dir", str(tmp_path)
        ).stdout
    )
    assert created["key"].startswith("rsk_") and created["owner"] == "acme" and created["rpm"] == 60
    listed = json.loads(run("keys", "list", "--owner", "acme", "--json", "--data-dir", str(tmp_path)).stdout)
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0] and created["key"] not in json.dumps(listed)  # never shown again
    assert listed[0]["revoked_at"] is None
    run("keys", "revoke", created["id"], "--data-dir", str(tmp_path))
    listed = json.loads(run("keys", "list", "--json", "--data-dir", str(tmp_path)).stdout)
    assert listed[0]["revoked_at"] is not None
    assert run("keys", "revoke", "key_missing", "--data-dir", str(tmp_path), check=False).returncode == 1


def test_tokens_create_is_a_valid_jwt(tmp_path: Path) -> None:
    import jwt

    env = {"MESHAPI_GATEWAY_JWT_SECRET": "s" * 40}
    out = json.loads(
        run("tokens", "create", "--owner", "acme", "--ttl", "60", "--json", "--data-dir", str(tmp_path), env=env).stdout
    )
    claims = jwt.decode(out["token"], "s" * 40, algorithms=["HS256"], audience="authenticated")
    assert claims["sub"] == "acme" and claims["exp"] - claims["iat"] == 60


def test_models_list_json(tmp_path: Path) -> None:
    cfg = tmp_path / "gw.toml"
    cfg.write_text(
        'builtin_catalog = false\n[local_model]\nenabled = false\n[[models]]\nid = "x/y"\n'
        'base_url = "http://127.0.0.1:9/v1"\nis_free = true\n'
    )
    items = json.loads(run("models", "list", "--json", "--config", str(cfg)).stdout)
    assert [m["id"] for m in items] == ["x/y"]


@pytest.mark.parametrize(
    "env,needle",
    [
        ({"MESHAPI_GATEWAY_PORT": "eighty"}, "MESHAPI_GATEWAY_PORT"),
        ({"MESHAPI_GATEWAY_DATABASE_URL": "mysql://x"}, "MESHAPI_GATEWAY_DATABASE_URL"),
        ({"MESHAPI_GATEWAY_LOG_LEVEL": "loud"}, "MESHAPI_GATEWAY_LOG_LEVEL"),
        ({"MESHAPI_GATEWAY_NO_SUCH_SETTING": "1"}, "MESHAPI_GATEWAY_NO_SUCH_SETTING"),
        ({"MESHAPI_GATEWAY_CONFIG": "/nonexistent/gw.toml"}, "does not exist"),
    ],
)
def test_wrong_settings_fail_at_start_with_a_clear_message(tmp_path: Path, env: dict[str, str], needle: str) -> None:
    proc = run("serve", "--data-dir", str(tmp_path), env=env, check=False)
    assert proc.returncode == 2
    assert needle in proc.stderr and "Traceback" not in proc.stderr


def test_several_workers_need_redis(tmp_path: Path) -> None:
    proc = run("serve", "--workers", "2", "--data-dir", str(tmp_path), check=False)
    assert proc.returncode == 2 and "MESHAPI_GATEWAY_REDIS_URL" in proc.stderr
