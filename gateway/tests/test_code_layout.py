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


def _module_name(path: str) -> str:
    parts = ["meshapi_gateway", *path.removesuffix(".py").split("/")]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(tree: ast.Module) -> set[str]:
    """Names a module imports from the package when it runs, lazily or not; TYPE_CHECKING blocks aside.

    ``from pkg import name`` gives ``pkg.name``: a submodule when there is one, else a symbol of pkg.
    """
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("meshapi_gateway"):
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("meshapi_gateway"))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _import_graph() -> dict[str, set[str]]:
    """Module → the modules of the package it imports (the deepest module each imported name lies in)."""
    modules = {_module_name(path): tree for path, tree in _modules().items()}

    def owner(name: str) -> str:
        while name not in modules:
            name = name.rsplit(".", 1)[0]
        return name

    return {name: {owner(i) for i in _runtime_imports(tree)} - {name} for name, tree in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles_outside_type_checking() -> None:
    """Lazy imports inside functions count: they only hide a circle until the function runs."""
    assert _cycles(_import_graph()) == []


def test_domain_code_never_imports_the_http_layer() -> None:
    offenders = {
        path: sorted(
            name for name in _imported(tree) if name == "meshapi_gateway.api" or name.startswith("meshapi_gateway.api.")
        )
        for path, tree in _modules().items()
        if not path.startswith(HTTP_LAYER)
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_request_bounds_are_written_once() -> None:
    """Temperature's bounds live in request_schemas; a second copy would drift."""
    copies = [
        path
        for path, tree in _modules().items()
        if re.search(r"\bge=0, le=2\b", ast.unparse(tree)) and path != "request_schemas.py"
    ]
    assert copies == []


def test_money_is_formatted_in_one_place() -> None:
    """Costs, balances and prices read alike only while one function writes them."""
    writers = [
        path
        for path, tree in _modules().items()
        if re.search(r"normalize\(\), ['\"]f['\"]\)", ast.unparse(tree)) and path != "money.py"
    ]
    assert writers == []
