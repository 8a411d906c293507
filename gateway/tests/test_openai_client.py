"""The official ``openai`` client works against the gateway unchanged."""

from __future__ import annotations

import json

import openai
import pytest

from gwtest.harness import Gateway


@pytest.fixture
def oai(gateway: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)


def test_create(oai: openai.OpenAI) -> None:
    r = oai.chat.completions.create(model="fake/echo", messages=[{"role": "user", "content": "bonjour"}])
    assert r.choices[0].message.content == "echo: bonjour"
    assert r.usage is not None and r.usage.total_tokens > 0
    assert r.model == "fake/echo"


def test_stream_with_usage(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="fake/echo",
        stream=True,
        messages=[{"role": "user", "content": "a b c"}],
        stream_options={"include_usage": True},
    )
    text = ""
    usage = None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage:
            usage = chunk.usage
    assert text == "echo: a b c"
    assert usage is not None and usage.completion_tokens > 0


def test_stream_tool_calls_accumulate(oai: openai.OpenAI) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "w",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    with oai.chat.completions.stream(
        model="fake/tools", messages=[{"role": "user", "content": "weather?"}], tools=tools
    ) as stream:  # type: ignore[arg-type]
        for _ in stream:
            pass
        final = stream.get_final_completion()
    call = final.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments)["city"] == "Paris"  # type: ignore[union-attr]
    assert final.choices[0].finish_reason == "tool_calls"


def test_models_list(oai: openai.OpenAI) -> None:
    ids = [m.id for m in oai.models.list()]
    assert "fake/echo" in ids


def test_errors_become_openai_exceptions(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as exc:
        oai.chat.completions.create(model="fake/none", messages=[{"role": "user", "content": "x"}])
    assert exc.value.body["code"] == "model_not_found"  # type: ignore[index]
    with pytest.raises(openai.UnprocessableEntityError):
        oai.chat.completions.create(model="fake/echo", messages=[{"role": "user", "content": "x"}], temperature=5)
    with pytest.raises(openai.RateLimitError):
        oai.chat.completions.create(model="fake/fail-429", messages=[{"role": "user", "content": "x"}])


def test_bad_key_is_authentication_error(gateway: Gateway) -> None:
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="rsk_wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="fake/echo", messages=[{"role": "user", "content": "x"}])
