"""``client.files``: batch input files (upload, metadata, content, delete)."""

from __future__ import annotations

from typing import Any, Mapping, Union

from .._base_client import APIRequest, parse_bytes, parse_json, parse_none
from ..types.files import FileObject, UploadBatchFileParams
from ._base import AsyncAPIResource, SyncAPIResource
from ._shared import params_request, path_id, simple_request

__all__ = ["AsyncFiles", "Files"]

_parse = parse_json(FileObject)

Params = Union[UploadBatchFileParams, Mapping[str, Any], None]


def _upload(params: Params, kwargs: Any) -> APIRequest[FileObject]:
    return params_request("POST", "/v1/files", _parse, UploadBatchFileParams, params, kwargs, "upload")


def _get(file_id: str, kw: Any) -> APIRequest[FileObject]:
    return simple_request("GET", f"/v1/files/{path_id(file_id)}", _parse, kw, "get")


def _content(file_id: str, kw: Any) -> APIRequest[bytes]:
    return simple_request("GET", f"/v1/files/{path_id(file_id)}/content", parse_bytes, kw, "content", accept="*/*")


def _delete(file_id: str, kw: Any) -> APIRequest[None]:
    return simple_request("DELETE", f"/v1/files/{path_id(file_id)}", parse_none, kw, "delete")


class Files(SyncAPIResource):
    def upload(self, params: Params = None, /, **kwargs: Any) -> FileObject:
        """POST /v1/files with ``{purpose, requests}`` (the gateway writes the JSONL)."""
        return self._t.request(_upload(params, kwargs))

    def get(self, file_id: str, **options: Any) -> FileObject:
        return self._t.request(_get(file_id, options))

    def content(self, file_id: str, **options: Any) -> bytes:
        """Raw file bytes (JSONL for batch output files)."""
        return self._t.request(_content(file_id, options))

    def delete(self, file_id: str, **options: Any) -> None:
        self._t.request(_delete(file_id, options))


class AsyncFiles(AsyncAPIResource):
    async def upload(self, params: Params = None, /, **kwargs: Any) -> FileObject:
        return await self._t.request(_upload(params, kwargs))

    async def get(self, file_id: str, **options: Any) -> FileObject:
        return await self._t.request(_get(file_id, options))

    async def content(self, file_id: str, **options: Any) -> bytes:
        return await self._t.request(_content(file_id, options))

    async def delete(self, file_id: str, **options: Any) -> None:
        await self._t.request(_delete(file_id, options))
