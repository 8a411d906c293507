"""``client.router``: preview which model ``model="auto"`` would choose for a conversation, and why."""

from __future__ import annotations

from typing import Any, Dict, Literal, Mapping, Optional, Sequence, Union

from .._base_client import APIRequest, parse_json
from ..types.chat import ChatMessage, Tool
from ..types.router import RouterSelection, RouterSelectParams
from ._base import AsyncAPIResource, SyncAPIResource
from ._shared import params_request

__all__ = ["AsyncRouter", "Router"]

_parse = parse_json(RouterSelection)

SelectParams = Union[RouterSelectParams, Mapping[str, Any], None]
Message = Union[ChatMessage, Mapping[str, Any]]


def _select(params: SelectParams, fields: Dict[str, Any], options: Dict[str, Any]) -> APIRequest[RouterSelection]:
    kwargs = {k: v for k, v in fields.items() if v is not None}
    kwargs.update(options)
    return params_request("POST", "/v1/router/select", _parse, RouterSelectParams, params, kwargs, "select")


class Router(SyncAPIResource):
    def select(
        self,
        params: SelectParams = None,
        /,
        *,
        messages: Optional[Sequence[Message]] = None,
        api_type: Optional[Literal["completions", "responses", "embeddings"]] = None,
        exclude_models: Optional[Sequence[str]] = None,
        tools: Optional[Sequence[Union[Tool, Mapping[str, Any]]]] = None,
        response_format: Optional[Mapping[str, Any]] = None,
        reasoning_effort: Optional[Literal["high", "medium", "low", "minimal", "none"]] = None,
        max_tokens: Optional[int] = None,
        **options: Any,
    ) -> RouterSelection:
        """The model ``model="auto"`` would serve these messages with, and every candidate's fate.

        No model is called and nothing is billed. A params object or dict (as 0.1.11
        takes) works too; keyword arguments win over it.
        """
        fields = {"messages": messages, "api_type": api_type, "exclude_models": exclude_models, "tools": tools,
                  "response_format": response_format, "reasoning_effort": reasoning_effort,
                  "max_tokens": max_tokens}
        return self._t.request(_select(params, fields, options))


class AsyncRouter(AsyncAPIResource):
    async def select(
        self,
        params: SelectParams = None,
        /,
        *,
        messages: Optional[Sequence[Message]] = None,
        api_type: Optional[Literal["completions", "responses", "embeddings"]] = None,
        exclude_models: Optional[Sequence[str]] = None,
        tools: Optional[Sequence[Union[Tool, Mapping[str, Any]]]] = None,
        response_format: Optional[Mapping[str, Any]] = None,
        reasoning_effort: Optional[Literal["high", "medium", "low", "minimal", "none"]] = None,
        max_tokens: Optional[int] = None,
        **options: Any,
    ) -> RouterSelection:
        fields = {"messages": messages, "api_type": api_type, "exclude_models": exclude_models, "tools": tools,
                  "response_format": response_format, "reasoning_effort": reasoning_effort,
                  "max_tokens": max_tokens}
        return await self._t.request(_select(params, fields, options))
