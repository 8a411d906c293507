"""The seed's JSON upload (``{"purpose": "batch", "requests": [...]}``), without holding it in memory.

The body is spooled to a temporary file as it arrives (refused past ``max_file_bytes``),
then read back by an incremental parser in a worker thread that turns each request into
a JSONL line, checks it and writes it to a second spool, which is what gets stored. So
neither the body nor its parsed form is ever whole in memory, the event loop keeps
serving while a large upload is checked, and the stored file is capped like the body.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, AsyncIterator

import ijson  # type: ignore[import-untyped]
import orjson
from ijson.common import ObjectBuilder  # type: ignore[import-untyped]
from starlette.requests import Request

from meshapi_gateway.errors import GatewayError, field_error, validation_error
from meshapi_gateway.files.batch_lines import CHAT_URL, LineChecker
from meshapi_gateway.json_bounds import MAX_JSON_DEPTH, too_deep

# What a spool keeps in memory before it moves to disk: small uploads never touch the disk.
SPOOL_MEMORY_BYTES = 1024 * 1024
# Reads and writes of the spools happen in the worker thread in pieces of this size.
PIECE_BYTES = 256 * 1024
_STARTS = frozenset({"start_map", "start_array"})
_ENDS = frozenset({"end_map", "end_array"})
_INVALID = object()  # a purpose that is not a plain value


def too_large(limit: int) -> GatewayError:
    return GatewayError("payload_too_large", f"The file is larger than the limit of {limit} bytes.")


def _spool(folder: Path) -> IO[bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES, mode="w+b", dir=str(folder))
    return spool


async def spool_body(request: Request, limit: int, folder: Path) -> IO[bytes]:
    """The request body in a spooled temporary file (rewound), or 413 past ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    spool = _spool(folder)
    try:
        size = 0
        pending: list[bytes] = []
        pending_size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            pending.append(chunk)
            pending_size += len(chunk)
            if pending_size >= PIECE_BYTES:  # a disk write may block: off the event loop
                await asyncio.to_thread(spool.write, b"".join(pending))
                pending, pending_size = [], 0
        if pending:
            await asyncio.to_thread(spool.write, b"".join(pending))
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool


@dataclass
class Converted:
    """What the body held: its top-level keys, its purpose, and the checked JSONL lines (in ``lines_file``)."""

    lines_file: IO[bytes]
    keys: set[str] = field(default_factory=set)
    purpose: Any = None
    bytes: int = 0


class _Converter:
    def __init__(self, checker: LineChecker, out: IO[bytes], limit: int) -> None:
        self.checker = checker
        self.out = out
        self.limit = limit
        self.written = 0
        self.number = 0

    def emit(self, item: Any) -> None:
        self.number += 1
        result = self.checker.result
        result.lines += 1
        if not isinstance(item, dict):
            result.add(self.number, "invalid_json", "Each request must be a JSON object.")
            return
        line_item = {"method": "POST", "url": CHAT_URL, **item}
        try:
            line = orjson.dumps(line_item) + b"\n"
        except orjson.JSONEncodeError:  # integers beyond 64 bits
            result.add(self.number, "invalid_json", "The request holds a number that cannot be stored.")
            return
        self.checker.check_item(self.number, line_item)
        self.written += len(line)
        if self.written > self.limit:
            raise too_large(self.limit)
        self.out.write(line)


def convert(source: IO[bytes], checker: LineChecker, limit: int, folder: Path) -> Converted:
    """Parse the spooled body event by event (blocking: run it in a worker thread)."""
    out = _spool(folder)
    done = Converted(out)
    conv = _Converter(checker, out, limit)
    depth = 0
    builder: ObjectBuilder | None = None
    saw_requests = False
    try:
        for prefix, event, value in ijson.parse(source, buf_size=PIECE_BYTES, use_float=True):
            if event in _STARTS:
                depth += 1
                if depth > MAX_JSON_DEPTH:
                    raise too_deep(["body", *prefix.split(".")][: MAX_JSON_DEPTH + 1])
            elif event in _ENDS:
                depth -= 1
            level = depth - 1 if event in _STARTS else depth  # how deep the container holding this event is
            if builder is not None:  # inside one request
                builder.event(event, value)
                if depth == 2:
                    conv.emit(builder.value)
                    builder = None
                continue
            if level == 0 and event != "start_map" and event not in _ENDS:
                raise validation_error(
                    [{"type": "model_type", "loc": ["body"], "msg": "Request body must be a JSON object"}]
                )
            if level == 1 and event == "map_key":
                if value == "requests" and saw_requests:
                    raise field_error("requests", "requests is given more than once")
                saw_requests = saw_requests or value == "requests"
                done.keys.add(value)
            elif level == 1 and prefix == "purpose":
                done.purpose = value if event not in _STARTS else _INVALID
            elif level == 1 and prefix == "requests" and event != "start_array" and event not in _ENDS:
                raise GatewayError(
                    "invalid_batch_file",
                    "requests must be a list of batch requests.",
                    details=[{"line": 0, "type": "invalid_requests", "msg": "requests must be a list"}],
                )
            elif level == 2 and prefix == "requests.item":
                if event in _STARTS:
                    builder = ObjectBuilder()
                    builder.event(event, value)
                elif event not in _ENDS:
                    conv.emit(value)
        out.flush()
        done.bytes = conv.written
        out.seek(0)
    except ijson.JSONError as exc:
        out.close()
        msg = str(exc).splitlines()[0][:200] if str(exc) else "JSON decode error"
        raise validation_error(
            [{"type": "json_invalid", "loc": ["body"], "msg": msg}], "Request body is not valid JSON."
        ) from None
    except BaseException:
        out.close()
        raise
    return done


async def read_back(spool: IO[bytes]) -> AsyncIterator[bytes]:
    """A spool's bytes in pieces, each read off the event loop."""
    while piece := await asyncio.to_thread(spool.read, PIECE_BYTES):
        yield piece
