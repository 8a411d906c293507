"""Helpers every resource uses to turn ``(params, **kwargs)`` into an :class:`APIRequest`.

Accepting a params object, a plain dict or keyword arguments (or a mix, the
keywords winning) is handled once here, as are the per-call options
``extra_headers``, ``extra_query``, ``extra_body`` and ``timeout``.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Mapping, Optional, Type, TypeVar, Union
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from .._base_client import APIRequest, Parser

__all__ = [
    "RequestOptions",
    "build",
    "coerce_params",
    "encode",
    "params_request",
    "path_id",
    "simple_request",
    "split_options",
]

P = TypeVar("P", bound=BaseModel)
T = TypeVar("T")

_OPTION_KEYS = frozenset({"extra_headers", "extra_query", "extra_body", "timeout"})


class RequestOptions:
    __slots__ = ("extra_body", "extra_headers", "extra_query", "timeout")

    def __init__(
        self,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Union[float, httpx.Timeout, None] = None,
    ) -> None:
        self.extra_headers = extra_headers
        self.extra_query = extra_query
        self.extra_body = extra_body
        self.timeout = timeout


_NO_OPTIONS = RequestOptions()


def split_options(kwargs: Dict[str, Any]) -> RequestOptions:
    """Remove the per-call options from ``kwargs`` (in place)."""
    if not kwargs or _OPTION_KEYS.isdisjoint(kwargs):
        return _NO_OPTIONS
    return RequestOptions(**{key: kwargs.pop(key) for key in list(kwargs) if key in _OPTION_KEYS})


def coerce_params(cls: Type[P], params: Union[P, Mapping[str, Any], None], kwargs: Dict[str, Any], where: str) -> P:
    """Build ``cls`` from a params object, a dict and/or keyword arguments."""
    if kwargs:
        unknown = [k for k in kwargs if k not in cls.model_fields]
        if unknown:
            import difflib

            name = unknown[0]
            hint = difflib.get_close_matches(name, list(cls.model_fields), n=1)
            suffix = f"; did you mean {hint[0]!r}?" if hint else ""
            raise TypeError(f"{where}() got an unexpected keyword argument {name!r}{suffix}")
    if params is None:
        return cls(**kwargs)
    if isinstance(params, cls):
        if not kwargs:
            return params
        merged = params.model_dump(exclude_unset=True)
        merged.update(kwargs)
        return cls.model_validate(merged)
    if isinstance(params, Mapping):
        return cls.model_validate({**params, **kwargs} if kwargs else params)
    if isinstance(params, BaseModel):
        data = params.model_dump(exclude_unset=True)
        data.update(kwargs)
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
    kwargs: Dict[str, Any],
    where: str,
    *,
    stream: Optional[bool] = None,
) -> APIRequest[T]:
    """An :class:`APIRequest` whose JSON body is a ``cls`` built from ``(params, **kwargs)``.

    With ``stream`` given, the body's ``stream`` field is forced to it, and a
    non-streaming call refuses ``stream=True`` (that is what ``stream()`` is for).
    """
    options = split_options(kwargs)
    if stream is False and kwargs.get("stream"):
        raise TypeError(f"{where}() always returns a complete response; call stream() to stream")
    model = coerce_params(cls, params, kwargs, where)
    overrides = None if stream is None or getattr(model, "stream", None) is stream else {"stream": stream}
    return build(method, path, parse, options, body=encode(model, options, overrides))


def simple_request(
    method: str,
    path: str,
    parse: Parser[T],
    options_kwargs: Dict[str, Any],
    where: str,
    *,
    body: Optional[bytes] = None,
    query: Optional[Dict[str, str]] = None,
    accept: str = "application/json",
) -> APIRequest[T]:
    """An :class:`APIRequest` for calls whose only keyword arguments are options."""
    options = split_options(options_kwargs)
    if options_kwargs:
        raise TypeError(f"{where}() got an unexpected keyword argument {next(iter(options_kwargs))!r}")
    if options.extra_body and body is not None:
        merged = json.loads(body)
        merged.update(options.extra_body)
        body = json.dumps(merged, separators=(",", ":")).encode()
    return build(method, path, parse, options, body=body, query=query, accept=accept)
