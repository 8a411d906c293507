"""PEP 562 lazy attribute loading shared by ``meshapi`` and ``meshapi.types``.

Creating pydantic model classes is the dominant import cost; deferring it
until a name is used keeps ``import meshapi`` near the cost of httpx+pydantic.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Dict, List


def lazy_module(package: str, names: Dict[str, str], namespace: Dict[str, Any]) -> Callable[[str], Any]:
    """Return a module ``__getattr__`` resolving ``names`` (name -> submodule)."""

    def __getattr__(name: str) -> Any:
        module_name = names.get(name)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module_name, package), name)
        namespace[name] = value
        return value

    return __getattr__


def lazy_dir(names: Dict[str, str], namespace: Dict[str, Any]) -> Callable[[], List[str]]:
    def __dir__() -> List[str]:
        return sorted(set(namespace) | set(names))

    return __dir__
