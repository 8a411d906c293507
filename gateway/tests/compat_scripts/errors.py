"""The README's error-handling block against real failures: unknown model, invalid body,
bad key, a key over its requests-per-minute limit, a failing provider, and (where the SDK
can parse it at all) an HTTP error answered to a stream request."""

from __future__ import annotations

from typing import Any

from compat_common import LIMITED_KEY, VERSION, client, report, step
from meshapi import ChatCompletionParams, ChatMessage, MeshAPIError

HELLO = [ChatMessage(role="user", content="Hello!")]


def handled(token: str = "", **fields: Any) -> dict[str, Any]:
    """Runs the README block; returns what it printed and the exception's fields."""
    params = ChatCompletionParams(messages=HELLO, **fields)
    printed = []
    try:
        client(token).chat.completions.create(params)
    except MeshAPIError as e:
        printed.append(f"[{e.status}] {e.error_code}: {e}")
        printed.append(f"Request ID: {e.request_id}")
        if e.error_code == "rate_limit_exceeded":
            printed.append(f"Retry after {e.retry_after_seconds}s")
        elif e.error_code == "unauthorized":
            printed.append("Invalid API key.")
        elif e.error_code == "model_not_found":
            printed.append("Model not supported.")
        elif e.error_code == "upstream_error":
            printed.append(f"Provider error: {e.provider_error}")
        elif e.error_code == "validation_error":
            printed.append(f"Invalid request: {e.details}")
        return {
            "printed": printed,
            "status": e.status,
            "error_code": e.error_code,
            "message": str(e),
            "request_id": e.request_id,
            "details": e.details,
            "provider_error": e.provider_error,
            "retry_after_seconds": e.retry_after_seconds,
        }
    return {"raised": None}


def rate_limited() -> dict[str, Any]:
    first = handled(LIMITED_KEY, model="openai/gpt-4o-mini")
    second = handled(LIMITED_KEY, model="openai/gpt-4o-mini")
    return {"first": first, "second": second}


def stream_http_error() -> dict[str, Any]:
    params = ChatCompletionParams(model="no-such/model", messages=HELLO)
    try:
        for _chunk in client().chat.completions.stream(params):
            pass
    except MeshAPIError as e:
        return {"raised": "MeshAPIError", "status": e.status, "error_code": e.error_code}
    return {"raised": None}


step("model_not_found", lambda: handled(model="no-such/model"))
step("validation_error", lambda: handled(model="openai/gpt-4o-mini", temperature=3.0))
step("unauthorized", lambda: handled("rsk_not-a-real-key", model="openai/gpt-4o-mini"))
step("rate_limit_exceeded", rate_limited)
step("upstream_error", lambda: handled(model="fake/fail-500"))


def document_upload() -> dict[str, Any]:
    """0.1.11's document upload (``rag.init_upload``) is not served: it must fail cleanly, in the envelope."""
    from meshapi import InitUploadRequest

    client().rag.init_upload(InitUploadRequest(file_name="notes.txt", mime_type="text/plain"))
    return {"raised": None}


if VERSION != "0.1.0":  # 0.1.0 cannot read an HTTP error on a stream (docs/wire.md, Published client limits)
    step("stream_http_error", stream_http_error)
    step("document_upload", document_upload)
report()
