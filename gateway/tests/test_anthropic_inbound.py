"""``POST /v1/messages`` through the anthropic SDK against the real gateway, on the fake upstreams.

An OpenAI-compatible model answers through the translation (requests checked as the fake
received them, answers and streams as the SDK parsed them); an Anthropic model answers through
the native pass-through (the fake Anthropic server sees the client's own body, cache marks and
thinking signatures included). Errors come back in Anthropic's envelope, as the SDK's typed
exceptions. The local model has its own file (``test_anthropic_inbound_local.py``).
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any, Iterator

import anthropic
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gwtest import anthropic_upstream as doc
from gwtest import gemini_upstream as gemini_doc
from gwtest.accounts_support import ADMIN
from gwtest.harness import FakeUpstream, Gateway, fake_models, start_gateway
from gwtest.openai_upstream import Recorder
from gwtest.recording_billing import gateway_state
from gwtest.server_thread import ServerThread
from meshapi_gateway.calls import AdmissionCheck, Call, CallRecord
from meshapi_gateway.catalog import ModelEntry
from meshapi_gateway.errors import GatewayError

WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather in a given location",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
ANTHROPIC_COMMON = {
    "provider": "anthropic",
    "api_key": "sk-ant-test",
    "max_output_tokens": 2048,
    "prompt_usd_per_1m": "3",
    "completion_usd_per_1m": "15",
}


@pytest.fixture(scope="module")
def anthropic_up() -> Iterator[FakeUpstream]:
    recorder = Recorder()
    server = ServerThread(doc.make_app(recorder)).start()
    yield FakeUpstream(server.url, recorder)
    server.stop()


@pytest.fixture(scope="module")
def gemini_up() -> Iterator[FakeUpstream]:
    recorder = Recorder()
    server = ServerThread(gemini_doc.make_app(recorder)).start()
    yield FakeUpstream(server.url, recorder)
    server.stop()


@pytest.fixture(scope="module")
def gw(
    tmp_path_factory: pytest.TempPathFactory,
    anthropic_up: FakeUpstream,
    gemini_up: FakeUpstream,
    fake_openai: FakeUpstream,
) -> Iterator[Gateway]:
    models = fake_models(fake_openai.url)
    gemini = {
        "provider": "gemini",
        "base_url": gemini_up.url,
        "api_key": "AIza-test",
        "prompt_usd_per_1m": "0.3",
        "completion_usd_per_1m": "2.5",
    }
    models += [
        {"id": f"google/{m}", "upstream_model": m, "supports_thinking": m == "gemini-thinking", **gemini}
        for m in ("gemini-echo", "gemini-thinking", "gemini-cached")
    ]
    models.append(
        {
            "id": "anthropic/flaky",
            "upstream_model": "claude-error-first",
            "base_url": anthropic_up.url,
            "fallbacks": ["fake/echo", "anthropic/claude-echo"],
            **ANTHROPIC_COMMON,
        }
    )
    for name in (
        "claude-echo",
        "claude-doc",
        "claude-tools",
        "claude-thinking",
        "claude-cached",
        "claude-error-event",
        "claude-error-first",
        "claude-error-529",
        "claude-cut",
    ):
        models.append(
            {"id": f"anthropic/{name}", "upstream_model": name, "base_url": anthropic_up.url, **ANTHROPIC_COMMON}
        )
    model_map = {
        "claude-sonnet-4-5": "fake/echo",
        "claude-3-5-haiku-*": "fake/tools",
        "claude-opus-*": "fake/echo",
        "claude-passthrough": "anthropic/claude-echo",
    }
    gateway = start_gateway(
        tmp_path_factory.mktemp("gw-messages"),
        fake_openai.url,
        models=models,
        anthropic={"model_map": model_map},
        auto_router={"prefer": ["anthropic/claude-echo"]},
        retry_max_rounds=0,
        breaker_failure_threshold=1000,
    )
    yield gateway
    gateway.server.stop()


@pytest.fixture(scope="module")
def key(gw: Gateway) -> str:
    return gw.create_key("alice")


@pytest.fixture(scope="module")
def client(gw: Gateway, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0, timeout=30)


def sent(up: FakeUpstream) -> dict[str, Any]:
    return up.recorder.last()["body"]


def raw_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event name, payload) of every SSE frame; each frame names its event and carries JSON."""
    out = []
    for block in text.split("\n\n")[:-1]:
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        payload = json.loads(lines["data"])
        assert payload["type"] == lines["event"]
        out.append((lines["event"], payload))
    return out


# --- the translated path (an OpenAI-compatible model) ------------------------------------------


