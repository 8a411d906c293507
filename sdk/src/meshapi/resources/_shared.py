"""Helpers every resource uses to turn a method's arguments into an :class:`APIRequest`.

A resource method takes an optional positional params object (or dict) and
typed keyword arguments that default to ``NOT_GIVEN``; it hands its
``locals()`` to :func:`call_parts`, which splits them into the body fields
the caller gave and the per-call options (``extra_headers``, ``extra_query``,
``extra_body``, ``timeout``). Merging the params object with the keywords
(the keywords winning) is handled once here.
"""

from __future__ import annotations

import json
from typing import Any, Dict, FrozenSet, Mapping, Optional, Tuple, Type, TypeVar, Union
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from .._base_client import APIRequest, Parser
from .._types import NOT_GIVEN

__all__ = [
    "RequestOptions",
    "Timeout",
    "build",
    "call_parts",
    "coerce_params",
    "encode",
    "options_of",
    "params_request",
    "path_id",
    "simple_request",
]

P = TypeVar("P", bound=BaseModel)
T = TypeVar("T")

# The positional params object of a method, unless ``params`` is a body field of the resource.
_PARAMS = frozenset({"params"})

# The per-call ``timeout``: seconds, an httpx.Timeout, or None for the client's own.
Timeout = Union[float, httpx.Timeout, None]


class RequestOptions:
    __slots__ = ("extra_body", "extra_headers", "extra_query", "timeout")

    def __init__(
        self,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> None:
        self.extra_headers = extra_headers
        self.extra_query = extra_query
        self.extra_body = extra_body
        self.timeout = timeout


_NO_OPTIONS = RequestOptions()


def call_parts(arguments: Dict[str, Any], skip: FrozenSet[str] = _PARAMS) -> Tuple[Dict[str, Any], RequestOptions]:
    """Split a resource method's ``locals()`` into its given body fields and its per-call options.

    ``skip`` names the arguments that are not body fields (the positional params object, a path id).
    The method must call ``locals()`` before it assigns any variable of its own.
    """
    not_given = NOT_GIVEN
    fields = {name: value for name, value in arguments.items() if value is not not_given}
    del fields["self"]
    for name in skip:
        fields.pop(name, None)
    headers = fields.pop("extra_headers", None)
    query = fields.pop("extra_query", None)
    body = fields.pop("extra_body", None)
    timeout = fields.pop("timeout", None)
    if headers is None and query is None and body is None and timeout is None:
        return fields, _NO_OPTIONS
    return fields, RequestOptions(headers, query, body, timeout)


def options_of(arguments: Dict[str, Any]) -> RequestOptions:
    """The per-call options among a resource method's ``locals()``."""
    get = arguments.get
    headers, query, body, timeout = get("extra_headers"), get("extra_query"), get("extra_body"), get("timeout")
    if headers is None and query is None and body is None and timeout is None:
        return _NO_OPTIONS
    return RequestOptions(headers, query, body, timeout)


def coerce_params(cls: Type[P], params: Union[P, Mapping[str, Any], None], fields: Dict[str, Any], where: str) -> P:
    """Build ``cls`` from a params object or dict and the keyword fields (which win)."""
    if params is None:
        return cls(**fields)
    if isinstance(params, cls):
        if not fields:
            return params
        merged = params.model_dump(exclude_unset=True)
        merged.update(fields)
        return cls.model_validate(merged)
    if isinstance(params, Mapping):
        return cls.model_validate({**params, **fields} if fields else params)
    if isinstance(params, BaseModel):
        data = params.model_dump(exclude_unset=True)
        data.update(fields)
        return cls.model_validate(data)
    raise TypeError(f"{where}() expects a {cls.__name__}, a dict or keyword arguments, not {type(params).__name__}")


def encode(
    params: Optional[BaseModel],
    options: RequestOptions,
    overrides: Optional[Dict[str, Any]] = None,
) -> bytes:
    """JSON body as ``model_dump(exclude_none=True)`` plus overrides and ``extra_body``."""
    if params is None:
        body: Dict[str, Any] = {}
    elif options.extra_body is None:
        if overrides:
            params = params.model_copy(update=overrides)
        return params.model_dump_json(exclude_none=True).encode()
    else:
        body = params.model_dump(mode="json", exclude_none=True)
    if overrides:
        body.update(overrides)
    if options.extra_body:
        body.update(options.extra_body)
    return json.dumps(body, separators=(",", ":")).encode()


def path_id(value: str) -> str:
    """URL-encode an id for use as one path segment."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"Expected a non-empty id string, got {value!r}")
    return quote(value, safe="")


def merge_query(query: Optional[Dict[str, str]], options: RequestOptions) -> Optional[Dict[str, str]]:
    if not options.extra_query:
        return query
    merged = dict(query or {})
    merged.update({k: str(v) for k, v in options.extra_query.items()})
    return merged


def build(
    method: str,
    path: str,
    parse: Parser[T],
    options: RequestOptions,
    *,
    body: Optional[bytes] = None,
    query: Optional[Dict[str, str]] = None,
    accept: str = "application/json",
) -> APIRequest[T]:
    """The :class:`APIRequest` for a call, with the per-call options applied."""
    return APIRequest(
        method,
        path,
        parse,
        body=body,
        query=merge_query(query, options),
        headers=options.extra_headers or None,
        timeout=options.timeout,
        accept=accept,
    )


def params_request(
    method: str,
    path: str,
    parse: Parser[T],
    cls: Type[P],
    params: Union[P, Mapping[str, Any], None],
    arguments: Dict[str, Any],
    where: str,
    *,
    stream: Optional[bool] = None,
    skip: FrozenSet[str] = _PARAMS,
) -> APIRequest[T]:
    """An :class:`APIRequest` whose JSON body is a ``cls`` built from ``params`` and the method's ``locals()``.

    With ``stream`` given, the body's ``stream`` field is forced to it, and a
    non-streaming call refuses ``stream=True`` (that is what ``stream()`` is for).
    """
    fields, options = call_parts(arguments, skip)
    if stream is False and fields.get("stream"):
        raise TypeError(f"{where}() always returns a complete response; call stream() to stream")
    model = coerce_params(cls, params, fields, where)
    overrides = None if stream is None or getattr(model, "stream", None) is stream else {"stream": stream}
    return build(method, path, parse, options, body=encode(model, options, overrides))


def simple_request(
    method: str,
    path: str,
    parse: Parser[T],
    options: RequestOptions,
    *,
    body: Optional[bytes] = None,
    query: Optional[Dict[str, str]] = None,
    accept: str = "application/json",
) -> APIRequest[T]:
    """An :class:`APIRequest` for calls without a params body (get, list, delete ...)."""
    if options.extra_body and body is not None:
        merged = json.loads(body)
        merged.update(options.extra_body)
        body = json.dumps(merged, separators=(",", ":")).encode()
    return build(method, path, parse, options, body=body, query=query, accept=accept)
