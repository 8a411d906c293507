"""Checking a batch input file line by line before anything is stored.

Every line is one OpenAI batch request ``{custom_id, method, url, body}``. Problems are
collected with their line numbers so the client can fix the whole file in one go; the
file is refused (400 ``invalid_batch_file``) if any line is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from meshapi_gateway.catalog import Catalog
from meshapi_gateway.embeddings.request import EmbeddingsRequest
from meshapi_gateway.errors import GatewayError
from meshapi_gateway.json_bounds import MAX_JSON_DEPTH, deep_path
from meshapi_gateway.request_schemas import ChatRequest, ChatRequestWithTemplate

CHAT_URL = "/v1/chat/completions"
EMBEDDINGS_URL = "/v1/embeddings"
SUPPORTED_URLS = (CHAT_URL, EMBEDDINGS_URL)
MAX_CUSTOM_ID = 200
MAX_DETAILS = 100
NAMED_IN_MESSAGE = 3  # problems spelled out in the message itself (all of ``details`` carry the rest)


@dataclass
class LineCheck:
    """The outcome of checking a whole file."""

    lines: int = 0
    url: str | None = None
    models: set[str] = field(default_factory=set)
    problems: list[dict[str, Any]] = field(default_factory=list)
    problem_count: int = 0
    # Lines with at least one problem (a line can have several); lines are checked in order.
    invalid_lines: int = 0
    _last_invalid: int = -1

    def add(self, line: int, type_: str, msg: str, field_: str | None = None) -> None:
        self.problem_count += 1
        if line != self._last_invalid:
            self.invalid_lines += 1
            self._last_invalid = line
        if len(self.problems) < MAX_DETAILS:
            item: dict[str, Any] = {"line": line, "type": type_, "msg": msg}
            if field_:
                item["field"] = field_
            self.problems.append(item)

    def raise_if_invalid(self) -> None:
        if self.lines == 0 and not self.problems:
            self.add(0, "empty_file", "The file has no requests; at least one is required.")
        if self.problems:
            raise GatewayError("invalid_batch_file", self.message(), details=self.problems)

    def message(self) -> str:
        if self.lines == 0:
            return "The batch file has no requests; at least one is required."
        counts = f"{self.invalid_lines} of {self.lines} line(s) are invalid"
        if self.problem_count != self.invalid_lines:
            counts += f" ({self.problem_count} problems)"
        first = "; ".join(f"line {p['line']}: {p['msg']}" for p in self.problems[:NAMED_IN_MESSAGE])
        listed = (
            f" All {self.problem_count} are listed in details."
            if self.problem_count <= MAX_DETAILS
            else f" The first {MAX_DETAILS} are listed in details."
        )
        return f"The batch file has problems: {counts}. First: {first}.{listed}"


class LineChecker:
    """Feed lines in order with ``check``; ``result`` holds the verdict."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.result = LineCheck()
        self._seen: dict[str, int] = {}

    def check(self, number: int, raw: bytes) -> dict[str, Any] | None:
        """Check one line; returns the parsed request when it is valid."""
        if not raw.strip():
            return None
        self.result.lines += 1
        add = self.result.add
        try:
            item = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            add(number, "invalid_json", f"Line is not valid JSON: {exc}")
            return None
        if not isinstance(item, dict):
            add(number, "invalid_json", "Line must be a JSON object.")
            return None
        deep = deep_path(item) if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH else None
        if deep is not None:
            add(number, "too_deep", f"Line nests deeper than {MAX_JSON_DEPTH} levels.", ".".join(map(str, deep)))
            return None
        return self.check_item(number, item)

    def check_item(self, number: int, item: dict[str, Any]) -> dict[str, Any] | None:
        """Check one parsed line (a JSON object no deeper than the cap); returns it when it is valid."""
        add = self.result.add
        ok = True
        custom_id = item.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            add(number, "missing_custom_id", "custom_id is required and must be a non-empty string.", "custom_id")
            ok = False
        elif len(custom_id) > MAX_CUSTOM_ID:
            add(number, "invalid_custom_id", f"custom_id is longer than {MAX_CUSTOM_ID} characters.", "custom_id")
            ok = False
        elif custom_id in self._seen:
            add(
                number,
                "duplicate_custom_id",
                f"custom_id '{custom_id}' is already used on line {self._seen[custom_id]}.",
                "custom_id",
            )
            ok = False
        else:
            self._seen[custom_id] = number
        method = item.get("method", "POST")
        if not isinstance(method, str) or method.upper() != "POST":
            add(number, "unsupported_method", "method must be POST.", "method")
            ok = False
        url = item.get("url")
        if url not in SUPPORTED_URLS:
            add(number, "unsupported_url", f"url must be one of {', '.join(SUPPORTED_URLS)}.", "url")
            ok = False
        elif self.result.url is None:
            self.result.url = url
        elif url != self.result.url:
            add(number, "mixed_urls", f"Every line must use the same url; earlier lines use {self.result.url}.", "url")
            ok = False
        body = item.get("body")
        if not isinstance(body, dict):
            add(number, "missing_body", "body is required and must be a JSON object.", "body")
            return None
        model = body.get("model")
        if not isinstance(model, str) or not model:
            add(number, "missing_model", "body.model is required.", "body.model")
            return None
        entry = self.catalog.get(model)
        if entry is None:
            add(number, "model_not_found", f"Model '{model}' is not supported.", "body.model")
            return None
        ok = self._check_schema(number, url, body) and ok
        if url == EMBEDDINGS_URL:
            if entry.model_type != "embedding":
                add(
                    number,
                    "model_capability_not_supported",
                    f"Model '{model}' does not create embeddings.",
                    "body.model",
                )
                ok = False
            if body.get("input") in (None, "", []):
                add(number, "missing_input", "body.input is required.", "body.input")
                ok = False
        elif url == CHAT_URL and (entry.model_type == "embedding" or not entry.supports_completions_api):
            add(
                number,
                "model_capability_not_supported",
                f"Model '{model}' does not serve chat completions.",
                "body.model",
            )
            ok = False
        if not ok:
            return None
        self.result.models.add(model)
        return {"custom_id": custom_id, "method": "POST", "url": url, "body": body}

    def _check_schema(self, number: int, url: Any, body: dict[str, Any]) -> bool:
        """The same field rules as the live endpoint (ranges, types), so a bad request fails at upload."""
        schema: type[BaseModel] | None = None
        if url == CHAT_URL:
            schema = ChatRequestWithTemplate if body.get("template") else ChatRequest
        elif url == EMBEDDINGS_URL:
            schema = EmbeddingsRequest
        if schema is None:
            return True
        try:
            schema.model_validate(body)
        except ValidationError as exc:
            for err in exc.errors(include_url=False, include_context=False)[:5]:
                where = ".".join(str(p) for p in ("body", *err["loc"]))
                self.result.add(number, "invalid_body", f"{where}: {err['msg']}", where)
            return False
        return True


def jsonl_from_requests(requests: Any) -> list[bytes]:
    """The seed's ``{purpose, requests}`` upload as JSONL lines (``method``/``url`` defaulted)."""
    if not isinstance(requests, list):
        raise GatewayError(
            "invalid_batch_file",
            "requests must be a list of batch requests.",
            details=[{"line": 0, "type": "invalid_requests", "msg": "requests must be a list"}],
        )
    lines = []
    for item in requests:
        if isinstance(item, dict):
            item = {"method": "POST", "url": CHAT_URL, **item}
        lines.append(orjson.dumps(item))
    return lines


class LineSplitter:
    """Numbered lines (from 1) out of arbitrary chunks of bytes, fed in order."""

    def __init__(self) -> None:
        self.number = 0
        self._rest = b""

    def feed(self, chunk: bytes) -> list[tuple[int, bytes]]:
        *complete, self._rest = (self._rest + chunk).split(b"\n")
        out = []
        for line in complete:
            self.number += 1
            out.append((self.number, line))
        return out

    def finish(self) -> list[tuple[int, bytes]]:
        if not self._rest:
            return []
        self.number += 1
        rest, self._rest = self._rest, b""
        return [(self.number, rest)]