def test_text_answer_through_the_model_map(client: anthropic.Anthropic, fake_openai: FakeUpstream) -> None:
    message = client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=64,
        system="Be terse.",
        messages=[{"role": "user", "content": "Hello there"}],
        stop_sequences=["END"],
        metadata={"user_id": "u-42"},
        extra_body={"temperature": 0.5},
    )
    assert message.type == "message" and message.role == "assistant"
    assert message.id.startswith("msg_")
    assert message.model == "fake/echo"
    assert [(b.type, b.text) for b in message.content] == [("text", "echo: Hello there")]
    assert message.stop_reason == "end_turn"
    sent_body = sent(fake_openai)
    assert sent_body["messages"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Hello there"},
    ]
    assert sent_body["max_tokens"] == 64 and sent_body["temperature"] == 0.5
    assert sent_body["stop"] == ["END"] and sent_body["user"] == "u-42"
    # The fake counts words + 3 for the prompt; OpenAI's prompt_tokens is Anthropic's input_tokens (no cache).
    assert message.usage.input_tokens == 2 + 2 + 3
    assert message.usage.output_tokens == 3
    assert message.usage.cache_read_input_tokens == 0


def test_headers_request_id_and_resolved_model(gw: Gateway, key: str) -> None:
    with httpx.Client(base_url=gw.url, timeout=30) as c:
        r = c.post(
            "/v1/messages?beta=true",
            headers={"x-api-key": key, "anthropic-version": "2023-06-01", "anthropic-beta": "no-such-beta-2099-01-01"},
            json={"model": "claude-opus-4-1", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]},
        )
    assert r.status_code == 200, r.text
    assert r.headers["request-id"] == r.headers["x-request-id"]
    assert r.headers["x-resolved-model-id"] == "fake/echo"
    assert r.json()["content"] == [{"type": "text", "text": "echo: hi"}]


def test_bearer_key_and_usage_billed_as_messages(gw: Gateway, key: str) -> None:
    c = anthropic.Anthropic(base_url=gw.url, auth_token=key, api_key=None, max_retries=0, timeout=30)
    message = c.messages.create(model="fake/echo", max_tokens=10, messages=[{"role": "user", "content": "bill me"}])
    assert message._request_id
    with gw.client(key) as h:
        rows = h.get("/v1/usage", params={"request_id": message._request_id}).json()["data"]
    assert [(r["kind"], r["model"], r["prompt_tokens"], r["completion_tokens"]) for r in rows] == [
        ("messages", "fake/echo", message.usage.input_tokens, message.usage.output_tokens)
    ]
    # fake/echo costs $1 per million prompt tokens and $2 per million completion tokens.
    expected = (Decimal(message.usage.input_tokens) + 2 * Decimal(message.usage.output_tokens)) / 1_000_000
    assert Decimal(rows[0]["cost_usd"]) == expected


def test_tool_choice_none_keeps_the_tools_but_asks_for_text(
    client: anthropic.Anthropic, fake_openai: FakeUpstream
) -> None:
    message = client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=50,
        tools=[WEATHER],
        tool_choice={"type": "none"},
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    )
    assert message.stop_reason == "end_turn" and [b.type for b in message.content] == ["text"]
    body = sent(fake_openai)
    assert body["tool_choice"] == "none" and [t["function"]["name"] for t in body["tools"]] == ["get_weather"]


def test_multi_turn_tool_use_and_tool_result(client: anthropic.Anthropic, fake_openai: FakeUpstream) -> None:
    first = client.messages.create(
        model="claude-3-5-haiku-20241022",
        max_tokens=100,
        tools=[WEATHER],
        tool_choice={"type": "any"},
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    )
    assert first.stop_reason == "tool_use"
    [call] = [b for b in first.content if b.type == "tool_use"]
    assert (call.id, call.name, call.input) == ("call_fake1", "get_weather", {"city": "Paris", "unit": "celsius"})
    body = sent(fake_openai)
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": WEATHER["description"],
                "parameters": WEATHER["input_schema"],
            },
        }
    ]
    assert body["tool_choice"] == "required"
    second = client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=100,
        tools=[WEATHER],
        tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": call.id, "name": call.name, "input": call.input},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": call.id, "content": [{"type": "text", "text": "18C"}]},
                    {"type": "text", "text": "And so?"},
                ],
            },
        ],
    )
    assert second.content[0].type == "text"
    body = sent(fake_openai)
    assert body["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "call_fake1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris","unit":"celsius"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_fake1", "content": "18C"},
        {"role": "user", "content": "And so?"},
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["parallel_tool_calls"] is False


def test_images_and_documents_translated(client: anthropic.Anthropic, fake_openai: FakeUpstream) -> None:
    client.messages.create(
        model="fake/echo",
        max_tokens=10,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
                    {
                        "type": "document",
                        "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
                    },
                    {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain words"}},
                    {"type": "text", "text": "Describe."},
                ],
            }
        ],
    )
    assert sent(fake_openai)["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
                {
                    "type": "file",
                    "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "document.pdf"},
                },
                {"type": "text", "text": "plain words"},
                {"type": "text", "text": "Describe."},
            ],
        }
    ]


