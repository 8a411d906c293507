"""``client.files``: batch input files (upload, metadata, content, delete)."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence, Union

from .._base_client import APIRequest, parse_bytes, parse_json, parse_none
from .._types import NOT_GIVEN, NotGiven
from ..types.files import BatchRequestItem, FileObject, UploadBatchFileParams
from ._base import AsyncAPIResource, SyncAPIResource
from ._hints import suggest_keywords
from ._shared import RequestOptions, Timeout, options_of, params_request, path_id, simple_request

__all__ = ["AsyncFiles", "Files"]

_parse = parse_json(FileObject)

Params = Union[UploadBatchFileParams, Mapping[str, Any], None]
RequestItem = Union[BatchRequestItem, Mapping[str, Any]]


def _upload(arguments: Dict[str, Any]) -> APIRequest[FileObject]:
    params = arguments["params"]
    return params_request("POST", "/v1/files", _parse, UploadBatchFileParams, params, arguments, "upload")


def _get(file_id: str, options: RequestOptions) -> APIRequest[FileObject]:
    return simple_request("GET", f"/v1/files/{path_id(file_id)}", _parse, options)


def _content(file_id: str, options: RequestOptions) -> APIRequest[bytes]:
    return simple_request("GET", f"/v1/files/{path_id(file_id)}/content", parse_bytes, options, accept="*/*")


def _delete(file_id: str, options: RequestOptions) -> APIRequest[None]:
    return simple_request("DELETE", f"/v1/files/{path_id(file_id)}", parse_none, options)


class Files(SyncAPIResource):
    @suggest_keywords
    def upload(
        self,
        params: Params = None,
        /,
        *,
        purpose: Union[str, NotGiven] = NOT_GIVEN,
        requests: Union[Sequence[RequestItem], NotGiven] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> FileObject:
        """POST /v1/files with ``{purpose, requests}`` (the gateway writes the JSONL)."""
        return self._t.request(_upload(locals()))

    def get(
        self,
        file_id: str,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> FileObject:
        return self._t.request(_get(file_id, options_of(locals())))

    def content(
        self,
        file_id: str,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> bytes:
        """Raw file bytes (JSONL for batch output files)."""
        return self._t.request(_content(file_id, options_of(locals())))

    def delete(
        self,
        file_id: str,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> None:
        self._t.request(_delete(file_id, options_of(locals())))


class AsyncFiles(AsyncAPIResource):
    @suggest_keywords
    async def upload(
        self,
        params: Params = None,
        /,
        *,
        purpose: Union[str, NotGiven] = NOT_GIVEN,
        requests: Union[Sequence[RequestItem], NotGiven] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> FileObject:
        """POST /v1/files with ``{purpose, requests}`` (the gateway writes the JSONL)."""
        return await self._t.request(_upload(locals()))

    async def get(
        self,
        file_id: str,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> FileObject:
        return await self._t.request(_get(file_id, options_of(locals())))

    async def content(
        self,
        file_id: str,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> bytes:
        """Raw file bytes (JSONL for batch output files)."""
        return await self._t.request(_content(file_id, options_of(locals())))

    async def delete(
        self,
        file_id: str,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> None:
        await self._t.request(_delete(file_id, options_of(locals())))
