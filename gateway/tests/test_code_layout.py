"""The package's layering, read from its source: the rules docs/architecture.md states.

These hold the shape of the code, not its behaviour, so a move that breaks a layer fails
here at once instead of surfacing later as an import circle or a tangle.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import meshapi_gateway

PACKAGE = Path(meshapi_gateway.__file__).resolve().parent

# The HTTP layer and what assembles or wraps it; everything else is domain code.
HTTP_LAYER = ("api/", "app.py", "idempotency/asgi.py")


def _modules() -> dict[str, ast.Module]:
    return {p.relative_to(PACKAGE).as_posix(): ast.parse(p.read_text(), str(p)) for p in PACKAGE.rglob("*.py")}


def _imported(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_domain_code_never_imports_the_http_layer() -> None:
    offenders = {
        path: sorted(name for name in _imported(tree) if name == "meshapi_gateway.api" or
                     name.startswith("meshapi_gateway.api."))
        for path, tree in _modules().items() if not path.startswith(HTTP_LAYER)
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_request_bounds_are_written_once() -> None:
    """Temperature's bounds live in request_schemas; a second copy would drift."""
    copies = [path for path, tree in _modules().items()
              if re.search(r"\bge=0, le=2\b", ast.unparse(tree)) and path != "request_schemas.py"]
    assert copies == []