def test_stream_text_event_sequence(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model="claude-sonnet-4-5", max_tokens=50, messages=[{"role": "user", "content": "one two three"}]
    ) as stream:
        kinds = [e.type for e in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start"
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert "content_block_start" in kinds and "content_block_stop" in kinds
    assert final.content[0].type == "text" and final.content[0].text == "echo: one two three"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 4 and final.usage.input_tokens == 3 + 3


def test_stream_raw_frames_have_ping_and_named_events(gw: Gateway, key: str) -> None:
    with httpx.Client(base_url=gw.url, timeout=30) as c:
        r = c.post(
            "/v1/messages",
            headers={"x-api-key": key},
            json={
                "model": "fake/echo",
                "max_tokens": 10,
                "stream": True,
                "messages": [{"role": "user", "content": "a b"}],
            },
        )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = raw_events(r.text)
    assert [name for name, _ in events] == [
        "message_start",
        "ping",
        "content_block_start",
        *["content_block_delta"] * 3,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert "".join(p["delta"]["text"] for n, p in events if n == "content_block_delta") == "echo: a b"


def test_stream_tool_use(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model="fake/tools",
        max_tokens=50,
        tools=[WEATHER],
        tool_choice={"type": "auto"},
        messages=[{"role": "user", "content": "weather?"}],
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    [block] = final.content
    assert block.type == "tool_use" and block.input == {"city": "Paris", "unit": "celsius"}


def test_stream_failure_after_first_byte_is_an_error_event(gw: Gateway, key: str) -> None:
    with httpx.Client(base_url=gw.url, timeout=30) as c:
        r = c.post(
            "/v1/messages",
            headers={"x-api-key": key},
            json={
                "model": "fake/cut-3",
                "max_tokens": 10,
                "stream": True,
                "messages": [{"role": "user", "content": "a b c d e f"}],
            },
        )
    events = raw_events(r.text)
    assert events[0][0] == "message_start"
    name, payload = events[-1]
    assert name == "error" and payload["error"]["type"] == "api_error"
    assert "message_stop" not in [n for n, _ in events]
    c2 = anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0)
    with pytest.raises(anthropic.APIStatusError):
        with c2.messages.stream(
            model="fake/cut-3", max_tokens=10, messages=[{"role": "user", "content": "a b c d e f"}]
        ) as stream:
            for _ in stream:
                pass


# --- errors in Anthropic's envelope ----------------------------------------------------------


def test_bad_request_names_the_field(gw: Gateway, key: str, client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model="fake/echo", max_tokens=10, messages=[{"role": "robot", "content": "x"}])
    err = caught.value
    assert err.status_code == 400
    assert err.body["type"] == "error" and err.body["error"]["type"] == "invalid_request_error"
    assert err.body["error"]["message"].startswith("messages.0.role:")
    assert err.response.headers["request-id"] == err.body["request_id"]
    with httpx.Client(base_url=gw.url, timeout=30) as c:
        r = c.post("/v1/messages", headers={"x-api-key": key}, content=b"{not json")
        assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
        r = c.post(
            "/v1/messages",
            headers={"x-api-key": key},
            json={"model": "fake/echo", "messages": [{"role": "user", "content": "no max_tokens"}]},
        )
        assert r.status_code == 400 and r.json()["error"]["message"].startswith("max_tokens:")


def test_unknown_model_is_not_found(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(model="gpt-nothing", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["error"]["type"] == "not_found_error"


def test_auth_errors(gw: Gateway) -> None:
    bad = anthropic.Anthropic(base_url=gw.url, api_key="rsk_nope", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as caught:
        bad.messages.create(model="fake/echo", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["error"]["type"] == "authentication_error"
    with httpx.Client(base_url=gw.url, timeout=30) as c:
        r = c.post(
            "/v1/messages", json={"model": "fake/echo", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}]}
        )
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    assert r.headers["request-id"]


def test_rate_limit_is_429_rate_limit_error(gw: Gateway) -> None:
    limited = gw.create_key("carol", rpm=1)
    c = anthropic.Anthropic(base_url=gw.url, api_key=limited, max_retries=0)
    c.messages.create(model="fake/echo", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(anthropic.RateLimitError) as caught:
        c.messages.create(model="fake/echo", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["error"]["type"] == "rate_limit_error"
    assert caught.value.response.headers.get("retry-after")


def test_upstream_429_is_rate_limit_error(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.RateLimitError):
        client.messages.create(model="fake/fail-429", max_tokens=10, messages=[{"role": "user", "content": "x"}])


def test_no_balance_is_402_billing_error(gateway_factory: Any) -> None:
    g: Gateway = gateway_factory(billing_enforce=True)
    broke = g.create_key("dave")
    c = anthropic.Anthropic(base_url=g.url, api_key=broke, max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as caught:
        c.messages.create(model="fake/echo", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 402
    assert caught.value.body["error"]["type"] == "billing_error"


# --- the native pass-through (an Anthropic model) ---------------------------------------------

CLAUDE_CODE_TOOLS = [
    {
        "name": f"Tool{i}",
        "description": f"tool number {i}",
        "input_schema": {"type": "object", "properties": {"arg": {"type": "string"}}},
    }
    for i in range(12)
]
CLAUDE_CODE_SYSTEM = [
    {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
    {"type": "text", "text": "Work in the repository.", "cache_control": {"type": "ephemeral"}},
]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_the_stop_sequence_an_upstream_names_is_told(client: anthropic.Anthropic, stream: bool) -> None:
    """An OpenAI-compatible upstream that names the stop sequence in ``stop_reason`` (vLLM) is told as Anthropic's."""
    request: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "stop_sequences": ["##", "three"],
        "messages": [{"role": "user", "content": "one two three four"}],
    }
    if stream:
        with client.messages.stream(**request) as s:
            message = s.get_final_message()
    else:
        message = client.messages.create(**request)
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "three")
    assert message.content[0].type == "text" and message.content[0].text.strip() == "echo: one two"
    plain = client.messages.create(**{**request, "stream": False, "stop_sequences": ["absent"]})
    assert (plain.stop_reason, plain.stop_sequence) == ("end_turn", None)


def test_passthrough_keeps_the_body(client: anthropic.Anthropic, anthropic_up: FakeUpstream) -> None:
    messages: list[Any] = [
        {"role": "user", "content": [{"type": "text", "text": "Hello", "cache_control": {"type": "ephemeral"}}]}
    ]
    message = client.messages.create(
        model="claude-passthrough", max_tokens=30, system=CLAUDE_CODE_SYSTEM, messages=messages, extra_body={"top_k": 5}
    )
    assert message.content[0].text == "echo: Hello"
    request = anthropic_up.recorder.last()
    assert request["body"] == {
        "model": "claude-echo",
        "max_tokens": 30,
        "system": CLAUDE_CODE_SYSTEM,
        "messages": messages,
        "top_k": 5,
    }
    assert request["headers"]["x-api-key"] == "sk-ant-test"


def test_auto_choosing_an_anthropic_model_passes_the_body_through(
    client: anthropic.Anthropic, anthropic_up: FakeUpstream
) -> None:
    messages: list[Any] = [
        {"role": "user", "content": [{"type": "text", "text": "Hi", "cache_control": {"type": "ephemeral"}}]}
    ]
    raw = client.messages.with_raw_response.create(
        model="auto", max_tokens=30, system=CLAUDE_CODE_SYSTEM, messages=messages
    )
    assert raw.headers["x-resolved-model-id"] == "anthropic/claude-echo"
    assert raw.parse().content[0].text == "echo: Hi"
    assert anthropic_up.recorder.last()["body"] == {
        "model": "claude-echo",
        "max_tokens": 30,
        "system": CLAUDE_CODE_SYSTEM,
        "messages": messages,
    }


def test_passthrough_thinking_signature_round_trip(client: anthropic.Anthropic, anthropic_up: FakeUpstream) -> None:
    first = client.messages.create(
        model="anthropic/claude-thinking",
        max_tokens=3000,
        thinking={"type": "enabled", "budget_tokens": 2000},
        messages=[{"role": "user", "content": "gcd(1071, 462)?"}],
    )
    thinking = first.content[0]
    assert thinking.type == "thinking" and thinking.signature == doc.DOC_THINKING_SIGNATURE
    client.messages.create(
        model="anthropic/claude-echo",
        max_tokens=100,
        messages=[
            {"role": "user", "content": "gcd(1071, 462)?"},
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
            {"role": "user", "content": "Again?"},
        ],
    )
    assert sent(anthropic_up)["messages"][1]["content"][0] == {
        "type": "thinking",
        "thinking": doc.DOC_THINKING,
        "signature": doc.DOC_THINKING_SIGNATURE,
    }


def test_passthrough_usage_with_cache_tokens(gw: Gateway, key: str, client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="anthropic/claude-cached", max_tokens=30, messages=[{"role": "user", "content": "book?"}]
    )
    assert message.usage.cache_read_input_tokens == 1800
    assert message.usage.cache_creation_input_tokens == 188


def test_claude_code_shaped_stream(gw: Gateway, key: str, anthropic_up: FakeUpstream) -> None:
    """System blocks with cache_control, many tools, metadata.user_id, streamed, ?beta=true, anthropic-beta."""
    c = anthropic.Anthropic(
        base_url=gw.url,
        auth_token=key,
        api_key=None,
        max_retries=0,
        default_headers={"anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14"},
    )
    messages: list[Any] = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "list the files", "cache_control": {"type": "ephemeral"}}],
        }
    ]
    with c.beta.messages.stream(
        model="anthropic/claude-tools",
        max_tokens=2000,
        system=CLAUDE_CODE_SYSTEM,
        tools=CLAUDE_CODE_TOOLS,
        messages=messages,
        metadata={"user_id": "user_abc_account__session_123"},
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert [b.type for b in final.content] == ["text", "tool_use"]
    request = anthropic_up.recorder.last()
    assert request["headers"]["anthropic-beta"] == "claude-code-20250219,interleaved-thinking-2025-05-14"
    assert request["body"]["system"] == CLAUDE_CODE_SYSTEM and request["body"]["tools"] == CLAUDE_CODE_TOOLS
    assert request["body"]["metadata"] == {"user_id": "user_abc_account__session_123"}
    assert request["body"]["stream"] is True


def test_claude_code_shaped_stream_on_a_mapped_openai_model(gw: Gateway, key: str, fake_openai: FakeUpstream) -> None:
    c = anthropic.Anthropic(
        base_url=gw.url,
        auth_token=key,
        api_key=None,
        max_retries=0,
        default_headers={"anthropic-beta": "claude-code-20250219"},
    )
    with c.beta.messages.stream(
        model="claude-sonnet-4-5",
        max_tokens=2000,
        system=CLAUDE_CODE_SYSTEM,
        tools=CLAUDE_CODE_TOOLS,
        metadata={"user_id": "user_abc"},
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}
        ],
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].text == "echo: hi"
    body = sent(fake_openai)
    assert body["messages"][0] == {
        "role": "system",
        "content": CLAUDE_CODE_SYSTEM[0]["text"] + "\n\n" + CLAUDE_CODE_SYSTEM[1]["text"],
    }
    assert len(body["tools"]) == 12 and body["user"] == "user_abc"


def test_passthrough_error_event_and_fallback_free_errors(gw: Gateway, key: str, client: anthropic.Anthropic) -> None:
    with httpx.Client(base_url=gw.url, timeout=30) as c:
        r = c.post(
            "/v1/messages",
            headers={"x-api-key": key},
            json={
                "model": "anthropic/claude-error-event",
                "max_tokens": 30,
                "stream": True,
                "messages": [{"role": "user", "content": "x y"}],
            },
        )
    events = raw_events(r.text)
    assert events[0][0] == "message_start" and events[-1][0] == "error"
    assert events[-1][1]["error"]["type"] == "overloaded_error"
    with pytest.raises(anthropic.APIStatusError) as caught:
        client.messages.create(
            model="anthropic/claude-error-529", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.status_code == 529 and caught.value.body["error"]["type"] == "overloaded_error"


# --- count_tokens ----------------------------------------------------------------------------


def test_count_tokens_asks_an_anthropic_upstream(client: anthropic.Anthropic, anthropic_up: FakeUpstream) -> None:
    body: dict[str, Any] = {
        "system": "Be brief please",
        "tools": [WEATHER],
        "messages": [{"role": "user", "content": "How many tokens is this?"}],
    }
    counted = client.messages.count_tokens(model="claude-passthrough", **body)
    assert counted.input_tokens == doc.count_words({**body}) == 3 + 5 + 10
    assert sent(anthropic_up)["model"] == "claude-echo"


def test_count_tokens_estimate_elsewhere(client: anthropic.Anthropic) -> None:
    messages = [{"role": "user", "content": "x" * 400}]
    counted = client.messages.count_tokens(model="claude-sonnet-4-5", messages=messages)
    assert counted.input_tokens == len(json.dumps(messages, separators=(",", ":"))) // 4
    with pytest.raises(anthropic.BadRequestError):
        client.messages.count_tokens(model="claude-sonnet-4-5", messages=[])


# --- the call layer: admission checks and observers see /v1/messages as they see chat -------------


class Observer:
    def __init__(self) -> None:
        self.records: list[CallRecord] = []

    def finished(self, record: CallRecord) -> None:
        self.records.append(record)

    def wait_for(self, request_id: str, timeout: float = 5.0) -> CallRecord:
        """Streams report once they have settled, which may be just after the client read the last frame."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for record in self.records:
                if record.request_id == request_id:
                    return record
            time.sleep(0.02)
        raise AssertionError(f"no record for {request_id}")


class RefuseModel(AdmissionCheck):
    def __init__(self, banned: str) -> None:
        self.banned = banned
        self.released: list[CallRecord] = []

    def allow(self, call: Call, entry: ModelEntry) -> None:
        if entry.id == self.banned:
            raise GatewayError("forbidden", f"Model '{entry.id}' is not allowed for this key.")

    def release(self, call: Call, record: CallRecord) -> None:
        self.released.append(record)


@pytest.fixture
def hooks(gw: Gateway) -> Iterator[tuple[Any, Observer]]:
    state = gateway_state(gw)
    observer = Observer()
    state.call_observers.append(observer)
    yield state, observer
    state.call_observers.remove(observer)
    state.admission_checks.clear()


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "claude-passthrough"])
@pytest.mark.parametrize("stream", [False, True])
def test_observer_sees_messages_calls(
    client: anthropic.Anthropic, hooks: tuple[Any, Observer], model: str, stream: bool
) -> None:
    _, observer = hooks
    if stream:
        with client.messages.stream(model=model, max_tokens=20, messages=[{"role": "user", "content": "hi"}]) as s:
            message = s.get_final_message()
            request_id = s.response.headers["request-id"]
    else:
        message = client.messages.create(model=model, max_tokens=20, messages=[{"role": "user", "content": "hi"}])
        request_id = message._request_id or ""
    record = observer.wait_for(request_id)
    answered = "fake/echo" if model == "claude-sonnet-4-5" else "anthropic/claude-echo"
    assert (record.endpoint, record.model, record.status, record.streamed) == ("messages", answered, 200, stream)
    assert record.usage is not None and record.cost is not None and record.cost > 0
    assert message.usage.output_tokens > 0


def test_passthrough_stream_cut_short_is_billed_for_what_came(
    gw: Gateway, key: str, hooks: tuple[Any, Observer]
) -> None:
    _, observer = hooks
    with httpx.Client(base_url=gw.url, timeout=30) as c:
        r = c.post(
            "/v1/messages",
            headers={"x-api-key": key},
            json={
                "model": "anthropic/claude-cut",
                "max_tokens": 30,
                "stream": True,
                "messages": [{"role": "user", "content": "one two three four five"}],
            },
        )
    events = raw_events(r.text)
    assert events[-1][0] == "error" and events[-1][1]["error"]["type"] == "api_error"
    deltas = sum(1 for name, _ in events if name == "content_block_delta")
    record = observer.wait_for(r.headers["request-id"])
    assert record.usage is not None and record.error_code == "stream_interrupted"
    # message_start said 10 input tokens and 1 output token; each relayed delta counts as an output token.
    assert (record.usage["prompt_tokens"], record.usage["completion_tokens"]) == (10, deltas) and deltas >= 2


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "claude-passthrough"])
def test_admission_check_refuses_on_both_paths(
    client: anthropic.Anthropic, hooks: tuple[Any, Observer], model: str
) -> None:
    state, _ = hooks
    check = RefuseModel("fake/echo" if model == "claude-sonnet-4-5" else "anthropic/claude-echo")
    state.admission_checks.append(check)
    with pytest.raises(anthropic.PermissionDeniedError) as caught:
        client.messages.create(model=model, max_tokens=20, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.body["error"]["type"] == "permission_error"
    [released] = check.released
    assert released.endpoint == "messages" and released.status == 403 and released.model is None


def test_max_tokens_is_a_ceiling(client: anthropic.Anthropic, fake_openai: FakeUpstream) -> None:
    """Claude Code asks for 32,000 tokens; the model's catalog limit (4,096 for fake/echo) is what is asked upstream."""
    message = client.messages.create(
        model="claude-sonnet-4-5", max_tokens=32000, messages=[{"role": "user", "content": "hi"}]
    )
    assert message.stop_reason == "end_turn"
    assert sent(fake_openai)["max_tokens"] == 4096
    client.messages.create(model="claude-sonnet-4-5", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    assert sent(fake_openai)["max_tokens"] == 50


@pytest.mark.parametrize("window_limited,expected", [(False, "max_tokens"), (True, "model_context_window_exceeded")])
def test_length_stop_reason_says_what_bounded_the_answer(window_limited: bool, expected: str) -> None:
    from meshapi_gateway.anthropic_inbound.response import to_message
    from meshapi_gateway.anthropic_inbound.stream import MessageStream

    completion = {"choices": [{"message": {"content": "cut"}, "finish_reason": "length"}]}
    assert to_message(completion, "m", window_limited)["stop_reason"] == expected
    stream = MessageStream("msg_1", "m", window_limited)
    stream.start()
    stream.feed({"choices": [{"index": 0, "delta": {"content": "cut"}, "finish_reason": "length"}]})
    events = raw_events(stream.finish(None).decode())
    assert events[-2][1]["delta"]["stop_reason"] == expected


# --- Gemini through the translation: reasoning becomes thinking, cache reads are counted apart -------


def test_gemini_thinking_becomes_a_thinking_block(client: anthropic.Anthropic, gemini_up: FakeUpstream) -> None:
    message = client.messages.create(
        model="google/gemini-thinking",
        max_tokens=500,
        thinking={"type": "enabled", "budget_tokens": 5000},
        messages=[{"role": "user", "content": "Why is the sky blue?"}],
    )
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == gemini_doc.DOC_THOUGHT
    assert message.content[1].text == gemini_doc.DOC_THOUGHT_ANSWER
    # A budget of 5,000 tokens is the medium reasoning effort, which the adapter turns into a thinking budget.
    assert sent(gemini_up)["generationConfig"]["thinkingConfig"]["includeThoughts"] is True
    with client.messages.stream(
        model="google/gemini-thinking",
        max_tokens=500,
        thinking={"type": "enabled", "budget_tokens": 5000},
        messages=[{"role": "user", "content": "Why is the sky blue?"}],
    ) as stream:
        kinds = [e.type for e in stream]
        final = stream.get_final_message()
    assert "thinking" in kinds  # the SDK's event for each thinking_delta
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking == gemini_doc.DOC_THOUGHT


def test_gemini_cached_tokens_are_counted_apart(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="google/gemini-cached", max_tokens=50, messages=[{"role": "user", "content": "the document?"}]
    )
    assert message.usage.cache_read_input_tokens == 4096
    assert message.usage.input_tokens == 4200 - 4096


def test_thinking_left_out_where_the_model_does_not_reason(gw: Gateway, key: str, fake_openai: FakeUpstream) -> None:
    with httpx.Client(base_url=gw.url, timeout=30) as c:
        r = c.post(
            "/v1/messages",
            headers={"x-api-key": key},
            json={
                "model": "fake/echo",
                "max_tokens": 50,
                "thinking": {"type": "enabled", "budget_tokens": 2000},
                "top_k": 3,
                "messages": [{"role": "user", "content": "hi"}],
            },
        )
    assert r.status_code == 200, r.text
    assert "reasoning_effort" not in sent(fake_openai) and "top_k" not in sent(fake_openai)
    assert r.headers["x-meshapi-warning"] == (
        "top_k ignored (only Anthropic models take it); thinking ignored (the model does not reason)"
    )


def test_passthrough_falls_back_among_anthropic_models_only(client: anthropic.Anthropic) -> None:
    """anthropic/flaky's stream fails before its first event; fake/echo (not Anthropic-served) is skipped."""
    with client.messages.stream(
        model="anthropic/flaky", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        final = stream.get_final_message()
        headers = stream.response.headers
    assert final.content[0].text == "echo: hi"
    assert headers["x-resolved-model-id"] == "anthropic/claude-echo"
    assert headers["x-meshapi-fallback"] == "anthropic/flaky,anthropic/claude-echo"


# --- malformed requests are 400s naming the field, never a crash --------------------------------------

_SCALAR = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
# Scalars as often as containers: a field of the wrong scalar type is the commonest mistake.
_JSON = _SCALAR | st.recursive(
    _SCALAR,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "type",
                    "text",
                    "source",
                    "content",
                    "id",
                    "name",
                    "input",
                    "tool_use_id",
                    "role",
                    "data",
                    "url",
                    "media_type",
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)
_BLOCK_TYPES = st.sampled_from(
    [
        "text",
        "image",
        "document",
        "tool_use",
        "tool_result",
        "thinking",
        "search_result",
        "server_tool_use",
        "web_search_tool_result",
        "bogus",
    ]
)
# Every field present, each of any JSON type, so the checks behind the first one are reached too.
_BLOCK = st.fixed_dictionaries(
    {
        "type": _BLOCK_TYPES,
        **{
            name: _JSON
            for name in ("text", "source", "content", "id", "name", "input", "tool_use_id", "is_error", "title")
        },
    }
)
_MESSAGE = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "user", "assistant", "system"]),
        "content": st.one_of(st.text(max_size=5), st.lists(_BLOCK, max_size=4), _JSON),
    }
)
# max_tokens mostly valid, so that the messages behind it are reached.
_BODY = st.fixed_dictionaries(
    {"model": st.just("m"), "messages": st.lists(_MESSAGE, max_size=4), "max_tokens": st.integers(1, 100) | _JSON},
    optional={
        "system": st.one_of(_JSON, st.lists(_BLOCK, max_size=2)),
        "tools": _JSON,
        "tool_choice": _JSON,
        "stop_sequences": _JSON,
        "temperature": _JSON,
        "top_p": _JSON,
        "top_k": _JSON,
        "metadata": _JSON,
        "thinking": _JSON,
        "output_config": _JSON,
        "stream": _JSON,
    },
)


def _refuses_with_a_field_or_translates(body: dict[str, Any]) -> None:
    from meshapi_gateway.anthropic_inbound.errors import envelope
    from meshapi_gateway.anthropic_inbound.request import to_chat

    try:
        chat, _ = to_chat(body, "m")
    except GatewayError as exc:
        status, raw, _ = envelope(exc, "req_1")
        assert status == 400
        assert json.loads(raw)["error"]["type"] == "invalid_request_error"
        return
    json.dumps(chat)  # a translated request is plain JSON
    assert chat["messages"] is not None and isinstance(chat["max_tokens"], int)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=_BODY)
