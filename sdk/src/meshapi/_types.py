"""``NOT_GIVEN``: the default of every typed keyword parameter of a resource method.

A keyword left at ``NOT_GIVEN`` is not sent and leaves a positional params
object's value alone; ``None`` is a value (it clears that field of the params
object, and a field that ends up ``None`` is not sent). The type ``NotGiven``
lets a signature say "``float``, ``None`` or not given" to IDEs and mypy.
"""

from __future__ import annotations

from typing import Final

__all__ = ["NOT_GIVEN", "NotGiven"]


class NotGiven:
    """The type of :data:`NOT_GIVEN`; falsy, so ``if value:`` treats it as absent."""

    __slots__ = ()

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __reduce__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Final = NotGiven()
