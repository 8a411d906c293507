"""The error tree: one hierarchy, every code with its status, one retry rule, the wire unchanged."""

from __future__ import annotations

import ast
from pathlib import Path

import orjson
import pytest

from meshapi_gateway import errors
from meshapi_gateway.errors import (
    STATUS_BY_CODE,
    ContextLengthExceeded,
    ErrorCode,
    GatewayError,
    UpstreamError,
    before_first_chunk,
    mid_stream_code,
)
from meshapi_gateway.providers.base import UpstreamError as UpstreamErrorOfAdapters
from meshapi_gateway.providers.upstream_errors import ContextLengthExceeded as ContextOfAdapters

SRC = Path(errors.__file__).parent
RAISERS = {"GatewayError", "UpstreamError", "ContextLengthExceeded"}


def test_upstream_error_is_a_gateway_error() -> None:
    exc = ContextLengthExceeded("validation_error", "too long", status=422)
    assert isinstance(exc, UpstreamError) and isinstance(exc, GatewayError)
    assert UpstreamErrorOfAdapters is UpstreamError and ContextOfAdapters is ContextLengthExceeded
    assert exc.error_object() == {"code": "validation_error", "message": "too long"} and exc.status == 422


def test_every_code_has_a_status() -> None:
    assert set(STATUS_BY_CODE) == set(ErrorCode)
    for code in ("stream_interrupted", "context_length_exceeded", "spend_limit_exceeded"):
        assert code in STATUS_BY_CODE
    assert GatewayError("stream_interrupted", "x").status == UpstreamError("stream_interrupted", "x").status == 500
    assert GatewayError("spend_limit_exceeded", "x").status == 402


def test_codes_stay_plain_strings_on_the_wire() -> None:
    exc = GatewayError(ErrorCode.RATE_LIMIT_EXCEEDED, "slow down", retry_after_seconds=3)
    assert exc.code == "rate_limit_exceeded" and f"{exc.code}" == "rate_limit_exceeded"
    assert orjson.loads(exc.envelope("req_1")) == {
        "error": {"code": "rate_limit_exceeded", "message": "slow down", "retry_after_seconds": 3},
        "request_id": "req_1",
    }
    assert GatewayError("rate_limit_exceeded", "x").code is ErrorCode.RATE_LIMIT_EXCEEDED


def _literal_codes() -> set[tuple[str, str]]:
    """Every code written as a literal where an error of the tree is raised, with its file."""
    found: set[tuple[str, str]] = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            first = node.args[0]
            if name in RAISERS and isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.add((first.value, str(path.relative_to(SRC))))
    return found


def test_every_code_raised_in_the_source_is_in_the_enum() -> None:
    codes = _literal_codes()
    assert len(codes) > 50  # the scan sees the raises
    unknown = sorted((code, where) for code, where in codes if code not in STATUS_BY_CODE)
    assert unknown == []


@pytest.mark.parametrize(
    "code", ["stream_interrupted", "upstream_error", "gateway_timeout", "rate_limit_exceeded", "provider_not_available"]
)
def test_a_stream_broken_before_its_first_chunk_may_go_elsewhere(code: str) -> None:
    # Whatever status the adapter gave it (the two rules this replaces disagreed on a 429 and a 503).
    for status in (429, 500, 503):
        assert before_first_chunk(UpstreamError(code, "broke", status=status)).retryable


@pytest.mark.parametrize(
    "code", ["validation_error", "context_length_exceeded", "model_capability_not_supported", "not_implemented"]
)
def test_a_refused_request_is_not_retried_before_the_first_chunk(code: str) -> None:
    assert not before_first_chunk(UpstreamError(code, "refused")).retryable


def test_an_interrupted_stream_is_an_upstream_error_mid_stream() -> None:
    assert mid_stream_code(UpstreamError("stream_interrupted", "cut")) == "upstream_error"
    assert mid_stream_code(UpstreamError("gateway_timeout", "late")) == "gateway_timeout"


def test_the_tree_is_drawn_in_the_module_docstring() -> None:
    doc = errors.__doc__ or ""
    for name in ("GatewayError", "UpstreamError", "ContextLengthExceeded"):
        assert name in doc