def test_translation_refuses_with_a_field_or_translates(body: dict[str, Any]) -> None:
    _refuses_with_a_field_or_translates(body)


@pytest.mark.parametrize(
    "kind",
    [
        "text",
        "image",
        "document",
        "tool_use",
        "tool_result",
        "thinking",
        "search_result",
        "server_tool_use",
        "web_search_tool_result",
        "bogus",
    ],
)
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    fields=st.fixed_dictionaries(
        {},
        optional={
            name: _JSON
            for name in ("text", "source", "content", "id", "name", "input", "tool_use_id", "is_error", "title")
        },
    ),
    where=st.sampled_from(["user", "assistant", "tool_result", "document"]),
)
def test_one_block_of_each_type_in_each_place(kind: str, fields: dict[str, Any], where: str) -> None:
    block = {"type": kind, **fields}
    if where == "tool_result":
        block = {"type": "tool_result", "tool_use_id": "toolu_1", "content": [block]}
    elif where == "document":
        block = {"type": "document", "source": {"type": "content", "content": [block]}}
    role = "assistant" if where == "assistant" else "user"
    _refuses_with_a_field_or_translates(
        {"model": "m", "max_tokens": 5, "messages": [{"role": role, "content": [block]}]}
    )


def test_idempotency_key_replays_the_message(client: anthropic.Anthropic, fake_openai: FakeUpstream) -> None:
    fake_openai.recorder.clear()
    headers = {"Idempotency-Key": "messages-replay-1"}
    first = client.messages.create(
        model="fake/echo", max_tokens=10, messages=[{"role": "user", "content": "once"}], extra_headers=headers
    )
    again = client.messages.create(
        model="fake/echo", max_tokens=10, messages=[{"role": "user", "content": "once"}], extra_headers=headers
    )
    assert again.id == first.id and again.content == first.content
    assert len(fake_openai.recorder.requests) == 1


