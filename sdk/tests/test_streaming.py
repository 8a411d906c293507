"""Streams over real sockets: framing, termination rules, errors, tool calls, connection release."""

from __future__ import annotations

import json
from typing import Any, List

import httpx
import pytest
from meshapi_testdata import MSGS, USAGE_CHUNK, chunk
from scripted_server import FakeClock, ScriptedServer, json_reply, sse_frames, sse_reply

from meshapi import (
    ChatCompletionAccumulator,
    ChatCompletionChunk,
    MeshAPI,
    MeshAPIError,
    RateLimitError,
    StreamInterruptedError,
)


def texts(stream: Any) -> List[str]:
    out = []
    for c in stream:
        if c.choices and c.choices[0].delta and c.choices[0].delta.content:
            out.append(c.choices[0].delta.content)
    return out


def test_chat_stream_happy_path(client: MeshAPI, server: ScriptedServer) -> None:
    server.on(
        "POST",
        "/v1/chat/completions",
        sse_reply(sse_frames(chunk("Hel", role="assistant"), chunk("lo", finish="stop"), USAGE_CHUNK), gap=0.001),
    )
    with client.chat.completions.stream(model="m", messages=MSGS) as stream:
        assert texts(stream) == ["Hel", "lo"]
    req = server.requests[0]
    assert req.json()["stream"] is True
    assert req.headers["accept"] == "text/event-stream"


def test_crlf_framing_no_space_and_unterminated_last_frame(client: MeshAPI, server: ScriptedServer) -> None:
    body = (
        b": heartbeat\r\n\r\n"
        b"data:" + json.dumps(chunk("a")).encode() + b"\r\n\r\n"
        b"event: message\rdata: " + json.dumps(chunk("b")).encode() + b"\r\r"
        b"data: [DONE]"
    )
    server.on("POST", "/v1/chat/completions", sse_reply([body]))
    assert texts(client.chat.completions.stream(model="m", messages=MSGS)) == ["a", "b"]


def test_utf8_split_across_network_reads(client: MeshAPI, server: ScriptedServer) -> None:
    raw = ("data: " + json.dumps(chunk("héllo 世界 🚀 \u2028"), ensure_ascii=False) + "\n\n").encode()
    cut = raw.index("世".encode()) + 1
    server.on("POST", "/v1/chat/completions", sse_reply([raw[:cut], raw[cut:], b"data: [DONE]\n\n"], gap=0.01))
    assert texts(client.chat.completions.stream(model="m", messages=MSGS)) == ["héllo 世界 🚀 \u2028"]


def test_eof_before_done_is_stream_interrupted(client: MeshAPI, server: ScriptedServer) -> None:
    server.on("POST", "/v1/chat/completions", sse_reply(sse_frames(chunk("a"), done=False)))
    seen = []
    with pytest.raises(StreamInterruptedError) as info:
        for c in client.chat.completions.stream(model="m", messages=MSGS):
            seen.append(c)
    assert len(seen) == 1
    assert info.value.error_code == "stream_interrupted"


def test_dropped_connection_is_stream_interrupted(client: MeshAPI, server: ScriptedServer) -> None:
    server.on(
        "POST", "/v1/chat/completions", sse_reply(sse_frames(chunk("a"), done=False), drop=True, X_Request_Id="req_9")
    )
    with pytest.raises(StreamInterruptedError) as info:
        list(client.chat.completions.stream(model="m", messages=MSGS))
    assert info.value.request_id == "req_9"


def test_stream_read_timeout_is_stream_interrupted(server: ScriptedServer) -> None:
    client = MeshAPI(base_url=server.url, token="t", timeout=0.3, max_retries=0)
    server.on("POST", "/v1/chat/completions", sse_reply(sse_frames(chunk("a")), gap=1.5))
    with pytest.raises(StreamInterruptedError):
        list(client.chat.completions.stream(model="m", messages=MSGS))


def test_http_error_on_stream_raises_envelope(client: MeshAPI, server: ScriptedServer) -> None:
    server.on(
        "POST",
        "/v1/chat/completions",
        json_reply(401, {"error": {"code": "unauthorized", "message": "Invalid API key."}, "request_id": "req_1"}),
    )
    with pytest.raises(MeshAPIError) as info:
        client.chat.completions.stream(model="m", messages=MSGS)
    assert (info.value.status, info.value.error_code, info.value.request_id) == (401, "unauthorized", "req_1")


