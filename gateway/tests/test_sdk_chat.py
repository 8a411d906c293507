"""Our SDK against the real gateway: the seed README's chat, streaming, tools, models and errors."""

from __future__ import annotations

import asyncio

import pytest

from gwtest.harness import Gateway
from meshapi import (
    AsyncMeshAPI,
    ChatCompletionParams,
    ChatMessage,
    MeshAPI,
    MeshAPIError,
    Tool,
    ToolFunction,
)


@pytest.fixture
def client(gateway: Gateway, key: str) -> MeshAPI:
    return MeshAPI(base_url=gateway.url, token=key, max_retries=0)


def test_readme_chat_create(client: MeshAPI) -> None:
    reply = client.chat.completions.create(
        ChatCompletionParams(
            model="fake/echo",
            messages=[
                ChatMessage(role="system", content="You are a concise assistant."),
                ChatMessage(role="user", content="What is the capital of France?"),
            ],
            temperature=0.7,
            max_tokens=256,
        )
    )
    assert reply.choices[0].message.content == "echo: What is the capital of France?"
    assert reply.usage is not None and reply.usage.total_tokens > 0


def test_keyword_style(client: MeshAPI) -> None:
    reply = client.chat.completions.create(model="fake/echo", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "echo: hi"


def test_readme_streaming(client: MeshAPI) -> None:
    out = ""
    for chunk in client.chat.completions.stream(
        ChatCompletionParams(model="fake/echo", messages=[ChatMessage(role="user", content="Write a haiku")])
    ):
        if chunk.choices and chunk.choices[0].delta:
            out += chunk.choices[0].delta.content or ""
    assert out == "echo: Write a haiku"


def test_readme_tool_calling_stream(client: MeshAPI) -> None:
    params = ChatCompletionParams(
        model="fake/tools",
        messages=[ChatMessage(role="user", content="What is the weather in Paris?")],
        tools=[
            Tool(
                type="function",
                function=ToolFunction(
                    name="get_weather",
                    description="Get current weather for a city",
                    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                ),
            )
        ],
        tool_choice="auto",
    )
    calls = []
    for chunk in client.chat.completions.stream(params):
        delta = chunk.choices[0].delta if chunk.choices else None
        if delta and delta.tool_calls:
            calls.extend(delta.tool_calls)
    assert len(calls) == 1
    assert calls[0].function.name == "get_weather"  # type: ignore[union-attr]


def test_async_client(gateway: Gateway, key: str) -> None:
    async def main() -> str:
        async with AsyncMeshAPI(base_url=gateway.url, token=key) as client:
            reply = await client.chat.completions.create(
                ChatCompletionParams(model="fake/echo", messages=[ChatMessage(role="user", content="Hello!")])
            )
            text = ""
            async for chunk in client.chat.completions.stream(
                ChatCompletionParams(model="fake/echo", messages=[ChatMessage(role="user", content="Hey")])
            ):
                if chunk.choices and chunk.choices[0].delta:
                    text += chunk.choices[0].delta.content or ""
            return (reply.choices[0].message.content or "") + "|" + text

    assert asyncio.run(main()) == "echo: Hello!|echo: Hey"


def test_models(client: MeshAPI) -> None:
    ids = [m.id for m in client.models.list()]
    assert "fake/echo" in ids
    free = client.models.free()
    assert "fake/free-echo" in [m.id for m in free] and all(m.is_free for m in free)
    paid = client.models.paid()
    echo = next(m for m in paid if m.id == "fake/echo")
    assert echo.pricing is not None and echo.pricing.prompt_usd_per_1k == "0.001"


def test_errors(client: MeshAPI, gateway: Gateway) -> None:
    with pytest.raises(MeshAPIError) as exc:
        client.chat.completions.create(
            ChatCompletionParams(model="nope/x", messages=[ChatMessage(role="user", content="x")])
        )
    assert exc.value.status == 404 and exc.value.error_code == "model_not_found"
    assert exc.value.request_id  # the id the SDK sent, echoed by the gateway
    with pytest.raises(MeshAPIError) as exc:
        client.chat.completions.create(model="fake/echo", messages=[{"role": "user", "content": "x"}], temperature=9)
    assert exc.value.status == 422 and exc.value.error_code == "validation_error"
    assert exc.value.details and exc.value.details[0]["loc"] == ["body", "temperature"]
    bad = MeshAPI(base_url=gateway.url, token="rsk_invalid", max_retries=0)
    with pytest.raises(MeshAPIError) as exc:
        bad.models.list()
    assert exc.value.error_code == "unauthorized"


def test_stream_http_error_is_meshapi_error(client: MeshAPI) -> None:
    with pytest.raises(MeshAPIError) as exc:
        for _ in client.chat.completions.stream(
            ChatCompletionParams(model="nope/x", messages=[ChatMessage(role="user", content="x")])
        ):
            pass
    assert exc.value.error_code == "model_not_found"


def test_mid_stream_failure_raises_in_iterator(client: MeshAPI) -> None:
    got = ""
    with pytest.raises(MeshAPIError) as exc:
        for chunk in client.chat.completions.stream(
            ChatCompletionParams(model="fake/cut-3", messages=[ChatMessage(role="user", content="a b c d e")])
        ):
            if chunk.choices and chunk.choices[0].delta:
                got += chunk.choices[0].delta.content or ""
    assert got  # some text arrived before the failure
    assert exc.value.error_code in ("upstream_error", "stream_interrupted")