def test_key_terms_apply_to_messages(gateway_factory: Any) -> None:
    """A key's model allowlist and budget (enforced in the call layer) hold on /v1/messages as on chat."""
    g: Gateway = gateway_factory(admin_token=ADMIN, anthropic={"model_map": {"claude-*": "fake/echo"}})

    def key(**terms: Any) -> str:
        r = httpx.post(
            g.url + "/v1/keys", headers={"authorization": f"Bearer {ADMIN}"}, json={"owner": "terms", **terms}
        )
        assert r.status_code == 201, r.text
        return str(r.json()["key"])

    hi: Any = [{"role": "user", "content": "hi"}]
    only_tools = anthropic.Anthropic(base_url=g.url, api_key=key(models=["fake/tools"]), max_retries=0)
    with pytest.raises(anthropic.PermissionDeniedError) as caught:
        only_tools.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=hi)
    assert caught.value.body["error"]["type"] == "permission_error"
    assert "fake/echo" in caught.value.body["error"]["message"]
    assert only_tools.messages.create(model="fake/tools", max_tokens=10, messages=hi).content
    # The worst case of a call (32,000 asked, 4,096 fit, at $2 per million) is beyond a $0.001 budget.
    tiny = anthropic.Anthropic(base_url=g.url, api_key=key(budget_usd="0.001"), max_retries=0, timeout=30)
    with pytest.raises(anthropic.APIStatusError) as refused:
        tiny.messages.create(model="claude-sonnet-4-5", max_tokens=32000, messages=hi)
    assert refused.value.status_code == 402 and refused.value.body["error"]["type"] == "billing_error"


