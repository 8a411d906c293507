"""AsyncMeshAPI: same surface and behaviour as the sync client."""

from __future__ import annotations

import asyncio
import inspect

import httpx
import pytest
from meshapi_testdata import COMPLETION, MSGS, USAGE_CHUNK, chunk
from scripted_server import FakeClock, ScriptedServer, empty_reply, json_reply, sse_frames, sse_reply

from meshapi import (
    AsyncMeshAPI,
    ChatCompletionParams,
    ChatMessage,
    MeshAPI,
    MeshAPIError,
    StreamInterruptedError,
)

pytestmark = pytest.mark.asyncio

RESOURCES = {
    "chat.completions": ["create", "stream"],
    "responses": ["create", "stream"],
    "embeddings": ["create"],
    "compare": ["create", "stream"],
    "files": ["upload", "get", "content", "delete"],
    "batches": ["create", "get", "list", "cancel"],
    "models": ["list", "free", "paid"],
    "templates": ["create", "list", "get", "update", "delete"],
}


def _resolve(obj: object, dotted: str) -> object:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


async def test_same_surface() -> None:
    sync = MeshAPI(base_url="http://x", token="t")
    aio = AsyncMeshAPI(base_url="http://x", token="t")
    for dotted, methods in RESOURCES.items():
        for name in methods:
            s = getattr(_resolve(sync, dotted), name)
            a = getattr(_resolve(aio, dotted), name)
            ss, sa = inspect.signature(s), inspect.signature(a)
            assert list(ss.parameters.values()) == list(sa.parameters.values()), (dotted, name)
            if name != "stream":
                assert inspect.iscoroutinefunction(a), (dotted, name)
    await aio.close()
    sync.close()


async def test_create_and_context_manager(server: ScriptedServer) -> None:
    server.on("POST", "/v1/chat/completions", json_reply(200, COMPLETION))
    async with AsyncMeshAPI(base_url=server.url, token="t") as client:
        reply = await client.chat.completions.create(
            ChatCompletionParams(model="m", messages=[ChatMessage(role="user", content="Hello!")])
        )
    assert reply.choices[0].message.content == "Paris"
    assert client._transport.client.is_closed


async def test_stream_without_await_as_in_seed(aclient: AsyncMeshAPI, server: ScriptedServer) -> None:
    server.on("POST", "/v1/chat/completions", sse_reply(sse_frames(chunk("a"), chunk("b"), USAGE_CHUNK)))
    out = []
    async for c in aclient.chat.completions.stream(model="m", messages=MSGS):
        if c.choices and c.choices[0].delta:
            out.append(c.choices[0].delta.content or "")
    assert out == ["a", "b"]
    async with aclient.chat.completions.stream(model="m", messages=MSGS) as stream:
        final = await stream.get_final_completion()
    assert final.choices[0].message.content == "ab"
    stream2 = await aclient.chat.completions.stream(model="m", messages=MSGS)
    assert [c async for c in stream2][-1].usage is not None


async def test_async_errors_and_retries(aclient: AsyncMeshAPI, server: ScriptedServer, clock: FakeClock) -> None:
    server.on(
        "GET",
        "/v1/models",
        json_reply(503, {}),
        json_reply(404, {"error": {"code": "not_found", "message": "x"}}, X_Request_Id="r2"),
    )
    with pytest.raises(MeshAPIError) as info:
        await aclient.models.list()
    assert (info.value.status, info.value.request_id) == (404, "r2")
    assert len(clock.sleeps) == 1
    server.on("POST", "/v1/chat/completions", json_reply(401, {"error": {"code": "unauthorized", "message": "no"}}))
    with pytest.raises(MeshAPIError) as info:
        async for _ in aclient.chat.completions.stream(model="m", messages=MSGS):
            pass
    assert info.value.error_code == "unauthorized"


async def test_async_stream_interrupted(aclient: AsyncMeshAPI, server: ScriptedServer) -> None:
    server.on("POST", "/v1/chat/completions", sse_reply(sse_frames(chunk("a"), done=False), drop=True))
    with pytest.raises(StreamInterruptedError):
        async for _ in aclient.chat.completions.stream(model="m", messages=MSGS):
            pass


async def test_async_break_releases_connections(server: ScriptedServer) -> None:
    server.on("POST", "/v1/chat/completions", sse_reply(sse_frames(*[chunk(str(i)) for i in range(30)])))
    http = httpx.AsyncClient(limits=httpx.Limits(max_connections=5), timeout=httpx.Timeout(5.0, pool=1.0))
    client = AsyncMeshAPI(base_url=server.url, token="t", async_httpx_client=http, max_retries=0)
    for _ in range(30):
        async with client.chat.completions.stream(model="m", messages=MSGS) as stream:
            async for _c in stream:
                break
    for _ in range(30):
        async for _c in client.chat.completions.stream(model="m", messages=MSGS):
            break
        await asyncio.sleep(0)  # let the event loop finalise the abandoned generator
    assert len(server.requests) == 60
    await http.aclose()


async def test_async_misc_resources(aclient: AsyncMeshAPI, server: ScriptedServer) -> None:
    server.on("DELETE", "/v1/templates/t", empty_reply(204))
    server.on("GET", "/v1/files/f/content", sse_reply([b"raw"], content_type="x"))
    assert await aclient.templates.delete("t") is None
    assert await aclient.files.content("f") == b"raw"
    await aclient.close()


async def test_concurrent_calls_share_one_client(aclient: AsyncMeshAPI, server: ScriptedServer) -> None:
    server.on("POST", "/v1/chat/completions", json_reply(200, COMPLETION))
    server.on("GET", "/v1/models", json_reply(200, []))
    results = await asyncio.gather(
        *[aclient.chat.completions.create(model="m", messages=MSGS) for _ in range(10)],
        *[aclient.models.list() for _ in range(5)],
    )
    assert len(results) == 15
    ids = {r.headers["x-request-id"] for r in server.requests}
    assert len(ids) == 15  # one id per logical call
    await aclient.close()
