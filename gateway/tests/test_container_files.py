"""The container image definition and the compose file, checked as far as a machine without a
container daemon allows.

Run here: compose.yaml is parsed and its topology compared with the deployment test's (PostgreSQL,
Redis, a one-shot migration, two gateway nodes with a volume each, nginx on 8080); each gateway's
environment is validated by the gateway's own settings loader; the nginx file has the proxy
settings the deployment test's nginx uses; the Dockerfile copies what its install step needs.
The image's own steps, reproduced in a fresh virtual environment: its install step's build
(``pip install ./sdk ./gateway`` builds two wheels from this checkout), those wheels installed,
then the image's ``CMD`` with the image's ``ENV`` (read from the Dockerfile), its ``HEALTHCHECK``
command, and its ``STOPSIGNAL`` for a graceful stop. So a module or data file missing from the
wheels (migrations, templates) fails here. What differs from the image: the base image's Python is
this machine's 3.11; the dependencies are the ones the development environment resolved, not
downloaded again; the process runs as this user, not the image's ``meshapi``; host, port and data
folder are a free local port and a temporary folder. Not run: ``docker build``, ``docker compose up``
(no container daemon here).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import httpx
import yaml
from gwtest.server_thread import free_port
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
        "keepalive_timeout 4s;",
        "max_fails=1 fail_timeout=1s",
    ):
        assert directive in compose_nginx and directive in test_nginx, directive


def _image_env(dockerfile: str) -> dict[str, str]:
    """The Dockerfile's ``ENV`` instructions (``KEY=value`` pairs, lines continued with a backslash)."""
    env: dict[str, str] = {}
    for instruction in re.sub(r"\\\n\s*", " ", dockerfile).splitlines():
        if instruction.startswith("ENV "):
            env.update(pair.split("=", 1) for pair in instruction.split()[1:])  # type: ignore[misc]
    return env


def _exec_form(dockerfile: str, instruction: str) -> list[str]:
    """The JSON argument list of the last ``instruction`` (``CMD [...]``, ``HEALTHCHECK ... CMD [...]``)."""
    lines = re.sub(r"\\\n\s*", " ", dockerfile).splitlines()
    found = [line for line in lines if line.startswith(instruction + " ")]
    assert found, instruction
    args = json.loads(found[-1][found[-1].index("CMD [") + 4 :])
    assert isinstance(args, list)
    return [str(a) for a in args]


def test_nginx_closes_idle_node_connections_before_the_node_does(tmp_path: Path) -> None:
    """A node closing a kept-alive connection while nginx writes a POST on it is a 502 nginx cannot retry.

    The full-size deployment run found such resets on live nodes with nginx's default (60 s) against
    the gateway's keep-alive timeout; nginx's idle timeout for the nodes must be the shorter one.
    """
    keep_alive = load_settings(environ={"MESHAPI_GATEWAY_DATA_DIR": str(tmp_path)}).keep_alive_timeout_seconds
    for conf in ((ROOT / "deploy" / "nginx.conf").read_text(), (ROOT / "deploy" / "scale_test.py").read_text()):
        upstream = conf[conf.index("upstream gateways") :]
        upstream = upstream[: upstream.index("\n    }")]  # the block's closing brace
        idle = re.search(r"keepalive_timeout (\d+)s;", upstream)
        seconds = int(idle.group(1)) if idle else 60  # nginx's default
        assert seconds < keep_alive, f"nginx keeps idle node connections {seconds} s, the node {keep_alive} s"


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
    wheels = sorted(tmp_path.glob("*.whl"))
    assert sorted(p.name.split("-")[0] for p in wheels) == ["meshapi", "meshapi_gateway"]
    _run_the_image_from(wheels, dockerfile, tmp_path)


def _run_the_image_from(wheels: list[Path], dockerfile: str, tmp_path: Path) -> None:
    """The image's remaining steps in a fresh venv: install the wheels, ENV, CMD, HEALTHCHECK, STOPSIGNAL."""
    venv = tmp_path / "image"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", *map(str, wheels)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    # The dependencies: appended after the venv's own packages (a path line in a .pth file), so the
    # gateway and the SDK are imported from the installed wheels and not from this checkout.
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(purelib) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    where = subprocess.run(
        [str(python), "-c", "import meshapi, meshapi_gateway; print(meshapi.__file__, meshapi_gateway.__file__)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert all(path.startswith(purelib) for path in where), where

    env = _image_env(dockerfile)
    assert env["MESHAPI_GATEWAY_LOCAL_MODEL_ENABLED"] == "false" and env["MESHAPI_GATEWAY_PORT"] == "8000"
    port = free_port()
    data = tmp_path / "data"
    data.mkdir()
    env |= {
        "MESHAPI_GATEWAY_HOST": "127.0.0.1",
        "MESHAPI_GATEWAY_PORT": str(port),
        "MESHAPI_GATEWAY_DATA_DIR": str(data),
        "MESHAPI_GATEWAY_ADMIN_TOKEN": "admin-image-" + "i" * 32,  # as `docker run -e` in the Dockerfile's header
    }
    base = {k: v for k, v in os.environ.items() if not k.startswith("MESHAPI_GATEWAY_")}
    command = _exec_form(dockerfile, "CMD")
    assert command == ["meshapi-gateway", "serve"]
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [str(venv / "bin" / command[0]), *command[1:]],
        env=base | env | {"PATH": f"{venv / 'bin'}:{base.get('PATH', '')}"},
        cwd=data,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the image's CMD did not answer /health in 90 s"
            time.sleep(0.2)
        # The HEALTHCHECK command, as written, with the image's port replaced by this one.
        check = [arg.replace(":8000/", f":{port}/") for arg in _exec_form(dockerfile, "HEALTHCHECK")]
        assert check[0] == "python"
        assert subprocess.run([str(python), *check[1:]], timeout=30).returncode == 0
        # Migrations shipped in the wheel ran (SQLite in the data folder); the local model is left out.
        ready = httpx.get(url + "/ready", timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["migrations"] == "ok" and ready.json()["local_model"] == {"state": "off"}
        admin = {"authorization": "Bearer " + env["MESHAPI_GATEWAY_ADMIN_TOKEN"]}
        created = httpx.post(url + "/v1/keys", headers=admin, json={"owner": "image-check"}, timeout=10)
        assert created.status_code == 201, created.text
        models = httpx.get(url + "/v1/models", headers={"authorization": f"Bearer {created.json()['key']}"})
        assert models.status_code == 200 and models.json()["data"], models.text
        # STOPSIGNAL: what `docker stop` sends. The server shuts down in order, then ends by that
        # signal (uvicorn re-raises it once it has shut down: `docker ps` shows exit 143).
        stop = re.search(r"^STOPSIGNAL (\w+)$", dockerfile, re.M)
        assert stop is not None
        sent = getattr(signal, stop.group(1))
        proc.send_signal(sent)
        code = proc.wait(timeout=60)
        said = (tmp_path / "serve.log").read_text()
        assert code in (0, -sent), said[-3000:]
        assert "Application shutdown complete." in said and "Finished server process" in said, said[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
