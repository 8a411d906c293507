"""``client.router``: preview which model ``model="auto"`` would choose for a conversation, and why."""

from __future__ import annotations

from typing import Any, Dict, List, Literal, Mapping, Optional, Sequence, Union

from .._base_client import APIRequest, parse_json
from .._types import NOT_GIVEN, NotGiven
from ..types.router import RouterSelection, RouterSelectParams
from ._base import AsyncAPIResource, SyncAPIResource
from ._hints import suggest_keywords
from ._shared import Timeout, params_request
from .chat import MessageParam, ToolParam

__all__ = ["AsyncRouter", "Router"]

_parse = parse_json(RouterSelection)

SelectParams = Union[RouterSelectParams, Mapping[str, Any], None]


def _select(arguments: Dict[str, Any]) -> APIRequest[RouterSelection]:
    params = arguments["params"]
    return params_request("POST", "/v1/router/select", _parse, RouterSelectParams, params, arguments, "select")


class Router(SyncAPIResource):
    @suggest_keywords
    def select(
        self,
        params: SelectParams = None,
        /,
        *,
        messages: Union[Sequence[MessageParam], NotGiven] = NOT_GIVEN,
        api_type: Union[Literal["completions", "responses", "embeddings"], NotGiven, None] = NOT_GIVEN,
        exclude_models: Union[List[str], NotGiven, None] = NOT_GIVEN,
        tools: Union[Sequence[ToolParam], NotGiven, None] = NOT_GIVEN,
        response_format: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        reasoning_effort: Union[Literal["high", "medium", "low", "minimal", "none"], NotGiven, None] = NOT_GIVEN,
        max_tokens: Union[int, NotGiven, None] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> RouterSelection:
        """The model ``model="auto"`` would serve these messages with, and every candidate's fate.

        No model is called and nothing is billed. A params object or dict (as 0.1.11
        takes) works too; keyword arguments win over it.
        """
        return self._t.request(_select(locals()))


class AsyncRouter(AsyncAPIResource):
    @suggest_keywords
    async def select(
        self,
        params: SelectParams = None,
        /,
        *,
        messages: Union[Sequence[MessageParam], NotGiven] = NOT_GIVEN,
        api_type: Union[Literal["completions", "responses", "embeddings"], NotGiven, None] = NOT_GIVEN,
        exclude_models: Union[List[str], NotGiven, None] = NOT_GIVEN,
        tools: Union[Sequence[ToolParam], NotGiven, None] = NOT_GIVEN,
        response_format: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        reasoning_effort: Union[Literal["high", "medium", "low", "minimal", "none"], NotGiven, None] = NOT_GIVEN,
        max_tokens: Union[int, NotGiven, None] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> RouterSelection:
        """The model ``model="auto"`` would serve these messages with, and every candidate's fate."""
        return await self._t.request(_select(locals()))
