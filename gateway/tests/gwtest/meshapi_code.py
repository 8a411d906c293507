"""The published meshapi-code terminal client in its own virtual environment.

It installs a top-level ``meshapi`` package that would shadow our SDK, so it never goes
into the test environment: it lives in ``~/.cache/meshapi/meshapi-code-<version>`` (made
once with ``pip install meshapi-code==<version>``, reused afterwards).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

VERSION = "0.5.10"


def venv_dir(version: str = VERSION) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "meshapi" / f"meshapi-code-{version}"


def executable(version: str = VERSION) -> tuple[Path | None, str]:
    """The ``meshapi`` command of that release, installing it if needed; or None and why not."""
    folder = venv_dir(version)
    command = folder / "bin" / "meshapi"
    if command.is_file():
        return command, ""
    try:
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, capture_output=True, timeout=300)
        subprocess.run(
            [str(folder / "bin" / "python"), "-m", "pip", "install", "-q", f"meshapi-code=={version}"],
            check=True,
            capture_output=True,
            timeout=600,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        return None, f"meshapi-code {version} could not be installed in {folder}: {exc} {detail[-300:]!r}"
    return (command, "") if command.is_file() else (None, f"meshapi-code {version} installed no `meshapi` command")