@pytest.mark.parametrize(
    "error,expected",
    [
        (
            GatewayError(
                "validation_error",
                "This model's maximum context length is 128000 tokens. However, your "
                "messages resulted in 130000 tokens.",
                status=422,
                provider_error={"error": {"code": "context_length_exceeded"}},
            ),
            "prompt is too long: This model's maximum context length is 128000 tokens. However, your messages resulted "
            "in 130000 tokens.",
        ),
        (
            GatewayError("validation_error", "prompt is too long: 208415 tokens > 200000 maximum", status=422),
            "prompt is too long: 208415 tokens > 200000 maximum",
        ),
        (GatewayError("upstream_error", "context window service down", status=500), "context window service down"),
    ],
)
def test_context_errors_in_anthropic_words(error: GatewayError, expected: str) -> None:
    from meshapi_gateway.anthropic_inbound.errors import envelope

    status, raw, _ = envelope(error, "req_1")
    body = json.loads(raw)
    assert body["error"]["message"] == expected
    assert (status, body["error"]["type"]) == (
        (400, "invalid_request_error") if error.status < 500 else (500, "api_error")
    )


def _paused_gateway(tmp: Any, upstream: str, pause: float, **settings: Any) -> Gateway:
    common = {"provider": "openai_compat", "base_url": upstream, "api_key": "sk-fake"}
    paused = {"id": "fake/paused", "upstream_model": f"pause-{pause}", **common}
    return start_gateway(tmp, upstream, models=[*fake_models(upstream), paused], **settings)


