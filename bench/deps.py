"""Install what the benchmark needs (system tools, a Python for our side, the peers) into ignored folders."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PEERS = BENCH / ".peers"
RESULTS = BENCH / ".results"

PORTKEY_VERSION = "1.15.2"
# Portkey's streaming breaks with @hono/node-server newer than 1.14.1.
HONO_NODE_SERVER = "1.14.1"

# What our side of the benchmark imports: the minimal proxy and the SDK comparison.
BENCH_MODULES = ("uvicorn", "uvloop", "httptools", "aiohttp", "orjson", "httpx", "pydantic", "openai")
BENCH_PACKAGES = ("uvicorn[standard]", "aiohttp", "orjson", "httpx", "pydantic", "openai", "sniffio")


class Missing(RuntimeError):
    """A prerequisite could not be had; the parts that need it are skipped."""


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def _run(argv: list[str], cwd: Path | None = None, timeout: float = 1800) -> None:
    log("$ " + " ".join(argv))
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise Missing(f"{argv[0]} failed ({proc.returncode}): {(proc.stderr or proc.stdout)[-1500:]}")


def ensure_apt(binaries: dict[str, str]) -> None:
    """Install Debian packages for missing binaries ({binary: package})."""
    missing = {b: p for b, p in binaries.items() if not (shutil.which(b) or Path(f"/usr/sbin/{b}").exists())}
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise Missing(f"missing {', '.join(missing)}; install Debian packages {', '.join(set(missing.values()))}")
    env_note = "DEBIAN_FRONTEND=noninteractive"
    os.environ.setdefault("DEBIAN_FRONTEND", "noninteractive")
    log(f"installing {' '.join(sorted(set(missing.values())))} ({env_note})")
    _run(["apt-get", "update", "-q"])
    _run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *sorted(set(missing.values()))])


def _can_import(python: str, modules: tuple[str, ...]) -> bool:
    code = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)"
    return subprocess.run([python, "-c", code, *modules], capture_output=True).returncode == 0


def bench_python(explicit: str | None = None) -> str:
    """A Python with our projects and the comparison libraries importable.

    The project's own venv when it has them, else a venv of the benchmark's own.
    """
    if explicit:
        if not _can_import(explicit, BENCH_MODULES):
            raise Missing(f"{explicit} cannot import {', '.join(BENCH_MODULES)}")
        return explicit
    project = ROOT / ".venv" / "bin" / "python"
    if project.exists() and _can_import(str(project), BENCH_MODULES):
        return str(project)
    venv = PEERS / "venv"
    py = venv / "bin" / "python"
    if not (py.exists() and _can_import(str(py), BENCH_MODULES)):
        log("creating the benchmark venv under bench/.peers/venv")
        _run([sys.executable, "-m", "venv", str(venv)])
        _run([str(py), "-m", "pip", "install", "-q", *BENCH_PACKAGES])
        for sub in ("sdk", "gateway"):
            if (ROOT / sub / "pyproject.toml").exists():
                try:
                    _run([str(py), "-m", "pip", "install", "-q", "-e", str(ROOT / sub)])
                except Missing as exc:
                    log(f"could not install {sub}: {exc}")
    return str(py)


def source_path() -> str:
    """PYTHONPATH that makes the repo's packages importable even when not installed."""
    parts = [str(ROOT / "sdk" / "src"), str(ROOT / "gateway" / "src")]
    if os.environ.get("PYTHONPATH"):
        parts.append(os.environ["PYTHONPATH"])
    return os.pathsep.join(parts)


def litellm() -> Path:
    """The `litellm` CLI from its own venv (never the project's)."""
    venv = PEERS / "litellm-venv"
    exe = venv / "bin" / "litellm"
    if exe.exists() and _can_import(str(venv / "bin" / "python"), ("litellm.proxy.proxy_server",)):
        return exe
    log("installing litellm[proxy] into bench/.peers/litellm-venv (a few minutes)")
    PEERS.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "venv", str(venv)])
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "litellm[proxy]"])
    return exe


def litellm_version() -> str:
    py = PEERS / "litellm-venv" / "bin" / "python"
    out = subprocess.run(
        [str(py), "-c", "import importlib.metadata as m; print(m.version('litellm'))"], capture_output=True, text=True
    )
    return out.stdout.strip() or "?"


def portkey() -> Path:
    """Portkey's gateway entry script, installed with npm under bench/.peers/portkey."""
    folder = PEERS / "portkey"
    entry = folder / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
    manifest = {
        "name": "meshapi-bench-portkey",
        "private": True,
        "dependencies": {"@portkey-ai/gateway": PORTKEY_VERSION, "@hono/node-server": HONO_NODE_SERVER},
        "overrides": {"@hono/node-server": HONO_NODE_SERVER},
    }
    pkg = folder / "package.json"
    if entry.exists() and pkg.exists() and json.loads(pkg.read_text()) == manifest:
        return entry
    if not shutil.which("npm") or not shutil.which("node"):
        raise Missing("node and npm are needed for the Portkey gateway")
    folder.mkdir(parents=True, exist_ok=True)
    pkg.write_text(json.dumps(manifest, indent=2))
    log(f"installing @portkey-ai/gateway@{PORTKEY_VERSION} into bench/.peers/portkey")
    _run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder)
    return entry
