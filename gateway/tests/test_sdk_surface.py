"""Our SDK against the real gateway, beyond chat: accumulator, connection release, request ids,
responses, embeddings, compare, files + batches and templates — the rest of the seed's surface."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Iterator

import httpx
import pytest
from gwtest.harness import Gateway
from meshapi import AsyncMeshAPI, MeshAPI, MeshAPIError, StreamInterruptedError

HI = [{"role": "user", "content": "hi there"}]


@pytest.fixture
def client(gateway: Gateway, key: str) -> Iterator[MeshAPI]:
    with MeshAPI(base_url=gateway.url, token=key, max_retries=0) as c:
        yield c


def _skip_if_not_implemented(exc: MeshAPIError) -> None:
    if exc.error_code == "not_implemented" or exc.status == 501:
        pytest.skip(f"gateway: {exc}")


def test_stream_accumulates_text_usage_and_tool_calls(client: MeshAPI) -> None:
    stream = client.chat.completions.stream(model="fake/echo", messages=HI)
    final = stream.get_final_completion()
    assert final.choices[0].message.content == "echo: hi there"
    assert final.choices[0].finish_reason == "stop"
    assert final.usage is not None and final.usage.total_tokens > 0
    assert stream.request_id

    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    final = client.chat.completions.stream(model="fake/tools", messages=HI, tools=tools).get_final_completion()
    calls = final.choices[0].message.tool_calls
    assert calls is not None and len(calls) == 1
    assert calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == {"city": "Paris", "unit": "celsius"}


def test_breaking_out_of_streams_releases_connections(gateway: Gateway, key: str) -> None:
    http = httpx.Client(limits=httpx.Limits(max_connections=5), timeout=httpx.Timeout(10.0, pool=2.0))
    client = MeshAPI(base_url=gateway.url, token=key, httpx_client=http, max_retries=0)
    for _ in range(40):
        for _chunk in client.chat.completions.stream(model="fake/echo", messages=HI):
            break
    for _ in range(10):
        with client.chat.completions.stream(model="fake/echo", messages=HI) as stream:
            next(iter(stream))
    http.close()


def test_request_id_sent_by_the_sdk_comes_back_in_errors(client: MeshAPI) -> None:
    with pytest.raises(MeshAPIError) as exc:
        client.chat.completions.create(model="nope/x", messages=HI, extra_headers={"X-Request-Id": "req_sdk_custom_1"})
    assert exc.value.error_code == "model_not_found"
    assert exc.value.request_id == "req_sdk_custom_1"


def test_upstream_stream_without_done_is_an_error_not_success(client: MeshAPI) -> None:
    with pytest.raises(MeshAPIError) as exc:
        list(client.chat.completions.stream(model="fake/nodone", messages=HI))
    assert exc.value.error_code in ("upstream_error", "stream_interrupted")
    assert exc.value.request_id


def test_responses_create_and_stream(client: MeshAPI) -> None:
    try:
        reply = client.responses.create(model="fake/echo", input="hi", max_output_tokens=16)
    except MeshAPIError as e:
        _skip_if_not_implemented(e)
        raise
    assert reply.output_text == "echo: hi"
    events = list(client.responses.stream(model="fake/echo", input="hi"))
    assert events[-1].type == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta" and isinstance(e.delta, str))
    assert text == "echo: hi"


def test_embeddings(client: MeshAPI) -> None:
    result = client.embeddings.create(model="fake/embed", input=["hello world", "goodbye world"])
    assert [d.index for d in result.data] == [0, 1]
    assert isinstance(result.data[0].embedding, list) and len(result.data[0].embedding) > 0


def test_compare_create_and_stream(client: MeshAPI) -> None:
    models = ["fake/echo", "fake/free-echo"]
    try:
        result = client.compare.create(models=models, messages=HI, skip_comparison=True)
    except MeshAPIError as e:
        _skip_if_not_implemented(e)
        raise
    assert [r.model for r in result.results] == models
    events = list(client.compare.stream(models=models, messages=HI, skip_comparison=True))
    assert events and all(isinstance(e.event, str) and isinstance(e.data, dict) for e in events)
    assert any(e.event == "delta" for e in events)  # the README's contract


def test_files_and_batches_lifecycle(client: MeshAPI) -> None:
    file = client.files.upload(
        purpose="batch",
        requests=[
            {"custom_id": "req-1", "body": {"model": "fake/echo", "messages": [{"role": "user", "content": "hi"}]}},
            {"custom_id": "req-2", "body": {"model": "fake/echo", "messages": [{"role": "user", "content": "bye"}]}},
        ],
    )
    assert client.files.get(file.id).id == file.id
    batch = client.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert client.batches.get(batch.id).id == batch.id
    page = client.batches.list(limit=5)
    assert batch.id in [b.id for b in page.data]
    status = client.batches.get(batch.id)
    if status.status == "completed" and status.output_file_id:
        lines = client.files.content(status.output_file_id).decode().splitlines()
        assert {json.loads(line)["custom_id"] for line in lines} == {"req-1", "req-2"}
    else:
        client.batches.cancel(batch.id)


def test_templates_crud_with_jwt_and_use_from_chat(gateway: Gateway, key: str) -> None:
    with MeshAPI(base_url=gateway.url, token=gateway.token("alice")) as ctrl:
        tpl = ctrl.templates.create(
            name="sdk-support-agent",
            system="You are a support agent for {{company}}.",
            model="fake/echo",
            variables=["company"],
        )
        assert tpl.name in [t.name for t in ctrl.templates.list()]
        assert ctrl.templates.get(tpl.id).id == tpl.id
        assert ctrl.templates.update(tpl.id, {"description": "v2"}).description == "v2"
        with MeshAPI(base_url=gateway.url, token=key) as data_plane:
            reply = data_plane.chat.completions.create(
                messages=[{"role": "user", "content": "reset?"}],
                template="sdk-support-agent",
                variables={"company": "Acme"},
            )
            assert reply.choices[0].message.content == "echo: reset?"
        assert ctrl.templates.delete(tpl.id) is None
        with pytest.raises(MeshAPIError) as exc:
            ctrl.templates.get(tpl.id)
        assert exc.value.status == 404


def test_async_stream_accumulator_and_error(gateway: Gateway, key: str) -> None:
    async def main() -> Any:
        async with AsyncMeshAPI(base_url=gateway.url, token=key, max_retries=0) as client:
            async with client.chat.completions.stream(model="fake/echo", messages=HI) as stream:
                final = await stream.get_final_completion()
            with pytest.raises(MeshAPIError) as exc:
                async for _ in client.chat.completions.stream(
                    model="fake/cut-3", messages=[{"role": "user", "content": "a b c d e"}]
                ):
                    pass
            return final, exc.value

    final, err = asyncio.run(main())
    assert final.choices[0].message.content == "echo: hi there"
    assert err.error_code in ("upstream_error", "stream_interrupted") or isinstance(err, StreamInterruptedError)
