"""A misspelled keyword argument of a resource method names the closest real one.

Resource methods spell out their keyword parameters (so IDEs and type checkers
see them), so Python itself rejects an unknown keyword before the method runs;
:func:`suggest_keywords` adds "did you mean ...?" to that ``TypeError``.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, TypeVar, cast

if TYPE_CHECKING:
    from typing_extensions import ParamSpec

    P = ParamSpec("P")

__all__ = ["suggest_keywords"]

R = TypeVar("R")


def suggest_keywords(method: Callable[P, R]) -> Callable[P, R]:
    """Wrap ``method`` so that an unknown keyword argument raises a ``TypeError`` with a suggestion."""
    parameters = inspect.signature(method).parameters
    names = [name for name, p in parameters.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    where = method.__name__

    def hinted(kwargs: Dict[str, Any]) -> Optional[TypeError]:
        unknown = [name for name in kwargs if name not in parameters or parameters[name].kind is _POSITIONAL]
        if not unknown:
            return None
        hint: List[str] = difflib.get_close_matches(unknown[0], names, n=1)
        suffix = f"; did you mean {hint[0]!r}?" if hint else ""
        return TypeError(f"{where}() got an unexpected keyword argument {unknown[0]!r}{suffix}")

    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def call_async(*args: Any, **kwargs: Any) -> Any:
            try:
                coroutine = method(*args, **kwargs)
            except TypeError:
                error = hinted(kwargs)
                if error is None:
                    raise
                raise error from None
            return await coroutine

        return cast("Callable[P, R]", call_async)

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except TypeError:
            # An unknown keyword fails the call before the body runs, so a TypeError from
            # further in (with only known keywords) goes on unchanged.
            error = hinted(kwargs)
            if error is None:
                raise
            raise error from None

    return cast("Callable[P, R]", call)


_POSITIONAL = inspect.Parameter.POSITIONAL_ONLY