def _events(gw: Gateway, key: str) -> list[dict[str, Any]]:
    body = {"model": "fake/paused", "max_tokens": 50, "stream": True, "messages": [{"role": "user", "content": "a b"}]}
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    with httpx.stream("POST", gw.url + "/v1/messages", json=body, headers=headers, timeout=60) as r:
        assert r.status_code == 200
        lines = [line for line in r.iter_lines() if line.startswith("data:")]
    return [json.loads(line[len("data:") :]) for line in lines]


def test_pings_keep_a_paused_stream_alive(tmp_path: Any, fake_openai: FakeUpstream) -> None:
    """The upstream pauses after its first word for many ping intervals: pings come meanwhile, as Anthropic's do."""
    gw = _paused_gateway(tmp_path, fake_openai.url, 1.5, anthropic={"ping_seconds": 0.1})
    try:
        events = _events(gw, gw.create_key("pinged"))
    finally:
        gw.server.stop()
    kinds = [e["type"] for e in events]
    first_text, last_text = (
        kinds.index("content_block_delta"),
        len(kinds) - 1 - kinds[::-1].index("content_block_delta"),
    )
    assert "ping" in kinds[first_text:last_text]  # during the pause, not only the one after message_start
    assert kinds[-2:] == ["message_delta", "message_stop"]
    text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    assert text == "echo: a b"


def test_the_idle_timeout_still_ends_a_stream_that_pings(tmp_path: Any, fake_openai: FakeUpstream) -> None:
    """Reading the upstream beside the pings keeps its idle timeout: the stream ends with an error event."""
    gw = _paused_gateway(
        tmp_path, fake_openai.url, 5.0, anthropic={"ping_seconds": 0.1}, upstream_idle_timeout=0.5, retry_max_rounds=0
    )
    try:
        events = _events(gw, gw.create_key("idle"))
    finally:
        gw.server.stop()
    assert events[-1]["type"] == "error"
    message = events[-1]["error"]["message"]
    assert message.endswith("in time") and "in time in time" not in message and "shut down" not in message
