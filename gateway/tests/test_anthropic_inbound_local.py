"""``POST /v1/messages`` on the real local model (SmolLM2 through llama.cpp), through the anthropic SDK.

Claude model names reach the local model through ``[anthropic] model_map`` (``claude-*``), as
they would for Claude Code. The model is tiny: the tests check shapes, stop reasons, tool
inputs against their schema and token counts, never the words.
"""

from __future__ import annotations

from typing import Any, Iterator

import anthropic
import pytest

from gwtest.harness import FakeUpstream, Gateway, start_gateway
from meshapi_gateway.providers.local.files import locate

MODEL = "local/smollm2-135m-instruct"
FILES = locate()
pytestmark = pytest.mark.skipif(not FILES.available, reason=f"local model not installed: {FILES.missing}")

WEATHER = {"name": "get_weather", "description": "Get current weather for a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
ALARM = {"name": "set_alarm", "description": "Set an alarm",
         "input_schema": {"type": "object", "properties": {"hour": {"type": "integer", "minimum": 0, "maximum": 23}},
                          "required": ["hour"]}}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeUpstream) -> Iterator[Gateway]:
    g = start_gateway(tmp_path_factory.mktemp("gw-messages-local"), fake_openai.url,
                      local_model={"enabled": True}, anthropic={"model_map": {"claude-*": MODEL}})
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
    message = client.messages.create(model="claude-sonnet-4-5", max_tokens=24, system="Answer briefly.",
                                     messages=[{"role": "user", "content": "Say hello."}])
    assert message.model == MODEL and message.id.startswith("msg_")
    assert [b.type for b in message.content] == ["text"] and message.content[0].text.strip()
    assert message.stop_reason in ("end_turn", "max_tokens")
    assert message.usage.input_tokens > 0 and 0 < message.usage.output_tokens <= 24


def test_streamed_text(client: anthropic.Anthropic) -> None:
    with client.messages.stream(model="claude-haiku-4-5", max_tokens=16,
                                messages=[{"role": "user", "content": "Count to five."}]) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "text" in kinds  # the SDK's own event for each text delta
    assert final.content[0].type == "text" and final.content[0].text.strip()
    assert final.stop_reason in ("end_turn", "max_tokens")
    assert final.usage.input_tokens > 0 and 0 < final.usage.output_tokens <= 16


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("choice", [{"type": "any"}, {"type": "tool", "name": "get_weather"}], ids=["any", "tool"])
def test_tool_use_turn(client: anthropic.Anthropic, choice: Any, stream: bool) -> None:
    kwargs: dict[str, Any] = {"model": "claude-sonnet-4-5", "max_tokens": 64, "tools": [WEATHER, ALARM],
                              "tool_choice": choice, "messages": ASK}
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
    first = client.messages.create(model="claude-sonnet-4-5", max_tokens=64, tools=[WEATHER],
                                   tool_choice={"type": "tool", "name": "get_weather"}, messages=ASK)
    [call] = [b for b in first.content if b.type == "tool_use"]
    check_weather_call(call)
    second = client.messages.create(
        model="claude-sonnet-4-5", max_tokens=32, tools=[WEATHER], tool_choice={"type": "none"},
        messages=[*ASK, {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                                "content": "Sunny, 21 degrees Celsius."}]}])
    assert second.stop_reason in ("end_turn", "max_tokens")
    assert [b.type for b in second.content] == ["text"] and second.content[0].text.strip()


def test_count_tokens_matches_the_answers_input_tokens(client: anthropic.Anthropic) -> None:
    """The local tokenizer counts the prompt as rendered for an answer, tools (as tool_choice shows them) included."""
    request: dict[str, Any] = {"model": "claude-sonnet-4-5", "system": "You check the weather.", "tools": [WEATHER],
                               "tool_choice": {"type": "any"}, "messages": ASK}
    counted = client.messages.count_tokens(**request)
    answered = client.messages.create(max_tokens=48, **request)
    assert counted.input_tokens == answered.usage.input_tokens > 0
    without_tools = client.messages.count_tokens(model="claude-sonnet-4-5", system="You check the weather.",
                                                 messages=ASK)
    assert without_tools.input_tokens < counted.input_tokens
