"""Pydantic base classes shared by every request and response type.

Two policies live here so each type module does not restate them:

* request params (:class:`RequestParams`) forbid unknown fields, so a
  misspelled keyword argument fails loudly instead of being dropped (0.1.0
  silently ignored them);
* everything the server sends (:class:`ResponseModel`) keeps unknown fields,
  so a newer gateway never breaks an older SDK.

``DecimalStr`` types money as a decimal string (what the wire carries) while
accepting JSON numbers too.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

__all__ = ["DecimalStr", "Model", "RequestParams", "ResponseModel"]


class RequestParams(BaseModel):
    """Base of every ``*Params`` model: strict about field names."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, protected_namespaces=())


class Model(BaseModel):
    """Base of nested request pieces and all response objects: open to new fields."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, protected_namespaces=())


ResponseModel = Model


def _to_decimal_str(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, float):
        # repr() is the shortest string that round-trips; avoids "1e-05".
        return format(Decimal(repr(value)), "f")
    return value


DecimalStr = Annotated[str, BeforeValidator(_to_decimal_str)]
