"""Gemini models behind the OpenAI wire format, through the real gateway.

The upstream is a local server speaking the Gemini API (``gwtest/gemini_upstream.py``),
answering with the documentation's examples and rejecting what the real API rejects; each
test checks the exact OpenAI-shaped answer and the Gemini request we sent.
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from typing import Any, Iterator

import httpx
import openai
import pytest
from gwtest import gemini_upstream as doc
from gwtest.harness import FakeUpstream, Gateway, start_gateway
from gwtest.openai_upstream import Recorder
from gwtest.server_thread import ServerThread
from meshapi_gateway.catalog.catalog import ModelEntry, load_catalog
from meshapi_gateway.http_client import HTTPClient
from meshapi_gateway.providers.base import CallContext, Target, UpstreamError
from meshapi_gateway.providers.gemini import GeminiProvider

MODELS = [
    "gemini-doc",
    "gemini-echo",
    "gemini-tools",
    "gemini-3-tools",
    "gemini-parallel",
    "gemini-stop",
    "gemini-length",
    "gemini-safety",
    "gemini-blocked",
    "gemini-thinking",
    "gemini-cached",
    "gemini-two",
    "gemini-error-event",
    "gemini-error-first",
    "gemini-cut",
    "gemini-eof",
    *(f"gemini-error-{s}" for s in (400, 403, 429, 500, 503)),
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_current_temperature",
            "description": "Gets the current temperature for a given location.",
            "parameters": {
                "type": "object",
                "properties": {"location": {"type": "string"}},
                "required": ["location"],
                "additionalProperties": False,
            },
        },
    }
]
GEMINI_TOOLS = [
    {
        "functionDeclarations": [
            {
                "name": "get_current_temperature",
                "description": "Gets the current temperature for a given location.",
                "parametersJsonSchema": TOOLS[0]["function"]["parameters"],
            }
        ]
    }
]


@pytest.fixture(scope="module")
def gemini_up() -> Iterator[FakeUpstream]:
    recorder = Recorder()
    server = ServerThread(doc.make_app(recorder)).start()
    yield FakeUpstream(server.url, recorder)
    server.stop()


def entries(url: str) -> list[dict[str, Any]]:
    common = {
        "provider": "gemini",
        "base_url": url,
        "api_key": "AIza-test",
        "prompt_usd_per_1m": "0.3",
        "completion_usd_per_1m": "2.5",
        "cache_read_input_usd_per_1m": "0.03",
    }
    out: list[dict[str, Any]] = [{"id": f"google/{m}", "upstream_model": m, **common} for m in MODELS]
    out.append(
        {"id": "google/flaky", "upstream_model": "gemini-error-first", "fallbacks": ["google/gemini-echo"], **common}
    )
    out.append({"id": "google/bad-key", "upstream_model": "gemini-echo", **{**common, "api_key": "bad-key"}})
    out.append({"id": "google/rate-limited", "upstream_model": "gemini-error-429", **common})
    out.append(
        {
            "id": "google/gemini-embedding-001",
            "upstream_model": "gemini-embedding-001",
            "model_type": "embedding",
            "output_modalities": ["embedding"],
            "supports_completions_api": False,
            "embedding_dimensions": 3072,
            **common,
        }
    )
    return out


@pytest.fixture(scope="module")
def gw(
    tmp_path_factory: pytest.TempPathFactory, gemini_up: FakeUpstream, fake_openai: FakeUpstream
) -> Iterator[Gateway]:
    # No retry rounds or breakers: these tests look at one translated exchange at a time.
    gateway = start_gateway(
        tmp_path_factory.mktemp("gw-gemini"),
        fake_openai.url,
        models=entries(gemini_up.url),
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


def stream_chunks(gw: Gateway, key: str, **body: Any) -> tuple[httpx.Response, list[Any]]:
    with gw.client(key) as c:
        r = c.post("/v1/chat/completions", json={**body, "stream": True})
    return r, sse_payloads(r.text)


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def sent(up: FakeUpstream) -> dict[str, Any]:
    return up.recorder.last()["body"]


# --- plain text, system, turns --------------------------------------------------------------


def test_plain_text_exact_answer_and_request(gw: Gateway, key: str, gemini_up: FakeUpstream) -> None:
    r = chat(gw, key, model="google/gemini-doc", messages=user("Explain how AI works in a few words"))
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["id"] == "chatcmpl-mAitaLmkHPPlz7IPvtfUqQ4"
    assert data["model"] == "google/gemini-doc" and data["object"] == "chat.completion"
    assert data["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": doc.DOC_TEXT},
            "finish_reason": "stop",
            "logprobs": None,
        }
    ]
    assert data["usage"] == {
        "prompt_tokens": 8,
        "completion_tokens": 12,
        "total_tokens": 20,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    request = gemini_up.recorder.last()
    assert request["path"] == "/v1beta/models/gemini-doc:generateContent"
    assert request["headers"]["x-goog-api-key"] == "AIza-test"
    assert "key=" not in request["query"] and "authorization" not in request["headers"]
    assert request["body"] == {
        "contents": [{"role": "user", "parts": [{"text": "Explain how AI works in a few words"}]}]
    }


def test_multi_turn_with_system_and_generation_config(gw: Gateway, key: str, gemini_up: FakeUpstream) -> None:
    messages = [
        {"role": "system", "content": "You are a cat."},
        {"role": "developer", "content": "Your name is Neko."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Meow."},
        {"role": "user", "content": "How are"},
        {"role": "user", "content": [{"type": "text", "text": "you?"}], "name": "bob"},
    ]
    r = chat(
        gw,
        key,
        model="google/gemini-echo",
        messages=messages,
        temperature=1.5,
        top_p=0.9,
        max_tokens=64,
        seed=42,
        presence_penalty=0.1,
        frequency_penalty=0.2,
        stop=["END"],
    )
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "echo: How are you?"
    assert sent(gemini_up) == {
        "systemInstruction": {"parts": [{"text": "You are a cat."}, {"text": "Your name is Neko."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Hello"}]},
            {"role": "model", "parts": [{"text": "Meow."}]},
            {"role": "user", "parts": [{"text": "How are"}, {"text": "you?"}]},
        ],
        "generationConfig": {
            "maxOutputTokens": 64,
            "temperature": 1.5,
            "topP": 0.9,
            "seed": 42,
            "presencePenalty": 0.1,
            "frequencyPenalty": 0.2,
            "stopSequences": ["END"],
        },
    }
    assert r.headers["x-meshapi-warning"] == "message name fields dropped (gemini has no equivalent)"


def test_image_and_audio_input(gw: Gateway, key: str, gemini_up: FakeUpstream) -> None:
    content = [
        {"type": "text", "text": "Caption this image and transcribe the clip."},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQSkZJRg=="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        {"type": "input_audio", "input_audio": {"data": "SUQzBAAAAAAA", "format": "mp3"}},
    ]
    r = chat(gw, key, model="google/gemini-echo", messages=[{"role": "user", "content": content}])
    assert r.status_code == 200, r.text
    assert sent(gemini_up)["contents"] == [
        {
            "role": "user",
            "parts": [
                {"text": "Caption this image and transcribe the clip."},
                {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQSkZJRg=="}},
                {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/cat.png"}},
                {"inlineData": {"mimeType": "audio/mp3", "data": "SUQzBAAAAAAA"}},
            ],
        }
    ]


# --- tools ----------------------------------------------------------------------------------


def test_tool_call_auto(gw: Gateway, key: str, gemini_up: FakeUpstream) -> None:
    r = chat(
        gw,
        key,
        model="google/gemini-tools",
        messages=user("What's the temperature in London?"),
        tools=TOOLS,
        tool_choice="auto",
    )
    choice = r.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert call["id"].startswith("call_") and call["type"] == "function"
    assert call["function"] == {"name": "get_current_temperature", "arguments": '{"location":"London"}'}
    body = sent(gemini_up)
    assert body["tools"] == GEMINI_TOOLS
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        ("required", {"mode": "ANY"}),
        ("none", {"mode": "NONE"}),
        (
            {"type": "function", "function": {"name": "get_current_temperature"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_current_temperature"]},
        ),
    ],
)
def test_tool_choice_mapping(
    gw: Gateway, key: str, gemini_up: FakeUpstream, tool_choice: Any, expected: dict[str, Any]
) -> None:
    r = chat(gw, key, model="google/gemini-tools", messages=user("London?"), tools=TOOLS, tool_choice=tool_choice)
    assert r.status_code == 200, r.text
    assert sent(gemini_up)["toolConfig"] == {"functionCallingConfig": expected}
    assert r.json()["choices"][0]["finish_reason"] == "tool_calls"


def test_parallel_tool_calls_non_stream_and_stream(gw: Gateway, key: str) -> None:
    tools = [
        {"type": "function", "function": {"name": c["name"], "parameters": {"type": "object"}}}
        for c in doc.DOC_PARALLEL
    ]
    r = chat(
        gw,
        key,
        model="google/gemini-parallel",
        messages=user("Turn this place into a party!"),
        tools=tools,
        tool_choice="required",
    )
    calls = r.json()["choices"][0]["message"]["tool_calls"]
    assert [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls] == [
        (c["name"], c["args"]) for c in doc.DOC_PARALLEL
    ]
    assert len({c["id"] for c in calls}) == 3
    _, payloads = stream_chunks(gw, key, model="google/gemini-parallel", messages=user("party!"), tools=tools)
    chunks = [p for p in payloads if p != "[DONE]" and p["choices"]]
    streamed = [tc for ch in chunks for tc in ch["choices"][0]["delta"].get("tool_calls") or []]
    assert [(tc["index"], tc["function"]["name"], json.loads(tc["function"]["arguments"])) for tc in streamed] == [
        (i, c["name"], c["args"]) for i, c in enumerate(doc.DOC_PARALLEL)
    ]
    assert all(tc["type"] == "function" and tc["id"].startswith("call_") for tc in streamed)
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_tool_results_round_trip(gw: Gateway, key: str, gemini_up: FakeUpstream) -> None:
    first = chat(gw, key, model="google/gemini-tools", messages=user("London?"), tools=TOOLS)
    call = first.json()["choices"][0]["message"]["tool_calls"][0]
    messages = [
        *user("London?"),
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": '{"temperature": 12, "unit": "C"}'},
        {"role": "user", "content": "And in words?"},
    ]
    r = chat(gw, key, model="google/gemini-echo", messages=messages, tools=TOOLS)
    assert r.status_code == 200, r.text
    assert sent(gemini_up)["contents"] == [
        {"role": "user", "parts": [{"text": "London?"}]},
        {
            "role": "model",
            "parts": [{"functionCall": {"name": "get_current_temperature", "args": {"location": "London"}}}],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_current_temperature", "response": {"temperature": 12, "unit": "C"}}},
                {"text": "And in words?"},
            ],
        },
    ]
    # A plain-text tool result is wrapped, since Gemini wants an object.
    messages[2]["content"] = "12 degrees"
    assert chat(gw, key, model="google/gemini-echo", messages=messages).status_code == 200
    assert sent(gemini_up)["contents"][2]["parts"][0]["functionResponse"]["response"] == {"output": "12 degrees"}


def test_thought_signature_survives_the_round_trip(gw: Gateway, key: str, gemini_up: FakeUpstream) -> None:
    first = chat(gw, key, model="google/gemini-3-tools", messages=user("London?"), tools=TOOLS)
    call = first.json()["choices"][0]["message"]["tool_calls"][0]
    messages = [
        *user("London?"),
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "12"},
    ]
    r = chat(gw, key, model="google/gemini-3-tools", messages=messages, tools=TOOLS)
    assert r.status_code == 200, r.text
    part = sent(gemini_up)["contents"][1]["parts"][0]
    assert part["thoughtSignature"] == doc.DOC_SIGNATURE
    # Without it Gemini 3 refuses the turn, and the client sees Gemini's own message.
    messages[1]["tool_calls"] = [{**call, "id": "call_x"}]
    messages[2]["tool_call_id"] = "call_x"
    r = chat(gw, key, model="google/gemini-3-tools", messages=messages, tools=TOOLS)
    assert r.status_code == 422
    assert "thought_signature" in r.json()["error"]["message"]


# --- parameters and stop reasons ------------------------------------------------------------


def test_stop_sequences_and_length(gw: Gateway, key: str, gemini_up: FakeUpstream) -> None:
    r = chat(gw, key, model="google/gemini-stop", messages=user("count"), stop="three")
    assert r.json()["choices"][0]["finish_reason"] == "stop"
    assert sent(gemini_up)["generationConfig"] == {"stopSequences": ["three"]}
    r = chat(gw, key, model="google/gemini-length", messages=user("a b c d e"), max_completion_tokens=3)
    choice = r.json()["choices"][0]
    assert choice == {
        "index": 0,
        "message": {"role": "assistant", "content": "echo: a b"},
        "finish_reason": "length",
        "logprobs": None,
    }
    _, payloads = stream_chunks(gw, key, model="google/gemini-length", messages=user("a b c d e"), max_tokens=3)
    assert [p for p in payloads if p != "[DONE]" and p["choices"]][-1]["choices"][0]["finish_reason"] == "length"


def test_safety_and_blocked_prompt_are_content_filter(gw: Gateway, key: str) -> None:
    for model in ("google/gemini-safety", "google/gemini-blocked"):
        r = chat(gw, key, model=model, messages=user("something bad"))
        assert r.status_code == 200, r.text
        assert r.json()["choices"] == [
            {
                "index": 0,
                "message": {"role": "assistant", "content": ""},
                "finish_reason": "content_filter",
                "logprobs": None,
            }
        ]
        r, payloads = stream_chunks(gw, key, model=model, messages=user("something bad"))
        assert payloads[-1] == "[DONE]"
        finishes = [c["finish_reason"] for p in payloads[:-1] for c in p["choices"] if c["finish_reason"]]
        assert finishes == ["content_filter"]


def test_response_format_and_dropped_parameters(gw: Gateway, key: str, gemini_up: FakeUpstream) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    r = chat(
        gw,
        key,
        model="google/gemini-echo",
        messages=user("json please"),
        logprobs=True,
        top_logprobs=2,
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
        parallel_tool_calls=False,
        user="u-1",
    )
    assert r.status_code == 200, r.text
    assert (
        r.headers["x-meshapi-warning"]
        == "dropped unsupported parameter(s): logprobs, parallel_tool_calls, top_logprobs"
    )
    assert sent(gemini_up)["generationConfig"] == {"responseMimeType": "application/json", "responseJsonSchema": schema}


# --- reasoning and usage ----------------------------------------------------------------------


def test_thinking_parts_become_reasoning(gw: Gateway, key: str, gemini_up: FakeUpstream) -> None:
    r = chat(gw, key, model="google/gemini-thinking", messages=user("What is 20 + 22?"), reasoning_effort="low")
    data = r.json()
    assert data["choices"][0]["message"] == {
        "role": "assistant",
        "content": doc.DOC_THOUGHT_ANSWER,
        "reasoning_content": doc.DOC_THOUGHT,
    }
    assert data["usage"] == {
        "prompt_tokens": 20,
        "completion_tokens": 156,
        "total_tokens": 176,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 150},
    }
    assert sent(gemini_up)["generationConfig"] == {"thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True}}
    _, payloads = stream_chunks(gw, key, model="google/gemini-thinking", messages=user("20 + 22?"))
    deltas = [c["delta"] for p in payloads[:-1] for c in p["choices"]]
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == doc.DOC_THOUGHT
    assert "".join(d.get("content") or "" for d in deltas) == doc.DOC_THOUGHT_ANSWER
    assert gemini_up.recorder.last()["query"] == "alt=sse"
    assert gemini_up.recorder.last()["path"] == "/v1beta/models/gemini-thinking:streamGenerateContent"


def test_usage_with_cached_tokens(gw: Gateway, key: str) -> None:
    expected = {
        "prompt_tokens": 4200,
        "completion_tokens": 5,
        "total_tokens": 4205,
        "prompt_tokens_details": {"cached_tokens": 4096},
    }
    r = chat(gw, key, model="google/gemini-cached", messages=user("summary?"))
    assert r.json()["usage"] == expected
    # (104 uncached x $0.30 + 4096 cached x $0.03 + 5 x $2.50) / 1M
    assert r.json()["cost"] == "0.00016658"
    _, payloads = stream_chunks(gw, key, model="google/gemini-cached", messages=user("summary?"))
    assert payloads[-2]["choices"] == [] and payloads[-2]["usage"] == expected
    assert payloads[-2]["cost"] == "0.00016658"


# --- streams ----------------------------------------------------------------------------------


def test_stream_text_exact_chunks(gw: Gateway, key: str) -> None:
    r, payloads = stream_chunks(gw, key, model="google/gemini-doc", messages=user("Explain AI"))
    assert r.status_code == 200 and payloads[-1] == "[DONE]"
    chunks = payloads[:-1]
    assert {ch["id"] for ch in chunks} == {"chatcmpl-mAitaLmkHPPlz7IPvtfUqQ4"}
    assert all(ch["model"] == "google/gemini-doc" and ch["object"] == "chat.completion.chunk" for ch in chunks)
    assert [ch["choices"] for ch in chunks[:-1]] == [
        [{"index": 0, "delta": {"role": "assistant", "content": "AI learns patterns"}, "finish_reason": None}],
        [{"index": 0, "delta": {"content": " from data to make"}, "finish_reason": None}],
        [{"index": 0, "delta": {"content": " predictions or decisions."}, "finish_reason": None}],
        [{"index": 0, "delta": {}, "finish_reason": "stop"}],
    ]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 20


def test_stream_tool_call_is_whole(gw: Gateway, key: str) -> None:
    _, payloads = stream_chunks(gw, key, model="google/gemini-tools", messages=user("London?"), tools=TOOLS)
    chunks = [p for p in payloads if p != "[DONE]" and p["choices"]]
    calls = [tc for ch in chunks for tc in ch["choices"][0]["delta"].get("tool_calls") or []]
    assert len(calls) == 1
    assert calls[0]["index"] == 0 and calls[0]["type"] == "function" and calls[0]["id"].startswith("call_")
    assert calls[0]["function"] == {"name": "get_current_temperature", "arguments": '{"location":"London"}'}
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "tool_calls"}


def test_mid_stream_error_event_becomes_error_frame(gw: Gateway, key: str) -> None:
    r, payloads = stream_chunks(gw, key, model="google/gemini-error-event", messages=user("one two three"))
    assert r.status_code == 200 and payloads[-1] == "[DONE]"
    assert payloads[-2]["error"]["code"] == "upstream_error"
    assert payloads[-2]["error"]["message"] == doc.DOC_ERROR_MESSAGES[503]
    assert all(c["finish_reason"] is None for p in payloads[:-2] for c in p["choices"])
    assert not any("usage" in p for p in payloads[:-2])


@pytest.mark.parametrize("model", ["google/gemini-cut", "google/gemini-eof"])
def test_truncated_stream_is_an_error_never_a_clean_finish(gw: Gateway, key: str, model: str) -> None:
    _, payloads = stream_chunks(gw, key, model=model, messages=user("a b c d e f g h"))
    assert payloads[-1] == "[DONE]"
    assert payloads[-2]["error"]["code"] == "upstream_error"
    assert all(c["finish_reason"] is None for p in payloads[:-2] for c in p["choices"])
    assert not any("usage" in p for p in payloads[:-2])


def test_error_as_first_event_falls_back_before_any_byte(gw: Gateway, key: str) -> None:
    r, payloads = stream_chunks(gw, key, model="google/flaky", messages=user("hello"))
    assert r.status_code == 200
    assert r.headers["x-meshapi-fallback"] == "google/flaky,google/gemini-echo"
    assert all(p["model"] == "google/gemini-echo" for p in payloads[:-1])


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "client_status"),
    [
        (400, "validation_error", 422),
        (403, "upstream_error", 500),
        (429, "rate_limit_exceeded", 429),
        (500, "upstream_error", 500),
        (503, "upstream_error", 503),
    ],
)
def test_error_bodies(gw: Gateway, key: str, status: int, code: str, client_status: int) -> None:
    for stream in (False, True):
        r = chat(gw, key, model=f"google/gemini-error-{status}", messages=user("x"), stream=stream)
        assert r.status_code == client_status, r.text
        error = r.json()["error"]
        assert error["code"] == code
        assert doc.DOC_ERROR_MESSAGES[status] in error["message"]
        if status == 403:
            assert error["provider_error"] == doc.error_body(403)
        if status == 429:
            assert error["retry_after_seconds"] == 3 and r.headers["retry-after"] == "3"


def test_invalid_api_key_is_an_upstream_credentials_error(gw: Gateway, key: str) -> None:
    r = chat(gw, key, model="google/bad-key", messages=user("x"))
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "upstream_error"
    assert r.json()["error"]["provider_error"] == doc.API_KEY_INVALID


# --- embeddings -----------------------------------------------------------------------------


def _target(url: str) -> Target:
    entry = ModelEntry.model_validate(entries(url)[-1]).finish()
    return Target(entry, entry.all_deployments()[0], "AIza-test")


def test_embeddings_adapter_directly(gemini_up: FakeUpstream) -> None:
    async def run() -> tuple[dict[str, Any], dict[str, Any], UpstreamError]:
        session = HTTPClient()
        try:
            ctx = CallContext(request_id="req_1", session=session)
            provider, target = GeminiProvider(), _target(gemini_up.url)
            one = await provider.embeddings(
                {"input": "hello world", "dimensions": 4, "input_type": "query"}, target, ctx
            )
            many = await provider.embeddings({"input": ["a", "bb"], "encoding_format": "base64"}, target, ctx)
            with pytest.raises(UpstreamError) as info:
                await provider.embeddings({"input": [[1, 2, 3]]}, target, ctx)
            return one, many, info.value
        finally:
            await session.aclose()

    one, many, err = asyncio.run(run())
    assert one == {
        "object": "list",
        "model": "google/gemini-embedding-001",
        "data": [{"object": "embedding", "index": 0, "embedding": doc._embedding("hello world", 4)}],
        "usage": {"prompt_tokens": 2, "total_tokens": 2},
    }
    assert gemini_up.recorder.requests[-2]["body"] == {
        "content": {"parts": [{"text": "hello world"}]},
        "taskType": "RETRIEVAL_QUERY",
        "outputDimensionality": 4,
    }
    decoded = [list(struct.unpack("<8f", base64.b64decode(item["embedding"]))) for item in many["data"]]
    assert decoded == [pytest.approx(doc._embedding(t, 8)) for t in ("a", "bb")]
    assert gemini_up.recorder.last()["path"] == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert err.code == "validation_error"


def test_embeddings_route(gw: Gateway, key: str, gemini_up: FakeUpstream) -> None:
    with gw.client(key) as c:
        r = c.post(
            "/v1/embeddings",
            json={"model": "google/gemini-embedding-001", "input": ["one", "two two"], "dimensions": 4},
        )
    assert r.status_code == 200, r.text
    data = r.json()
    assert [item["embedding"] for item in data["data"]] == [doc._embedding("one", 4), doc._embedding("two two", 4)]
    assert data["model"] == "google/gemini-embedding-001" and data["usage"]["prompt_tokens"] > 0
    assert sent(gemini_up)["requests"][1] == {
        "model": "models/gemini-embedding-001",
        "content": {"parts": [{"text": "two two"}]},
        "outputDimensionality": 4,
    }
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)
    reply = client.embeddings.create(model="google/gemini-embedding-001", input="hello")
    assert len(reply.data[0].embedding) == 8


# --- catalog and independent clients --------------------------------------------------------


def test_catalog_lists_the_well_known_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-x")
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-x")
    catalog = load_catalog(builtin=True)
    for model_id, provider, upstream in [
        ("anthropic/claude-sonnet-4.5", "anthropic", "claude-sonnet-4-5"),
        ("anthropic/claude-haiku-4.5", "anthropic", "claude-haiku-4-5"),
        ("anthropic/claude-opus-4.5", "anthropic", "claude-opus-4-5"),
        ("google/gemini-2.5-flash", "gemini", "gemini-2.5-flash"),
        ("google/gemini-2.5-pro", "gemini", "gemini-2.5-pro"),
        ("google/gemini-3-pro-preview", "gemini", "gemini-3-pro-preview"),
        ("google/gemini-embedding-001", "gemini", "gemini-embedding-001"),
    ]:
        entry = catalog.get(model_id)
        assert entry is not None, model_id
        assert (entry.provider, entry.upstream_model) == (provider, upstream)
        assert entry.pricing.prompt_usd_per_1m > 0, model_id


def test_openai_client(gw: Gateway, key: str) -> None:
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)
    reply = client.chat.completions.create(model="google/gemini-doc", messages=user("Explain AI"))
    assert reply.choices[0].message.content == doc.DOC_TEXT
    text = "".join(
        chunk.choices[0].delta.content or ""
        for chunk in client.chat.completions.create(model="google/gemini-doc", messages=user("Explain AI"), stream=True)
        if chunk.choices
    )
    assert text == doc.DOC_TEXT
    reply = client.chat.completions.create(model="google/gemini-tools", messages=user("London?"), tools=TOOLS)
    assert reply.choices[0].finish_reason == "tool_calls"
    assert json.loads(reply.choices[0].message.tool_calls[0].function.arguments) == {"location": "London"}
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="google/rate-limited", messages=user("x"))
    with pytest.raises(openai.APIError):
        list(client.chat.completions.create(model="google/gemini-cut", messages=user("a b c d"), stream=True))


def test_meshapi_sdk(gw: Gateway, key: str) -> None:
    meshapi = pytest.importorskip("meshapi")
    client = meshapi.MeshAPI(base_url=gw.url, token=key, max_retries=0)
    reply = client.chat.completions.create(
        meshapi.ChatCompletionParams(
            model="google/gemini-doc", messages=[meshapi.ChatMessage(role="user", content="Explain AI")]
        )
    )
    assert reply.choices[0].message.content == doc.DOC_TEXT
    calls = []
    for chunk in client.chat.completions.stream(
        meshapi.ChatCompletionParams(
            model="google/gemini-parallel",
            messages=[meshapi.ChatMessage(role="user", content="party!")],
            tools=TOOLS,
            tool_choice="required",
        )
    ):
        delta = chunk.choices[0].delta if chunk.choices else None
        if delta and delta.tool_calls:
            calls.extend(delta.tool_calls)
    assert [json.loads(c.function.arguments) for c in calls] == [c["args"] for c in doc.DOC_PARALLEL]
    with pytest.raises(meshapi.MeshAPIError) as info:
        list(
            client.chat.completions.stream(
                meshapi.ChatCompletionParams(
                    model="google/gemini-eof", messages=[meshapi.ChatMessage(role="user", content="a b c")]
                )
            )
        )
    assert info.value.error_code == "upstream_error"