def test_stream_open_is_retried_before_first_byte(client: MeshAPI, server: ScriptedServer, clock: FakeClock) -> None:
    server.on(
        "POST",
        "/v1/chat/completions",
        json_reply(429, {"error": {"code": "rate_limit_exceeded", "message": "slow"}}, Retry_After="1"),
        sse_reply(sse_frames(chunk("ok"))),
    )
    assert texts(client.chat.completions.stream(model="m", messages=MSGS)) == ["ok"]
    assert len(server.requests) == 2 and clock.sleeps and clock.sleeps[0] >= 1.0
    assert server.requests[0].headers["idempotency-key"] == server.requests[1].headers["idempotency-key"]


def test_started_stream_is_never_retried(client: MeshAPI, server: ScriptedServer, clock: FakeClock) -> None:
    server.on("POST", "/v1/chat/completions", sse_reply(sse_frames(chunk("a"), done=False), drop=True))
    with pytest.raises(StreamInterruptedError):
        list(client.chat.completions.stream(model="m", messages=MSGS))
    assert len(server.requests) == 1 and clock.sleeps == []


def test_mid_stream_error_frame_keeps_request_id(client: MeshAPI, server: ScriptedServer) -> None:
    frames = sse_frames(
        chunk("a"),
        {"error": {"code": "rate_limit_exceeded", "message": "upstream 429", "retry_after_seconds": 4}},
    )
    server.on("POST", "/v1/chat/completions", sse_reply(frames, X_Request_Id="req_mid"))
    with pytest.raises(RateLimitError) as info:
        list(client.chat.completions.stream(model="m", messages=MSGS))
    err = info.value
    assert (err.status, err.error_code, err.request_id, err.retry_after_seconds) == (
        0,
        "rate_limit_exceeded",
        "req_mid",
        4,
    )
    assert str(err) == "upstream 429"


def test_error_key_that_is_not_an_object_is_not_an_error(client: MeshAPI, server: ScriptedServer) -> None:
    server.on("POST", "/v1/chat/completions", sse_reply(sse_frames({**chunk("a"), "error": None})))
    assert texts(client.chat.completions.stream(model="m", messages=MSGS)) == ["a"]


def test_unparseable_data_is_parse_error(client: MeshAPI, server: ScriptedServer) -> None:
    server.on("POST", "/v1/chat/completions", sse_reply([b"data: {not json\n\n"]))
    with pytest.raises(MeshAPIError) as info:
        list(client.chat.completions.stream(model="m", messages=MSGS))
    assert info.value.error_code == "parse_error"


