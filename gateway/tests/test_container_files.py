"""The container image definition and the compose file, checked as far as a machine without a
container daemon allows.

Run here: compose.yaml is parsed and its topology compared with the deployment test's (PostgreSQL,
Redis, a one-shot migration, two gateway nodes with a volume each, nginx on 8080); each gateway's
environment is validated by the gateway's own settings loader; the nginx file has the proxy
settings the deployment test's nginx uses; the Dockerfile copies what its install step needs and
that install step's build (``pip install ./sdk ./gateway`` builds two wheels) is run for real
from this checkout; its dependencies are not installed again. Not run: ``docker build``, ``docker compose up`` (no daemon here).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml
from meshapi_gateway.config import load_settings

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict:  # type: ignore[type-arg]
    data = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def _resolve(value: str) -> str:
    """Compose's ${VAR:-default} and ${VAR:?message} with nothing set: the default, or a stand-in."""
    value = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)
    return re.sub(r"\$\{[A-Z_]+:\?[^}]*\}", "x" * 48, value)


def test_compose_runs_the_deployment_tests_topology() -> None:
    services = _compose()["services"]
    assert set(services) == {"postgres", "redis", "migrate", "gateway1", "gateway2", "nginx"}
    assert services["nginx"]["ports"] == ["8080:80"]
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in services["nginx"]["volumes"]
    volumes = [services[g]["volumes"][0].split(":")[0] for g in ("gateway1", "gateway2")]
    assert volumes == ["gateway1-data", "gateway2-data"]  # no shared folder between nodes
    for name in ("gateway1", "gateway2"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_every_gateway_environment_is_valid_settings(tmp_path: Path) -> None:
    services = _compose()["services"]
    for name in ("migrate", "gateway1", "gateway2"):
        env = {k: _resolve(str(v)) for k, v in services[name]["environment"].items()}
        env["MESHAPI_GATEWAY_DATA_DIR"] = str(tmp_path)
        settings = load_settings(environ=env)
        assert settings.resolved_database_url().startswith("postgresql+asyncpg://meshapi:")
        assert "@postgres:5432/" in settings.database_url
        assert settings.redis_url == "redis://redis:6379/0"
        assert settings.file_storage == "database"
    upstream = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "server gateway1:8000" in upstream and "server gateway2:8000" in upstream


def test_nginx_has_the_deployment_tests_proxy_settings() -> None:
    compose_nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    test_nginx = (ROOT / "deploy" / "scale_test.py").read_text()
    for directive in (
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";',
        "proxy_buffering off;",
        "proxy_next_upstream error timeout;",
        "keepalive 64;",
        "max_fails=1 fail_timeout=1s",
    ):
        assert directive in compose_nginx and directive in test_nginx, directive


def test_the_dockerfile_install_step_runs(tmp_path: Path) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = re.findall(r"^COPY (.+) \S+$", dockerfile, re.M)
    sources = [src for line in copied for src in line.split()]
    for needed in ("sdk/pyproject.toml", "sdk/src", "gateway/pyproject.toml", "gateway/README.md", "gateway/src"):
        assert needed in sources, needed
        assert (ROOT / needed).exists(), needed
    assert "RUN pip install ./sdk ./gateway" in dockerfile
    # What that RUN builds, from the same folders, as pip does it (isolated builds with the declared
    # build backends; the dependencies themselves are not installed again here).
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-w",
            str(tmp_path),
            str(ROOT / "sdk"),
            str(ROOT / "gateway"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    built = sorted(p.name.split("-")[0] for p in tmp_path.glob("*.whl"))
    assert built == ["meshapi", "meshapi_gateway"]
