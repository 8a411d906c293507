"""An answer of known length reaches the client as one TCP segment; streams still send their head at once.

Run against ``meshapi-gateway serve`` in its own process. The client counts the data segments its
socket received (Linux ``TCP_INFO``, ``tcpi_data_segs_in``): on loopback one ``write`` of a few
hundred bytes is one segment, so a head written apart from its body shows up as two.
"""

from __future__ import annotations

import socket
import struct
import sys
from typing import Iterator

import httpx
import orjson
import pytest

from gwtest.gateway_process import GatewayProcess
from gwtest.harness import FakeUpstream

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="TCP_INFO segment counts are Linux's")

ADMIN = "admin-" + "y" * 32
# struct tcp_info (linux/tcp.h): tcpi_data_segs_in is the u32 at byte 152.
DATA_SEGS_IN = 152


def _data_segments_in(sock: socket.socket) -> int:
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    if len(info) < DATA_SEGS_IN + 4:
        pytest.skip("this kernel's TCP_INFO has no data segment count")
    return int(struct.unpack_from("I", info, DATA_SEGS_IN)[0])


def _read_answer(sock: socket.socket) -> bytes:
    """One HTTP/1.1 answer with a Content-Length, read whole (the connection stays open)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


@pytest.fixture(scope="module")
def gateway_and_key(tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeUpstream) -> Iterator[tuple[int, str]]:
    gp = GatewayProcess(tmp_path_factory.mktemp("one-write"), fake_openai.url, admin_token=ADMIN).start()
    try:
        admin = {"authorization": f"Bearer {ADMIN}"}
        made = httpx.post(gp.url + "/v1/keys", headers=admin, json={"owner": "one-write", "name": "t"})
        assert made.status_code == 201, made.text
        yield gp.port, str(made.json()["key"])
    finally:
        gp.stop()


def _request(port: int, key: str, body: dict[str, object]) -> list[tuple[bytes, int]]:
    """Three requests on one kept-alive connection: each answer and the data segments it came in."""
    payload = orjson.dumps(body)
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + key.encode() + b"\r\nContent-Length: " + str(len(payload)).encode() + b"\r\n\r\n"
    ) + payload
    out = []
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        for _ in range(3):
            before = _data_segments_in(sock)
            sock.sendall(request)
            answer = _read_answer(sock) if not body.get("stream") else _read_stream(sock)
            out.append((answer, _data_segments_in(sock) - before))
    return out


def _read_stream(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"0\r\n\r\n"):  # chunked: the last chunk
        data += sock.recv(65536)
    return data


def test_a_completion_arrives_in_one_segment(gateway_and_key: tuple[int, str]) -> None:
    port, key = gateway_and_key
    for answer, segments in _request(
        port, key, {"model": "fake/echo", "messages": [{"role": "user", "content": "hi"}]}
    ):
        assert answer.startswith(b"HTTP/1.1 200 ")
        assert b"x-request-id: " in answer.lower()
        assert orjson.loads(answer.split(b"\r\n\r\n", 1)[1])["choices"][0]["message"]["content"]
        assert segments == 1


def test_an_error_answer_arrives_in_one_segment(gateway_and_key: tuple[int, str]) -> None:
    port, _ = gateway_and_key
    for answer, segments in _request(port, "sk-wrong", {"model": "fake/echo", "messages": []}):
        assert answer.startswith(b"HTTP/1.1 401 ")
        assert orjson.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["code"]
        assert segments == 1


def test_a_stream_still_sends_its_head_before_its_events(gateway_and_key: tuple[int, str]) -> None:
    port, key = gateway_and_key
    body = {"model": "fake/echo", "stream": True, "messages": [{"role": "user", "content": "one two three"}]}
    for answer, segments in _request(port, key, body):
        assert answer.startswith(b"HTTP/1.1 200 ")
        assert b"data: [DONE]" in answer
        assert segments >= 2  # the head went out on its own, ahead of the events


def _dechunk(answer: bytes) -> tuple[bytes, bytes]:
    """The head and the body of a chunked answer, its framing checked to the last byte."""
    head, _, rest = answer.partition(b"\r\n\r\n")
    body = b""
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        assert rest[size : size + 2] == b"\r\n"
        body, rest = body + rest[:size], rest[size + 2 :]
        if size == 0:
            assert rest == b""
            return head, body


def test_a_streams_body_leaves_framed_as_uvicorn_frames_it(gateway_and_key: tuple[int, str]) -> None:
    # Under ``serve`` the stream's pieces are written by the cycle directly (one_write.py): the same
    # head, chunked framing and end, and the connection carries the next request.
    port, key = gateway_and_key
    body = {"model": "fake/echo", "stream": True, "messages": [{"role": "user", "content": "one two three"}]}
    ids = set()
    for answer, _ in _request(port, key, body):
        head, events = _dechunk(answer)
        lines = head.lower().split(b"\r\n")
        assert b"transfer-encoding: chunked" in lines
        assert b"x-content-type-options: nosniff" in lines
        ids.update(line for line in lines if line.startswith(b"x-request-id: req_"))
        assert events.endswith(b"data: [DONE]\n\n")
        chunks = [orjson.loads(e[6:]) for e in events.split(b"\n\n") if e and e != b"data: [DONE]"]
        assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == (
            "echo: one two three"
        )
        assert chunks[-1]["usage"]["total_tokens"] > 0
    assert len(ids) == 3