def test_tool_call_fragments_and_whole_calls_accumulate(client: MeshAPI, server: ScriptedServer) -> None:
    fragments = [
        chunk(
            role="assistant",
            tool_calls=[
                {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
            ],
        ),
        chunk(tool_calls=[{"index": 0, "function": {"arguments": '{"ci'}}]),
        chunk(tool_calls=[{"index": 0, "function": {"arguments": 'ty": "Paris"}'}}]),
        chunk(
            tool_calls=[
                {"index": 1, "id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
            ]
        ),
        chunk(finish="tool_calls"),
        USAGE_CHUNK,
    ]
    server.on("POST", "/v1/chat/completions", sse_reply(sse_frames(*fragments)))
    stream = client.chat.completions.stream(model="m", messages=MSGS)
    first = next(stream)
    assert first.choices[0].delta is not None and first.choices[0].delta.tool_calls
    final = stream.get_final_completion()
    msg = final.choices[0].message
    assert final.choices[0].finish_reason == "tool_calls"
    assert msg.tool_calls is not None
    assert [(t.id, t.function.name, t.function.arguments) for t in msg.tool_calls] == [
        ("call_1", "get_weather", '{"city": "Paris"}'),
        ("call_2", "get_time", "{}"),
    ]
    assert final.usage is not None and final.usage.total_tokens == 5
    assert final.cost == "0.000150"


def test_accumulator_text_and_whole_tool_call() -> None:
    acc = ChatCompletionAccumulator()
    for c in (
        chunk("Hi ", role="assistant"),
        chunk("there"),
        chunk(tool_calls=[{"id": "c9", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}]),
        chunk(finish="stop"),
    ):
        acc.add(ChatCompletionChunk.model_validate(c))
    final = acc.get_final_completion()
    assert final.choices[0].message.content == "Hi there"
    assert final.choices[0].message.tool_calls is not None
    assert final.choices[0].message.tool_calls[0].function.arguments == '{"a":1}'


def test_break_releases_connection_100_streams_pool_of_5(server: ScriptedServer) -> None:
    frames = sse_frames(*[chunk(str(i)) for i in range(50)])
    server.on("POST", "/v1/chat/completions", sse_reply(frames))
    http = httpx.Client(
        limits=httpx.Limits(max_connections=5, max_keepalive_connections=5), timeout=httpx.Timeout(5.0, pool=1.0)
    )
    client = MeshAPI(base_url=server.url, token="t", httpx_client=http, max_retries=0)
    for _ in range(100):
        for c in client.chat.completions.stream(model="m", messages=MSGS):
            assert c.choices
            break
    for _ in range(20):  # also via the context manager
        with client.chat.completions.stream(model="m", messages=MSGS) as stream:
            next(stream)
    assert len(server.requests) == 120
    http.close()


def test_completed_stream_returns_connection_to_pool(server: ScriptedServer) -> None:
    server.on("POST", "/v1/chat/completions", sse_reply(sse_frames(chunk("a"))))
    before = server.connections
    with MeshAPI(base_url=server.url, token="t") as client:
        for _ in range(5):
            assert texts(client.chat.completions.stream(model="m", messages=MSGS)) == ["a"]
    assert server.connections - before == 1


def test_responses_stream_ends_on_completed_without_done(client: MeshAPI, server: ScriptedServer) -> None:
    events = [
        {"type": "response.created", "response": {"id": "r1"}},
        {"type": "response.output_text.delta", "delta": "Hi"},
        {"type": "response.completed", "response": {"id": "r1", "usage": {"total_tokens": 3}}},
    ]
    parts = [b"event: " + e["type"].encode() + b"\ndata: " + json.dumps(e).encode() + b"\n\n" for e in events]
    server.on("POST", "/v1/responses", sse_reply(parts))
    got = list(client.responses.stream(model="m", input="hi"))
    assert [e.type for e in got] == ["response.created", "response.output_text.delta", "response.completed"]
    assert got[1].delta == "Hi"
    server.on("POST", "/v1/responses", sse_reply(parts[:2]))
    with pytest.raises(StreamInterruptedError):
        list(client.responses.stream(model="m", input="hi"))


def test_responses_error_event(client: MeshAPI, server: ScriptedServer) -> None:
    server.on(
        "POST", "/v1/responses", sse_reply(sse_frames({"type": "error", "code": "upstream_error", "message": "boom"}))
    )
    with pytest.raises(MeshAPIError, match="boom") as info:
        list(client.responses.stream(model="m", input="hi"))
    assert info.value.error_code == "upstream_error"


def test_compare_stream_normalises_both_vocabularies(client: MeshAPI, server: ScriptedServer) -> None:
    parts = [
        # README vocabulary: name and nested payload in the JSON
        b'data: {"event": "delta", "data": {"model": "a", "delta": "Hi"}}\n\n',
        # hosted-gateway vocabulary: SSE event line, flat payload, "error": null
        b'event: model_chunk\ndata: {"model": "b", "delta": "Yo", "finish_reason": null, "error": null}\n\n',
        # both
        b'event: delta\ndata: {"event": "delta", "data": {"model": "b", "delta": "!"}, "model": "b", "delta": "!"}\n\n',
        # per-model failure as a string is data, not a fatal error
        b'event: model_stream_done\ndata: {"model": "c", "error": "upstream 500", "usage": null}\n\n',
        b'event: done\ndata: {"comparison_id": "cmp_1", "total_latency_ms": 12, "partial": true}\n\n',
    ]
    server.on("POST", "/v1/chat/compare", sse_reply(parts))  # EOF without [DONE] is fine
    events = list(client.compare.stream(models=["a", "b", "c"], messages=MSGS))
    assert [e.event for e in events] == ["delta", "model_chunk", "delta", "model_stream_done", "done"]
    assert events[0].data == {"model": "a", "delta": "Hi"}
    assert events[1].data == {"model": "b", "delta": "Yo", "finish_reason": None, "error": None}
    assert events[1].model == "b"
    assert events[2].data == {"model": "b", "delta": "!"}
    assert events[3].data is not None and events[3].data["error"] == "upstream 500"
    assert events[4].data == {"comparison_id": "cmp_1", "total_latency_ms": 12, "partial": True}
    body = server.requests[0].json()
    assert body["stream"] is True and body["skip_comparison"] is False


def test_compare_fatal_error_frame(client: MeshAPI, server: ScriptedServer) -> None:
    server.on(
        "POST",
        "/v1/chat/compare",
        sse_reply(sse_frames({"error": {"code": "all_models_failed", "message": "all failed"}})),
    )
    with pytest.raises(MeshAPIError) as info:
        list(client.compare.stream(models=["a"], messages=MSGS))
    assert info.value.error_code == "all_models_failed"


def test_responses_mid_stream_error_frame(client: MeshAPI, server: ScriptedServer) -> None:
    frames = sse_frames(
        {"type": "response.created", "response": {"id": "r1"}},
        {"error": {"code": "upstream_error", "message": "provider died", "provider_error": {"status": 500}}},
    )
    server.on("POST", "/v1/responses", sse_reply(frames, X_Request_Id="req_r"))
    with pytest.raises(MeshAPIError) as info:
        list(client.responses.stream(model="m", input="hi"))
    assert (info.value.error_code, info.value.request_id) == ("upstream_error", "req_r")
    assert info.value.provider_error == {"status": 500}


def test_stream_request_id_and_response(client: MeshAPI, server: ScriptedServer) -> None:
    server.on("POST", "/v1/chat/completions", sse_reply(sse_frames(chunk("a")), X_Request_Id="req_s"))
    with client.chat.completions.stream(model="m", messages=MSGS) as stream:
        assert stream.request_id == "req_s"
        assert stream.response.status_code == 200
        assert texts(stream) == ["a"]


def test_compare_error_event_aborts(client: MeshAPI, server: ScriptedServer) -> None:
    parts = [
        b'event: delta\ndata: {"model": "a", "delta": "x", "error": null}\n\n',
        b'event: error\ndata: {"data": {"code": "all_models_failed", "message": "every model failed"}}\n\n',
    ]
    server.on("POST", "/v1/chat/compare", sse_reply(parts))
    seen = []
    with pytest.raises(MeshAPIError, match="every model failed") as info:
        for event in client.compare.stream(models=["a"], messages=MSGS):
            seen.append(event.event)
    assert seen == ["delta"] and info.value.error_code == "all_models_failed"


def test_unread_dropped_streams_release_connections(server: ScriptedServer) -> None:
    server.on("POST", "/v1/chat/completions", sse_reply(sse_frames(chunk("a"))))
    http = httpx.Client(limits=httpx.Limits(max_connections=2), timeout=httpx.Timeout(5.0, pool=1.0))
    client = MeshAPI(base_url=server.url, token="t", httpx_client=http, max_retries=0)
    for _ in range(10):
        client.chat.completions.stream(model="m", messages=MSGS)  # never iterated, never closed
    http.close()


def test_json_answer_to_a_stream_request(client: MeshAPI, server: ScriptedServer) -> None:
    server.on(
        "POST",
        "/v1/chat/completions",
        json_reply(200, {"error": {"code": "not_implemented", "message": "no streaming here"}}),
        json_reply(200, {"id": "x", "choices": []}),
    )
    with pytest.raises(MeshAPIError, match="no streaming here"):
        list(client.chat.completions.stream(model="m", messages=MSGS))
    with pytest.raises(MeshAPIError) as info:
        list(client.chat.completions.stream(model="m", messages=MSGS))
    assert info.value.error_code == "parse_error"
