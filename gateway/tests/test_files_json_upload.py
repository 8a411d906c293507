"""The seed's JSON file upload is spooled and parsed incrementally: caps on the body and on the stored file."""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest
from gwtest.harness import FakeUpstream, Gateway, start_gateway

LIMIT = 8 * 1024


@pytest.fixture(scope="module", params=["local", "database"])
def capped(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeUpstream
) -> Iterator[Gateway]:
    gw = start_gateway(
        tmp_path_factory.mktemp("jsonup"), fake_openai.url, file_storage=request.param, max_file_bytes=LIMIT
    )
    yield gw
    gw.server.stop()


def _request(i: int, text: str = "hi") -> dict[str, Any]:
    # No method or url: the stored line gets both, so it is longer than this request in the body.
    return {"custom_id": f"r{i}", "body": {"model": "fake/echo", "messages": [{"role": "user", "content": text}]}}


def _body(requests: list[dict[str, Any]]) -> bytes:
    return json.dumps({"purpose": "batch", "requests": requests}, separators=(",", ":")).encode()


def _under_limit_body_whose_lines_are_over() -> bytes:
    requests: list[dict[str, Any]] = []
    while len(_body([*requests, _request(len(requests))])) <= LIMIT - 10:
        requests.append(_request(len(requests)))
    body = _body(requests)
    lines = b"".join(
        json.dumps({"method": "POST", "url": "/v1/chat/completions", **r}).encode() + b"\n" for r in requests
    )
    assert len(body) <= LIMIT < len(lines)
    return body


def test_the_stored_file_can_never_exceed_the_limit(capped: Gateway) -> None:
    key = capped.create_key("jsonup-cap")
    with capped.client(key) as c:
        before = c.get("/v1/files").json()["data"]
        r = c.post(
            "/v1/files", content=_under_limit_body_whose_lines_are_over(), headers={"content-type": "application/json"}
        )
        assert r.status_code == 413, r.text
        assert r.json()["error"]["code"] == "payload_too_large"
        assert c.get("/v1/files").json()["data"] == before  # nothing stored


def test_over_limit_body_is_413_with_or_without_content_length(capped: Gateway) -> None:
    key = capped.create_key("jsonup-413")
    body = _body([_request(i, "x" * 200) for i in range(60)])
    assert len(body) > LIMIT
    with capped.client(key) as c:
        r = c.post("/v1/files", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"

        def chunked() -> Iterator[bytes]:
            for i in range(0, len(body), 1000):
                yield body[i : i + 1000]

        r = c.post("/v1/files", content=chunked(), headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize(
    "raw,status,code",
    [
        (b"", 422, "validation_error"),
        (b'{"purpose": "batch", "requests": [', 422, "validation_error"),
        (b"[1, 2]", 422, "validation_error"),
        (b'"text"', 422, "validation_error"),
        (b'{"purpose": "batch"}', 422, "validation_error"),
        (b'{"purpose": "batch", "requests": {"custom_id": "a"}}', 400, "invalid_batch_file"),
        (b'{"purpose": "batch", "requests": []}', 400, "invalid_batch_file"),
        (b'{"purpose": ["batch"], "requests": []}', 422, "validation_error"),
        (b'{"purpose": "fine-tune", "requests": []}', 422, "validation_error"),
        (b'{"requests": [], "requests": []}', 422, "validation_error"),
        (
            b'{"purpose": "batch", "requests": [{"custom_id": "a", "body": {"model": "fake/echo", "seed": '
            b'123456789012345678901234567890, "messages": [{"role": "user", "content": "hi"}]}}]}',
            422,
            "validation_error",
        ),
        (b'{"purpose": "batch", "requests": [7]}', 400, "invalid_batch_file"),
    ],
)
def test_malformed_uploads_are_4xx(capped: Gateway, raw: bytes, status: int, code: str) -> None:
    key = capped.create_key("jsonup-bad")
    with capped.client(key) as c:
        r = c.post("/v1/files", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code


def test_a_body_spooled_to_disk_is_stored_line_for_line(
    tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeUpstream
) -> None:
    folder = tmp_path_factory.mktemp("jsonup-big")
    gw = start_gateway(folder, fake_openai.url, max_file_bytes=16 * 1024 * 1024)
    try:
        requests = [_request(i, f"question {i} " + "y" * 300) for i in range(8000)]  # ~3 MiB, past the memory spool
        with gw.client(gw.create_key("jsonup-big")) as c:
            r = c.post("/v1/files", content=_body(requests), headers={"content-type": "application/json"})
            assert r.status_code == 200, r.text
            content = c.get(f"/v1/files/{r.json()['id']}/content").content
        lines = [json.loads(x) for x in content.splitlines()]
        assert lines == [{"method": "POST", "url": "/v1/chat/completions", **q} for q in requests]
        assert r.json()["bytes"] == len(content)
        assert list((folder / "uploads").iterdir()) == []  # the spools leave nothing behind
    finally:
        gw.server.stop()
