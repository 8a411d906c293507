"""``POST /v1/messages`` on the real local model (SmolLM2 through llama.cpp), through the anthropic SDK.

Claude model names reach the local model through ``[anthropic] model_map`` (``claude-*``), as
they would for Claude Code. The model is tiny: the tests check shapes, stop reasons, tool
inputs against their schema and token counts, never the words.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import anthropic
import httpx
import pytest

from gwtest.harness import FakeUpstream, Gateway, start_gateway
from meshapi_gateway.providers.local.files import locate

MODEL = "local/smollm2-135m-instruct"
FILES = locate()
pytestmark = pytest.mark.skipif(not FILES.available, reason=f"local model not installed: {FILES.missing}")

WEATHER = {
    "name": "get_weather",
    "description": "Get current weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
ALARM = {
    "name": "set_alarm",
    "description": "Set an alarm",
    "input_schema": {
        "type": "object",
        "properties": {"hour": {"type": "integer", "minimum": 0, "maximum": 23}},
        "required": ["hour"],
    },
}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeUpstream) -> Iterator[Gateway]:
    g = start_gateway(
        tmp_path_factory.mktemp("gw-messages-local"),
        fake_openai.url,
        local_model={"enabled": True},
        # The catch-all maps every other name elsewhere: ``auto`` is still the auto router's.
        anthropic={"model_map": {"claude-*": MODEL, "*": "fake/echo"}},
        auto_router={"models": [MODEL]},  # only the local model: auto routes to it
    )
    yield g
    g.server.stop()


@pytest.fixture(scope="module")
def client(gw: Gateway) -> anthropic.Anthropic:
    # The model answers one request at a time on a busy machine: generous, not tight, timeouts.
    return anthropic.Anthropic(base_url=gw.url, api_key=gw.create_key("alice"), max_retries=0, timeout=180)


def check_weather_call(block: Any) -> None:
    assert block.type == "tool_use" and block.name == "get_weather"
    assert block.id and isinstance(block.input, dict) and isinstance(block.input.get("city"), str)


def test_text_answer(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=24,
        system="Answer briefly.",
        messages=[{"role": "user", "content": "Say hello."}],
    )
    assert message.model == MODEL and message.id.startswith("msg_")
    assert [b.type for b in message.content] == ["text"] and message.content[0].text.strip()
    assert message.stop_reason in ("end_turn", "max_tokens")
    assert message.usage.input_tokens > 0 and 0 < message.usage.output_tokens <= 24


def test_streamed_text(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model="claude-haiku-4-5", max_tokens=16, messages=[{"role": "user", "content": "Count to five."}]
    ) as stream:
        events = list(stream)
        final = stream.get_final_message()
    kinds = [event.type for event in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    # The gateway counted the local prompt before answering: message_start tells it at once, and it is the final count.
    assert events[0].message.usage.input_tokens == final.usage.input_tokens > 0
    assert "text" in kinds  # the SDK's own event for each text delta
    assert final.content[0].type == "text" and final.content[0].text.strip()
    assert final.stop_reason in ("end_turn", "max_tokens")
    assert final.usage.input_tokens > 0 and 0 < final.usage.output_tokens <= 16


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("choice", [{"type": "any"}, {"type": "tool", "name": "get_weather"}], ids=["any", "tool"])
def test_tool_use_turn(client: anthropic.Anthropic, choice: Any, stream: bool) -> None:
    kwargs: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "tools": [WEATHER, ALARM],
        "tool_choice": choice,
        "messages": ASK,
    }
    if stream:
        with client.messages.stream(**kwargs) as s:
            message = s.get_final_message()
    else:
        message = client.messages.create(**kwargs)
    assert message.stop_reason == "tool_use"
    calls = [b for b in message.content if b.type == "tool_use"]
    assert calls
    if choice["type"] == "tool":
        for call in calls:
            check_weather_call(call)
    else:
        assert all(c.name in ("get_weather", "set_alarm") for c in calls)


def test_tool_result_round_trip(client: anthropic.Anthropic) -> None:
    first = client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=64,
        tools=[WEATHER],
        tool_choice={"type": "tool", "name": "get_weather"},
        messages=ASK,
    )
    [call] = [b for b in first.content if b.type == "tool_use"]
    check_weather_call(call)
    second = client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=32,
        tools=[WEATHER],
        tool_choice={"type": "none"},
        messages=[
            *ASK,
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "Sunny, 21 degrees Celsius."}],
            },
        ],
    )
    assert second.stop_reason in ("end_turn", "max_tokens")
    assert [b.type for b in second.content] == ["text"] and second.content[0].text.strip()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_auto_names_the_local_model_that_served_and_bills_it(gw: Gateway, stream: bool) -> None:
    key = gw.create_key("auto-messages")
    c = anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0, timeout=180)
    request: dict[str, Any] = {"model": "auto", "max_tokens": 16, "messages": [{"role": "user", "content": "Hi."}]}
    if stream:
        with c.messages.with_streaming_response.create(stream=True, **request) as raw:
            frames = [line for line in raw.iter_lines() if line.startswith("data:")]
            headers = raw.headers
        started = json.loads(frames[0][len("data:") :])
        assert started["type"] == "message_start" and started["message"]["model"] == MODEL
    else:
        raw_answer = c.messages.with_raw_response.create(**request)
        headers = raw_answer.headers
        assert raw_answer.parse().model == MODEL
    assert headers["x-resolved-model-id"] == MODEL
    request_id = headers["request-id"]
    with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {key}"}, timeout=30) as http:
        billed = http.get("/v1/usage", params={"request_id": request_id}).json()["data"]
        logged = http.get(f"/v1/logs/{request_id}").json()
    assert [row["model"] for row in billed] == [MODEL]
    assert logged["model"] == MODEL and logged["endpoint"] == "/v1/messages" and logged["status"] == 200


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_stop_sequence_ends_the_answer_and_is_named(client: anthropic.Anthropic, stream: bool) -> None:
    """Any English sentence has an "e" or a space within 32 tokens: the answer stops before the first."""
    stops = ["e", " "]
    request: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 32,
        "extra_body": {"temperature": 0},
        "stop_sequences": stops,
        "messages": [{"role": "user", "content": "Greet the whole world in one friendly sentence."}],
    }
    if stream:
        with client.messages.stream(**request) as s:
            message = s.get_final_message()
    else:
        message = client.messages.create(**request)
    assert message.stop_reason == "stop_sequence" and message.stop_sequence in stops
    text = "".join(b.text for b in message.content if b.type == "text")
    assert not any(stop in text for stop in stops)


def test_count_tokens_matches_the_answers_input_tokens(client: anthropic.Anthropic) -> None:
    """The local tokenizer counts the prompt as rendered for an answer, tools (as tool_choice shows them) included."""
    request: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "system": "You check the weather.",
        "tools": [WEATHER],
        "tool_choice": {"type": "any"},
        "messages": ASK,
    }
    counted = client.messages.count_tokens(**request)
    answered = client.messages.create(max_tokens=48, **request)
    assert counted.input_tokens == answered.usage.input_tokens > 0
    without_tools = client.messages.count_tokens(
        model="claude-sonnet-4-5", system="You check the weather.", messages=ASK
    )
    assert without_tools.input_tokens < counted.input_tokens


_DRAFT7 = "http://json-schema.org/draft-07/schema#"
CLAUDE_CODE_TOOLS = [
    {
        "name": "Bash",
        "description": "Executes a given bash command in a persistent shell session.",
        "input_schema": {
            "type": "object",
            "properties": {
                "command": {"type": "string", "description": "The command to execute"},
                "timeout": {"type": "number", "description": "Optional timeout in milliseconds (max 600000)"},
                "description": {
                    "type": "string",
                    "description": "Clear, concise description of what this command does",
                },
            },
            "required": ["command"],
            "additionalProperties": False,
            "$schema": _DRAFT7,
        },
    },
    {
        "name": "Read",
        "description": "Reads a file from the local filesystem.",
        "input_schema": {
            "type": "object",
            "properties": {
                "file_path": {"type": "string", "description": "The absolute path to the file to read"},
                "offset": {"type": "number"},
                "limit": {"type": "number"},
            },
            "required": ["file_path"],
            "additionalProperties": False,
            "$schema": _DRAFT7,
        },
    },
    {
        "name": "Grep",
        "description": "A powerful search tool built on ripgrep.",
        "input_schema": {
            "type": "object",
            "properties": {
                "pattern": {"type": "string"},
                "path": {"type": "string"},
                "output_mode": {"type": "string", "enum": ["content", "files_with_matches", "count"]},
                "-i": {"type": "boolean"},
                "-n": {"type": "boolean"},
            },
            "required": ["pattern"],
            "additionalProperties": False,
            "$schema": _DRAFT7,
        },
    },
    {
        "name": "TodoWrite",
        "description": "Create and manage a structured task list.",
        "input_schema": {
            "type": "object",
            "properties": {
                "todos": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "content": {"type": "string", "minLength": 1},
                            "status": {"type": "string", "enum": ["pending", "in_progress", "completed"]},
                            "activeForm": {"type": "string", "minLength": 1},
                        },
                        "required": ["content", "status", "activeForm"],
                        "additionalProperties": False,
                    },
                }
            },
            "required": ["todos"],
            "additionalProperties": False,
            "$schema": _DRAFT7,
        },
    },
]


@pytest.mark.parametrize("choice", [None, {"type": "any"}], ids=["auto", "any"])
def test_claude_code_shaped_request(gw: Gateway, choice: Any) -> None:
    """As Claude Code sends it: system blocks with cache_control, its tools, metadata.user_id, max_tokens 32000,
    streamed through the beta client with ``anthropic-beta``; the context window is far below 32,000 tokens."""
    c = anthropic.Anthropic(
        base_url=gw.url,
        auth_token=gw.create_key("claude-code"),
        api_key=None,
        max_retries=0,
        timeout=180,
        default_headers={"anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14"},
    )
    system = [
        {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
        {
            "type": "text",
            "text": "You are an interactive CLI tool that helps users with software engineering tasks.",
            "cache_control": {"type": "ephemeral"},
        },
    ]
    messages: list[Any] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "<system-reminder>The working directory is /src.</system-reminder>"},
                {"type": "text", "text": "List the files here.", "cache_control": {"type": "ephemeral"}},
            ],
        }
    ]
    extra: dict[str, Any] = {"tool_choice": choice} if choice else {}
    with c.beta.messages.stream(
        model="claude-sonnet-4-5-20250929",
        max_tokens=32000,
        system=system,
        tools=CLAUDE_CODE_TOOLS,
        messages=messages,
        extra_body={"temperature": 1},
        metadata={"user_id": "user_0123_account__session_4567"},
        **extra,
    ) as stream:
        final = stream.get_final_message()
    assert final.model == MODEL
    names = {t["name"] for t in CLAUDE_CODE_TOOLS}
    calls = [b for b in final.content if b.type == "tool_use"]
    if choice is None and not calls:
        assert final.stop_reason in ("end_turn", "model_context_window_exceeded")
        assert final.content and final.content[0].type == "text"
        return
    assert final.stop_reason == "tool_use" and calls
    for call in calls:
        assert call.name in names and isinstance(call.input, dict)
        required = next(t for t in CLAUDE_CODE_TOOLS if t["name"] == call.name)["input_schema"]["required"]
        assert all(field in call.input for field in required)


def test_prompt_beyond_the_context_says_prompt_is_too_long(client: anthropic.Anthropic) -> None:
    """Anthropic's wording, which Claude Code looks for before compacting its history."""
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(
            model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "word " * 9000}]
        )
    error = caught.value.body["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("prompt is too long: ") and "8192" in error["message"]
