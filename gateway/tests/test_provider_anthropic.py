"""Anthropic models behind the OpenAI wire format, through the real gateway.

The upstream is a local server speaking the Messages API (``gwtest/anthropic_upstream.py``)
that answers with the documentation's examples and rejects requests the real API would
reject; each test checks the exact OpenAI-shaped answer and the Anthropic request we sent.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import httpx
import openai
import pytest
from gwtest import anthropic_upstream as doc
from gwtest.harness import FakeUpstream, Gateway, start_gateway
from gwtest.openai_upstream import Recorder
from gwtest.server_thread import ServerThread

MODELS = [
    "claude-echo",
    "claude-doc",
    "claude-tools",
    "claude-parallel",
    "claude-stop",
    "claude-length",
    "claude-thinking",
    "claude-cached",
    "claude-error-event",
    "claude-error-first",
    "claude-cut",
    "claude-eof",
    *(f"claude-error-{s}" for s in (400, 401, 403, 429, 500, 529)),
]
MAX_OUTPUT = 2048
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {"type": "string"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["location"],
            },
        },
    }
]
ANTHROPIC_TOOLS = [
    {
        "name": "get_weather",
        "input_schema": TOOLS[0]["function"]["parameters"],
        "description": "Get the current weather in a given location",
    }
]


@pytest.fixture(scope="module")
def anthropic_up() -> Iterator[FakeUpstream]:
    recorder = Recorder()
    server = ServerThread(doc.make_app(recorder)).start()
    yield FakeUpstream(server.url, recorder)
    server.stop()


@pytest.fixture(scope="module")
def gw(
    tmp_path_factory: pytest.TempPathFactory, anthropic_up: FakeUpstream, fake_openai: FakeUpstream
) -> Iterator[Gateway]:
    common = {
        "provider": "anthropic",
        "base_url": anthropic_up.url,
        "api_key": "sk-ant-test",
        "max_output_tokens": MAX_OUTPUT,
        "prompt_usd_per_1m": "3",
        "completion_usd_per_1m": "15",
        "cache_read_input_usd_per_1m": "0.3",
    }
    models: list[dict[str, Any]] = [{"id": f"anthropic/{m}", "upstream_model": m, **common} for m in MODELS]
    models.append(
        {
            "id": "anthropic/flaky",
            "upstream_model": "claude-error-first",
            "fallbacks": ["anthropic/claude-echo"],
            **common,
        }
    )
    models.append({"id": "anthropic/rate-limited", "upstream_model": "claude-error-429", **common})
    models.append({"id": "anthropic/no-key", "upstream_model": "claude-echo", **{**common, "api_key": ""}})
    # No retry rounds or breakers: these tests look at one translated exchange at a time.
    gateway = start_gateway(
        tmp_path_factory.mktemp("gw-anthropic"),
        fake_openai.url,
        models=models,
        retry_max_rounds=0,
        breaker_failure_threshold=1000,
    )
    yield gateway
    gateway.server.stop()


@pytest.fixture(scope="module")
def key(gw: Gateway) -> str:
    return gw.create_key("alice")


def chat(gw: Gateway, key: str, **body: Any) -> httpx.Response:
    with gw.client(key) as c:
        return c.post("/v1/chat/completions", json=body)


def sse_payloads(text: str) -> list[Any]:
    assert text.endswith("\n\n") and "\r" not in text
    out: list[Any] = []
    for frame in text.split("\n\n")[:-1]:
        for line in frame.split("\n"):
            if line.startswith("data: "):
                data = line[len("data: ") :]
                out.append(data if data == "[DONE]" else json.loads(data))
    return out


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def sent(up: FakeUpstream) -> dict[str, Any]:
    return up.recorder.last()["body"]


# --- plain text, system, turns --------------------------------------------------------------


def test_plain_text_exact_answer_and_request(gw: Gateway, key: str, anthropic_up: FakeUpstream) -> None:
    r = chat(gw, key, model="anthropic/claude-doc", messages=user("Hello"))
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["id"] == "chatcmpl-msg_013Zva2CMHLNnXjNJJKqJ2EF"
    assert data["object"] == "chat.completion" and data["model"] == "anthropic/claude-doc"
    assert data["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hi! My name is Claude."},
            "finish_reason": "stop",
            "logprobs": None,
        }
    ]
    assert data["usage"] == {
        "prompt_tokens": 2095,
        "completion_tokens": 503,
        "total_tokens": 2598,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    assert data["cost"] == "0.01383"  # 2095 x $3/M + 503 x $15/M
    request = anthropic_up.recorder.last()
    assert request["path"] == "/v1/messages"
    assert request["headers"]["x-api-key"] == "sk-ant-test"
    assert request["headers"]["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request["headers"]
    assert request["body"] == {
        "model": "claude-doc",
        "max_tokens": MAX_OUTPUT,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}],
    }


def test_multi_turn_with_system_merges_roles(gw: Gateway, key: str, anthropic_up: FakeUpstream) -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in English."}]},
        {"role": "user", "content": "Hi", "name": "bob"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "How are"},
        {"role": "user", "content": [{"type": "text", "text": "you?"}]},
    ]
    r = chat(gw, key, model="anthropic/claude-echo", messages=messages, max_tokens=50, temperature=0.2, top_p=0.9)
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "echo: How are you?"
    assert sent(anthropic_up) == {
        "model": "claude-echo",
        "max_tokens": 50,
        "temperature": 0.2,
        "top_p": 0.9,
        "system": [{"type": "text", "text": "You are terse."}, {"type": "text", "text": "Answer in English."}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Hello."}]},
            {"role": "user", "content": [{"type": "text", "text": "How are"}, {"type": "text", "text": "you?"}]},
        ],
    }
    assert r.headers["x-meshapi-warning"] == "message name fields dropped (anthropic has no equivalent)"


def test_image_input_data_and_http_urls(gw: Gateway, key: str, anthropic_up: FakeUpstream) -> None:
    content = [
        {"type": "text", "text": "What is in these images?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://upload.wikimedia.org/a.jpg", "detail": "low"}},
    ]
    r = chat(gw, key, model="anthropic/claude-echo", messages=[{"role": "user", "content": content}])
    assert r.status_code == 200, r.text
    assert sent(anthropic_up)["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in these images?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                {"type": "image", "source": {"type": "url", "url": "https://upload.wikimedia.org/a.jpg"}},
            ],
        }
    ]


def test_audio_input_is_refused_before_the_upstream(gw: Gateway, key: str, anthropic_up: FakeUpstream) -> None:
    anthropic_up.recorder.clear()
    content = [{"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}]
    r = chat(gw, key, model="anthropic/claude-echo", messages=[{"role": "user", "content": content}])
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "model_capability_not_supported"
    assert anthropic_up.recorder.requests == []


# --- tools ----------------------------------------------------------------------------------


def test_tool_call_auto(gw: Gateway, key: str, anthropic_up: FakeUpstream) -> None:
    r = chat(
        gw,
        key,
        model="anthropic/claude-tools",
        messages=user("What's the weather like in San Francisco?"),
        tools=TOOLS,
        tool_choice="auto",
    )
    assert r.status_code == 200, r.text
    choice = r.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {
        "role": "assistant",
        "content": doc.DOC_TOOL_TEXT,
        "tool_calls": [
            {
                "id": doc.DOC_TOOL_ID,
                "type": "function",
                "function": {"name": "get_weather", "arguments": json.dumps(doc.DOC_TOOL_INPUT, separators=(",", ":"))},
            }
        ],
    }
    body = sent(anthropic_up)
    assert body["tools"] == ANTHROPIC_TOOLS
    assert body["tool_choice"] == {"type": "auto"}


@pytest.mark.parametrize(
    ("tool_choice", "parallel", "expected"),
    [
        ("required", None, {"type": "any"}),
        ({"type": "function", "function": {"name": "get_weather"}}, None, {"type": "tool", "name": "get_weather"}),
        ("none", None, {"type": "none"}),
        ("auto", False, {"type": "auto", "disable_parallel_tool_use": True}),
    ],
)
def test_tool_choice_mapping(
    gw: Gateway, key: str, anthropic_up: FakeUpstream, tool_choice: Any, parallel: Any, expected: dict[str, Any]
) -> None:
    extra = {} if parallel is None else {"parallel_tool_calls": parallel}
    r = chat(
        gw,
        key,
        model="anthropic/claude-tools",
        messages=user("weather?"),
        tools=TOOLS,
        tool_choice=tool_choice,
        **extra,
    )
    assert r.status_code == 200, r.text
    assert sent(anthropic_up)["tool_choice"] == expected
    assert r.json()["choices"][0]["finish_reason"] == "tool_calls"


def test_parallel_tool_calls(gw: Gateway, key: str) -> None:
    tools = [*TOOLS, {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}]
    r = chat(
        gw,
        key,
        model="anthropic/claude-parallel",
        messages=user("weather and time?"),
        tools=tools,
        tool_choice="required",
    )
    message = r.json()["choices"][0]["message"]
    assert message["content"] is None
    got = [(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in message["tool_calls"]]
    assert got == [
        ("toolu_01A", "get_weather", {"location": "San Francisco, CA"}),
        ("toolu_01B", "get_time", {"location": "New York, NY"}),
    ]
    with gw.client(key) as c:
        s = c.post(
            "/v1/chat/completions",
            json={"model": "anthropic/claude-parallel", "stream": True, "messages": user("both?"), "tools": tools},
        )
    chunks = [p for p in sse_payloads(s.text) if p != "[DONE]"]
    calls = [tc for ch in chunks if ch["choices"] for tc in ch["choices"][0]["delta"].get("tool_calls") or []]
    assert [(tc["index"], tc["id"], json.loads(tc["function"]["arguments"])) for tc in calls] == [
        (0, "toolu_01A", {"location": "San Francisco, CA"}),
        (1, "toolu_01B", {"location": "New York, NY"}),
    ]
    assert [ch["choices"][0]["finish_reason"] for ch in chunks if ch["choices"]][-1] == "tool_calls"


def test_tool_results_round_trip(gw: Gateway, key: str, anthropic_up: FakeUpstream) -> None:
    messages = [
        {"role": "user", "content": "Weather in SF and NYC?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "toolu_01A",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location": "San Francisco, CA"}'},
                },
                {
                    "id": "toolu_01B",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location": "New York, NY"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_01A", "content": "15 degrees"},
        {"role": "tool", "tool_call_id": "toolu_01B", "content": [{"type": "text", "text": "22 degrees"}]},
        {"role": "user", "content": "Which is warmer?"},
    ]
    r = chat(gw, key, model="anthropic/claude-echo", messages=messages, tools=TOOLS)
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "echo: Which is warmer?"
    assert sent(anthropic_up)["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in SF and NYC?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "toolu_01A",
                    "name": "get_weather",
                    "input": {"location": "San Francisco, CA"},
                },
                {"type": "tool_use", "id": "toolu_01B", "name": "get_weather", "input": {"location": "New York, NY"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "15 degrees"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01B",
                    "content": [{"type": "text", "text": "22 degrees"}],
                },
                {"type": "text", "text": "Which is warmer?"},
            ],
        },
    ]


# --- parameters and stop reasons ------------------------------------------------------------


def test_stop_sequences(gw: Gateway, key: str, anthropic_up: FakeUpstream) -> None:
    r = chat(gw, key, model="anthropic/claude-stop", messages=user("count"), stop="three")
    assert r.json()["choices"][0]["finish_reason"] == "stop"
    assert r.json()["choices"][0]["message"]["content"] == "one two"
    assert sent(anthropic_up)["stop_sequences"] == ["three"]


def test_length_cut_off(gw: Gateway, key: str, anthropic_up: FakeUpstream) -> None:
    r = chat(gw, key, model="anthropic/claude-length", messages=user("a b c d e"), max_completion_tokens=3)
    choice = r.json()["choices"][0]
    assert choice["finish_reason"] == "length" and choice["message"]["content"] == "echo: a b"
    assert sent(anthropic_up)["max_tokens"] == 3


def test_unsupported_parameters_dropped_with_warning(gw: Gateway, key: str, anthropic_up: FakeUpstream) -> None:
    r = chat(
        gw,
        key,
        model="anthropic/claude-echo",
        messages=user("x"),
        seed=7,
        frequency_penalty=0.5,
        logprobs=False,
        n=1,
        temperature=1.5,
        user="user-42",
    )
    assert r.status_code == 200, r.text
    assert r.headers["x-meshapi-warning"] == (
        "dropped unsupported parameter(s): frequency_penalty, seed; temperature 1.5 clamped to 1 (anthropic's maximum)"
    )
    body = sent(anthropic_up)
    assert "seed" not in body and "frequency_penalty" not in body
    assert body["temperature"] == 1 and body["metadata"] == {"user_id": "user-42"}
    with gw.client(key) as c:
        s = c.post(
            "/v1/chat/completions",
            json={"model": "anthropic/claude-echo", "stream": True, "seed": 1, "messages": user("x")},
        )
    assert s.headers["x-meshapi-warning"] == "dropped unsupported parameter(s): seed"


# --- reasoning and usage ----------------------------------------------------------------------


def test_thinking_non_stream_and_stream(gw: Gateway, key: str, anthropic_up: FakeUpstream) -> None:
    r = chat(
        gw,
        key,
        model="anthropic/claude-thinking",
        messages=user("GCD of 1071 and 462?"),
        reasoning_effort="low",
        temperature=0.3,
    )
    message = r.json()["choices"][0]["message"]
    assert message["content"] == doc.DOC_THINKING_ANSWER
    assert message["reasoning_content"] == doc.DOC_THINKING
    assert message["thinking_blocks"] == [
        {"type": "thinking", "thinking": doc.DOC_THINKING, "signature": doc.DOC_THINKING_SIGNATURE}
    ]
    body = sent(anthropic_up)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert "temperature" not in body
    assert r.headers["x-meshapi-warning"] == "temperature ignored with extended thinking"
    with gw.client(key) as c:
        s = c.post(
            "/v1/chat/completions",
            json={"model": "anthropic/claude-thinking", "stream": True, "messages": user("GCD?")},
        )
    chunks = [p for p in sse_payloads(s.text) if p != "[DONE]"]
    deltas = [ch["choices"][0]["delta"] for ch in chunks if ch["choices"]]
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == doc.DOC_THINKING
    assert "".join(d.get("content") or "" for d in deltas) == doc.DOC_THINKING_ANSWER
    assert [b for d in deltas for b in d.get("thinking_blocks") or []] == message["thinking_blocks"]
    # Thinking blocks go back to Anthropic unchanged on the next turn.
    follow = [
        {"role": "user", "content": "GCD?"},
        {"role": "assistant", "content": doc.DOC_THINKING_ANSWER, "thinking_blocks": message["thinking_blocks"]},
        {"role": "user", "content": "thanks"},
    ]
    assert chat(gw, key, model="anthropic/claude-echo", messages=follow).status_code == 200
    assert sent(anthropic_up)["messages"][1]["content"][0] == message["thinking_blocks"][0]


def test_usage_with_cached_tokens(gw: Gateway, key: str) -> None:
    expected = {
        "prompt_tokens": 21 + 188 + 1800,
        "completion_tokens": 12,
        "total_tokens": 2021,
        "prompt_tokens_details": {"cached_tokens": 1800, "cache_creation_tokens": 188},
    }
    r = chat(gw, key, model="anthropic/claude-cached", messages=user("book?"))
    assert r.json()["usage"] == expected
    # (209 uncached x $3 + 1800 cached x $0.30 + 12 x $15) / 1M
    assert r.json()["cost"] == "0.001347"
    with gw.client(key) as c:
        s = c.post(
            "/v1/chat/completions", json={"model": "anthropic/claude-cached", "stream": True, "messages": user("book?")}
        )
    payloads = sse_payloads(s.text)
    assert payloads[-1] == "[DONE]"
    assert payloads[-2]["choices"] == [] and payloads[-2]["usage"] == expected and payloads[-2]["cost"] == "0.001347"


# --- streams ----------------------------------------------------------------------------------


def test_stream_text_exact_chunks(gw: Gateway, key: str, anthropic_up: FakeUpstream) -> None:
    with gw.client(key) as c:
        r = c.post(
            "/v1/chat/completions", json={"model": "anthropic/claude-doc", "stream": True, "messages": user("Hello")}
        )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    payloads = sse_payloads(r.text)
    assert payloads[-1] == "[DONE]"
    chunks = payloads[:-1]
    assert {ch["id"] for ch in chunks} == {"chatcmpl-msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY"}
    assert all(ch["object"] == "chat.completion.chunk" and ch["model"] == "anthropic/claude-doc" for ch in chunks)
    assert [ch["choices"] for ch in chunks[:-1]] == [
        [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
        [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": None}],
        [{"index": 0, "delta": {"content": "!"}, "finish_reason": None}],
        [{"index": 0, "delta": {}, "finish_reason": "stop"}],
    ]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 25,
        "completion_tokens": 15,
        "total_tokens": 40,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    assert sent(anthropic_up)["stream"] is True


def test_stream_tool_call_split_over_input_json_deltas(gw: Gateway, key: str) -> None:
    with gw.client(key) as c:
        r = c.post(
            "/v1/chat/completions",
            json={
                "model": "anthropic/claude-tools",
                "stream": True,
                "tools": TOOLS,
                "messages": user("What's the weather like in San Francisco?"),
            },
        )
    chunks = [p for p in sse_payloads(r.text) if p != "[DONE]"]
    with_choices = [ch for ch in chunks if ch["choices"]]
    text = "".join(ch["choices"][0]["delta"].get("content") or "" for ch in with_choices)
    assert text == doc.DOC_TOOL_TEXT
    calls = [tc for ch in with_choices for tc in ch["choices"][0]["delta"].get("tool_calls") or []]
    assert calls == [
        {
            "index": 0,
            "id": doc.DOC_TOOL_ID,
            "type": "function",
            "function": {"name": "get_weather", "arguments": "".join(doc._TOOL_JSON_PIECES)},
        }
    ]
    assert json.loads(calls[0]["function"]["arguments"]) == doc.DOC_TOOL_INPUT
    assert with_choices[-1]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "tool_calls"}
    assert chunks[-1]["usage"]["prompt_tokens"] == 472 and chunks[-1]["usage"]["completion_tokens"] == 89


def test_mid_stream_error_event_becomes_error_frame(gw: Gateway, key: str) -> None:
    with gw.client(key) as c:
        r = c.post(
            "/v1/chat/completions",
            json={"model": "anthropic/claude-error-event", "stream": True, "messages": user("one two three")},
        )
    assert r.status_code == 200
    payloads = sse_payloads(r.text)
    assert payloads[-1] == "[DONE]"
    error = payloads[-2]["error"]
    assert error["code"] == "upstream_error" and error["message"] == "Overloaded"
    assert error["request_id"] == r.headers["x-request-id"]
    chunks = payloads[:-2]
    assert (
        "".join(ch["choices"][0]["delta"].get("content") or "" for ch in chunks if ch["choices"])
        == "echo: one two three"
    )
    assert all(ch["choices"][0]["finish_reason"] is None for ch in chunks if ch["choices"])
    assert not any("usage" in ch for ch in chunks)


@pytest.mark.parametrize("model", ["anthropic/claude-cut", "anthropic/claude-eof"])
def test_truncated_stream_is_an_error_never_a_clean_finish(gw: Gateway, key: str, model: str) -> None:
    with gw.client(key) as c:
        r = c.post("/v1/chat/completions", json={"model": model, "stream": True, "messages": user("a b c d e f g h")})
    payloads = sse_payloads(r.text)
    assert payloads[-1] == "[DONE]"
    assert payloads[-2]["error"]["code"] == "upstream_error"
    chunks = payloads[:-2]
    assert all(ch["choices"][0]["finish_reason"] is None for ch in chunks if ch["choices"])
    assert not any("usage" in ch for ch in chunks)


def test_error_as_first_event_falls_back_before_any_byte(gw: Gateway, key: str) -> None:
    with gw.client(key) as c:
        r = c.post("/v1/chat/completions", json={"model": "anthropic/flaky", "stream": True, "messages": user("hello")})
    assert r.status_code == 200
    assert r.headers["x-meshapi-fallback"] == "anthropic/flaky,anthropic/claude-echo"
    payloads = sse_payloads(r.text)
    assert all(ch["model"] == "anthropic/claude-echo" for ch in payloads[:-1])


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "client_status"),
    [
        (400, "validation_error", 422),
        (401, "upstream_error", 500),
        (403, "upstream_error", 500),
        (429, "rate_limit_exceeded", 429),
        (500, "upstream_error", 500),
        (529, "upstream_error", 503),
    ],
)
def test_error_bodies(gw: Gateway, key: str, status: int, code: str, client_status: int) -> None:
    for stream in (False, True):
        r = chat(gw, key, model=f"anthropic/claude-error-{status}", messages=user("x"), stream=stream)
        assert r.status_code == client_status, r.text
        assert r.headers["content-type"].startswith("application/json")
        error = r.json()["error"]
        assert error["code"] == code
        kind, message = doc.DOC_ERRORS[status]
        assert message in error["message"]
        if status in (401, 403):
            assert error["provider_error"] == doc.error_body(kind, message)
        if status == 429:
            assert error["retry_after_seconds"] == 7 and r.headers["retry-after"] == "7"


def test_request_the_api_would_reject_surfaces_its_message(gw: Gateway, key: str) -> None:
    r = chat(gw, key, model="anthropic/no-key", messages=user("x"))
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "upstream_error"
    assert r.json()["error"]["provider_error"]["error"]["type"] == "authentication_error"
    bad = [{"role": "tool", "tool_call_id": "toolu_nope", "content": "x"}]
    r = chat(gw, key, model="anthropic/claude-echo", messages=bad)
    assert r.status_code == 422
    assert r.json()["error"]["message"] == "messages.0: unexpected tool_use_id found in tool_result blocks"


# --- independent clients ----------------------------------------------------------------------


def test_openai_client(gw: Gateway, key: str) -> None:
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)
    reply = client.chat.completions.create(model="anthropic/claude-doc", messages=user("Hello"))
    assert reply.choices[0].message.content == "Hi! My name is Claude."
    assert reply.usage is not None and reply.usage.prompt_tokens == 2095
    calls: dict[int, dict[str, str]] = {}
    finish = None
    with client.chat.completions.create(
        model="anthropic/claude-tools", messages=user("weather?"), tools=TOOLS, stream=True
    ) as stream:
        for chunk in stream:
            for choice in chunk.choices:
                for tc in choice.delta.tool_calls or []:
                    acc = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                    acc["id"] += tc.id or ""
                    acc["name"] += tc.function.name or "" if tc.function else ""
                    acc["arguments"] += tc.function.arguments or "" if tc.function else ""
                finish = choice.finish_reason or finish
    assert finish == "tool_calls"
    assert calls == {0: {"id": doc.DOC_TOOL_ID, "name": "get_weather", "arguments": "".join(doc._TOOL_JSON_PIECES)}}
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="anthropic/rate-limited", messages=user("x"))


def test_meshapi_sdk(gw: Gateway, key: str) -> None:
    meshapi = pytest.importorskip("meshapi")
    client = meshapi.MeshAPI(base_url=gw.url, token=key, max_retries=0)
    reply = client.chat.completions.create(
        meshapi.ChatCompletionParams(
            model="anthropic/claude-doc", messages=[meshapi.ChatMessage(role="user", content="Hello")]
        )
    )
    assert reply.choices[0].message.content == "Hi! My name is Claude."
    text, calls = "", []
    for chunk in client.chat.completions.stream(
        meshapi.ChatCompletionParams(
            model="anthropic/claude-tools",
            messages=[meshapi.ChatMessage(role="user", content="weather?")],
            tools=TOOLS,
            tool_choice="auto",
        )
    ):
        delta = chunk.choices[0].delta if chunk.choices else None
        if delta and delta.tool_calls:
            calls.extend(delta.tool_calls)
        elif delta and delta.content:
            text += delta.content
    assert text == doc.DOC_TOOL_TEXT
    assert len(calls) == 1 and calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == doc.DOC_TOOL_INPUT
    answer = ""
    for chunk in client.chat.completions.stream(
        meshapi.ChatCompletionParams(
            model="anthropic/claude-thinking", messages=[meshapi.ChatMessage(role="user", content="GCD?")]
        )
    ):
        if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
            answer += chunk.choices[0].delta.content
    assert answer == doc.DOC_THINKING_ANSWER
    with pytest.raises(meshapi.MeshAPIError) as info:
        list(
            client.chat.completions.stream(
                meshapi.ChatCompletionParams(
                    model="anthropic/claude-error-event", messages=[meshapi.ChatMessage(role="user", content="x y")]
                )
            )
        )
    assert info.value.error_code == "upstream_error"
