"""``/v1/files``: upload (the seed's JSON form and OpenAI's multipart form), describe, list, download, delete.

Routes stay thin: they authenticate, pick the upload form by Content-Type and hand the
lines to the checker and the file service.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Message

from meshapi_gateway.api.common import gw, json_response
from meshapi_gateway.api.openapi import EXTRA_PATHS, _op
from meshapi_gateway.auth.authenticate import authenticate
from meshapi_gateway.errors import GatewayError, field_error, validation_error
from meshapi_gateway.files.batch_lines import LineChecker, LineSplitter
from meshapi_gateway.files.json_upload import convert, read_back, spool_body, too_large
from meshapi_gateway.files.service import FileService, file_object
from meshapi_gateway.files.storage import CHUNK_BYTES

BATCH_PURPOSE = "batch"

EXTRA_PATHS.update(
    {
        "/v1/files": {
            "post": _op("Upload a batch input file (JSON {purpose, requests} or multipart JSONL)"),
            "get": _op("List files (newest first; after, limit, order, purpose)"),
        },
        "/v1/files/{file_id}": {"get": _op("Get a file object"), "delete": _op("Delete a file (204)", status=204)},
        "/v1/files/{file_id}/content": {"get": _op("Download a file's bytes")},
    }
)


def files_service(request: Request) -> FileService:
    service = gw(request).files
    assert service is not None  # installed at start-up by batches/setup.py
    return service


def _size_limited(request: Request, limit: int) -> Request:
    """The same request, with a body reader that stops at ``limit`` bytes (uploads may be chunked)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    received = 0
    upstream_receive = request.receive

    async def receive() -> Message:
        nonlocal received
        message = await upstream_receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise too_large(limit)
        return message

    return Request(request.scope, receive)


def _check_purpose(purpose: Any) -> None:
    if purpose != BATCH_PURPOSE:
        raise field_error(
            "purpose", "Only purpose 'batch' is supported.", value=purpose if isinstance(purpose, str) else None
        )


async def upload_file(request: Request) -> Response:
    state = gw(request)
    principal = await authenticate(state, request.headers.get("authorization"), "data")
    limit = state.settings.max_file_bytes
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        row = await _upload_multipart(_size_limited(request, limit), principal.owner)
        return json_response(file_object(row))
    folder = state.settings.data_dir / "uploads"
    body = await spool_body(request, limit, folder)
    try:
        checker = LineChecker(state.catalog)
        converted = await asyncio.to_thread(convert, body, checker, limit, folder)
    finally:
        body.close()
    with converted.lines_file as lines:
        keys = converted.keys
        if "requests" not in keys and ("file_name" in keys or "mime_type" in keys):
            raise GatewayError(
                "not_implemented",
                "Document uploads (file_name/mime_type) are not supported by this "
                "gateway; upload batch requests as JSON or multipart JSONL.",
            )
        if "requests" not in keys:
            raise field_error("requests", "Field required", type_="missing")
        _check_purpose(converted.purpose if "purpose" in keys else BATCH_PURPOSE)
        checker.result.raise_if_invalid()
        row = await files_service(request).store(
            principal.owner, BATCH_PURPOSE, "batch_requests.jsonl", read_back(lines), lines=checker.result.lines
        )
    return json_response(file_object(row))


async def _upload_multipart(request: Request, owner: str) -> Any:
    state = gw(request)
    async with request.form(max_files=1, max_fields=20) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise field_error("file", "A file part named 'file' is required.", type_="missing")
        _check_purpose(form.get("purpose"))
        checker = LineChecker(state.catalog)
        splitter = LineSplitter()
        while chunk := await upload.read(CHUNK_BYTES):
            for number, line in splitter.feed(chunk):
                checker.check(number, line)
        for number, line in splitter.finish():
            checker.check(number, line)
        checker.result.raise_if_invalid()
        await upload.seek(0)

        async def content() -> AsyncIterator[bytes]:
            while piece := await upload.read(CHUNK_BYTES):
                yield piece

        return await files_service(request).store(
            owner, BATCH_PURPOSE, upload.filename or "batch.jsonl", content(), lines=checker.result.lines
        )


def query_limit(request: Request, default: int, maximum: int) -> int:
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return default
    # ASCII digits only: int() also reads other scripts' digits (and '²' passes isdigit()).
    value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else 0
    if not 1 <= value <= maximum:
        raise validation_error(
            [
                {
                    "type": "less_than_equal",
                    "loc": ["query", "limit"],
                    "msg": f"limit must be an integer from 1 to {maximum}",
                    "input": raw,
                }
            ]
        )
    return value


def list_envelope(items: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": items,
        "has_more": has_more,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
    }


async def list_files(request: Request) -> Response:
    principal = await authenticate(gw(request), request.headers.get("authorization"), "data")
    q = request.query_params
    order = q.get("order") or "desc"
    if order not in ("asc", "desc"):
        raise validation_error(
            [{"type": "literal_error", "loc": ["query", "order"], "msg": "order must be asc or desc", "input": order}]
        )
    rows, has_more = await files_service(request).list(
        principal.owner,
        limit=query_limit(request, 100, 10000),
        after=q.get("after") or None,
        order=order,
        purpose=q.get("purpose") or None,
    )
    return json_response(list_envelope([file_object(r) for r in rows], has_more))


async def get_file(request: Request) -> Response:
    principal = await authenticate(gw(request), request.headers.get("authorization"), "data")
    row = await files_service(request).get(principal.owner, request.path_params["file_id"])
    return json_response(file_object(row))


async def file_content(request: Request) -> Response:
    principal = await authenticate(gw(request), request.headers.get("authorization"), "data")
    service = files_service(request)
    row = await service.get(principal.owner, request.path_params["file_id"])
    safe_name = "".join(c for c in row.filename if c.isalnum() or c in "._-") or "file"
    chunks = service.content(row)
    # Read the first chunk before answering, so a missing or unreadable file is a clean error, not a cut body.
    try:
        first = await chunks.__anext__()
    except StopAsyncIteration:
        first = b""
    except FileNotFoundError:
        raise GatewayError("file_not_found", f"The bytes of file '{row.id}' are missing from storage.") from None

    async def body() -> AsyncIterator[bytes]:
        yield first
        async for chunk in chunks:
            yield chunk

    return StreamingResponse(
        body(),
        media_type="application/octet-stream",
        headers={"content-length": str(row.bytes), "content-disposition": f'attachment; filename="{safe_name}"'},
    )


async def delete_file(request: Request) -> Response:
    principal = await authenticate(gw(request), request.headers.get("authorization"), "data")
    await files_service(request).delete(principal.owner, request.path_params["file_id"])
    return Response(status_code=204)
