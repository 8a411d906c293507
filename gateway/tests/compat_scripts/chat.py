"""The README's chat examples, as written: create (sync and async), stream (sync and async),
tool calling over a stream, and a stream that fails midway (the error frame must raise
``MeshAPIError`` from inside the iterator)."""

from __future__ import annotations

import asyncio
from typing import Any

from compat_common import KEY, URL, client, error_view, report, step
from meshapi import AsyncMeshAPI, ChatCompletionParams, ChatMessage, MeshAPIError, Tool, ToolFunction


def create() -> dict[str, Any]:
    reply = client().chat.completions.create(
        ChatCompletionParams(
            model="openai/gpt-4o-mini",
            messages=[
                ChatMessage(role="system", content="You are a concise assistant."),
                ChatMessage(role="user", content="What is the capital of France?"),
            ],
            temperature=0.7,
            max_tokens=256,
        )
    )
    return {
        "content": reply.choices[0].message.content,
        "total_tokens": reply.usage.total_tokens,
        "object": reply.object,
        "finish_reason": reply.choices[0].finish_reason,
    }


def create_async() -> dict[str, Any]:
    async def main() -> Any:
        async with AsyncMeshAPI(base_url=URL, token=KEY, max_retries=0) as c:
            reply = await c.chat.completions.create(
                ChatCompletionParams(model="openai/gpt-4o-mini", messages=[ChatMessage(role="user", content="Hello!")])
            )
            return reply.choices[0].message.content

    return {"content": asyncio.run(main())}


def _haiku() -> ChatCompletionParams:
    return ChatCompletionParams(
        model="openai/gpt-4o-mini",
        messages=[ChatMessage(role="user", content="Write a haiku about Python.")],
    )


def stream() -> dict[str, Any]:
    printed, chunks = "", []
    for chunk in client().chat.completions.stream(_haiku()):
        chunks.append(chunk)
        if chunk.choices and chunk.choices[0].delta:
            printed += chunk.choices[0].delta.content or ""
    tail = chunks[-1]
    return {
        "printed": printed,
        "chunks": len(chunks),
        "tail_choices": len(tail.choices),
        "tail_usage": tail.usage.model_dump() if tail.usage else None,
        "tail_cost": tail.cost,
        "tail_cost_type": type(tail.cost).__name__,
    }


def stream_async() -> dict[str, Any]:
    async def main() -> str:
        printed = ""
        async with AsyncMeshAPI(base_url=URL, token=KEY, max_retries=0) as c:
            async for chunk in c.chat.completions.stream(_haiku()):
                if chunk.choices and chunk.choices[0].delta:
                    printed += chunk.choices[0].delta.content or ""
        return printed

    return {"printed": asyncio.run(main())}


def tool_stream() -> dict[str, Any]:
    params = ChatCompletionParams(
        model="openai/gpt-4o",
        messages=[ChatMessage(role="user", content="What is the weather in Paris?")],
        tools=[
            Tool(
                type="function",
                function=ToolFunction(
                    name="get_weather",
                    description="Get current weather for a city",
                    parameters={
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"],
                    },
                ),
            )
        ],
        tool_choice="auto",
    )
    calls, text, finish = [], "", None
    for chunk in client().chat.completions.stream(params):
        delta = chunk.choices[0].delta if chunk.choices else None
        if delta and delta.tool_calls:
            calls.extend(call.model_dump() for call in delta.tool_calls)
        elif delta and delta.content:
            text += delta.content
        if chunk.choices and chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
    return {"tool_call_deltas": calls, "text": text, "finish_reason": finish}


def stream_error_mid_way() -> dict[str, Any]:
    """The README: mid-stream errors raise the same MeshAPIError from inside the iterator."""
    printed = ""
    params = ChatCompletionParams(
        model="fake/cut-3", messages=[ChatMessage(role="user", content="one two three four five")]
    )
    try:
        for chunk in client().chat.completions.stream(params):
            if chunk.choices and chunk.choices[0].delta:
                printed += chunk.choices[0].delta.content or ""
    except MeshAPIError as exc:
        return {"printed_before_error": printed, **error_view(exc)}
    return {"printed_before_error": printed, "raised": None}


def stream_unicode() -> dict[str, Any]:
    """Multibyte characters and U+2028 inside a chunk: 0.1.0 decodes each network read on its own
    and splits lines with ``str.splitlines()``, so the gateway must send ASCII-escaped JSON."""
    printed = ""
    params = ChatCompletionParams(model="openai/gpt-4o-mini", messages=[ChatMessage(role="user", content=UNICODE)])
    for chunk in client().chat.completions.stream(params):
        if chunk.choices and chunk.choices[0].delta:
            printed += chunk.choices[0].delta.content or ""
    return {"printed": printed}


UNICODE = "h\u00e9llo w\u00f6rld \u65e5\u672c\u8a9e \U0001f600 line\u2028separator"

step("create", create)
step("create_async", create_async)
step("stream", stream)
step("stream_async", stream_async)
step("tool_stream", tool_stream)
step("stream_error_mid_way", stream_error_mid_way)
step("stream_unicode", stream_unicode)
report()
