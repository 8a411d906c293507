"""A request an upstream refuses for its content is the client's 4xx, and never the model's outage.

The fake upstream below answers the way llama-cpp-python's server does when it cannot parse a
request: HTTP 500 with a dump of its validation errors and a path of its own source file. The
gateway must answer 422 naming the field, without the path, not retry, and not let the failures
open the deployment's breaker for the next client.
"""

from __future__ import annotations

from typing import Any, Iterator

import httpx
import pytest
from gwtest.harness import FakeUpstream, Gateway, start_gateway
from gwtest.server_thread import ServerThread
from meshapi import MeshAPI
from meshapi import ValidationError as MeshValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

DUMP = (
    "2 validation errors:\n"
    "  {'type': 'missing', 'loc': ('body', 'messages', 0, 'ChatCompletionRequestUserMessage', 'content'), "
    "'msg': 'Field required', 'input': {'role': 'user', 'name': 'x'}}\n"
    "  {'type': 'literal_error', 'loc': ('body', 'messages', 0, 'ChatCompletionRequestToolMessage', 'role'), "
    "'msg': \"Input should be 'tool'\", 'input': 'user', 'ctx': {'expected': \"'tool'\"}}\n\n"
    '  File "/srv/app/.venv/lib/python3.11/site-packages/llama_cpp/server/app.py", line 376, in create\n'
    "    POST /v1/chat/completions"
)


class Refuser:
    """Refuses requests whose first message says ``refuse``; answers the rest."""

    def __init__(self) -> None:
        self.calls = 0

    async def chat(self, request: Request) -> JSONResponse:
        self.calls += 1
        body = await request.json()
        text = str(body["messages"][0].get("content"))
        if "refuse" in text:
            return JSONResponse(
                {"error": {"message": DUMP, "type": "internal_server_error", "param": None, "code": None}},
                status_code=500,
            )
        if "crash" in text:
            return JSONResponse(
                {
                    "error": {
                        "message": 'Traceback (most recent call last):\n  File "/srv/x.py", '
                        "line 3, in f\nRuntimeError: out of memory in /srv/model.gguf"
                    }
                },
                status_code=500,
            )
        return JSONResponse(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1,
                "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "fine"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
            }
        )


@pytest.fixture(scope="module")
def refuser() -> Iterator[tuple[Refuser, str]]:
    r = Refuser()
    server = ServerThread(Starlette(routes=[Route("/v1/chat/completions", r.chat, methods=["POST"])])).start()
    yield r, server.url + "/v1"
    server.stop()


@pytest.fixture(scope="module")
def gw(
    tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeUpstream, refuser: tuple[Refuser, str]
) -> Iterator[Gateway]:
    model = {
        "id": "picky/model",
        "provider": "openai_compat",
        "base_url": refuser[1],
        "api_key": "k",
        "upstream_model": "picky",
    }
    # A breaker that opens after two failures, so one client could take the model away if refusals counted.
    # A second entry for the real-crash test, whose failures do count against its own breaker.
    crashy = {**model, "id": "picky/crashy"}
    g = start_gateway(
        tmp_path_factory.mktemp("gw-refuse"),
        fake_openai.url,
        models=[model, crashy],
        breaker_failure_threshold=2,
        breaker_min_requests=1,
    )
    yield g
    g.server.stop()


def post(gw: Gateway, key: str, content: str, stream: bool = False, model: str = "picky/model") -> httpx.Response:
    with gw.client(key) as c:
        return c.post(
            "/v1/chat/completions",
            json={"model": model, "stream": stream, "messages": [{"role": "user", "content": content}]},
        )


@pytest.mark.parametrize("stream", [False, True])
def test_upstream_validation_dump_is_a_422_naming_the_field_without_internals(
    gw: Gateway, refuser: tuple[Refuser, str], stream: bool
) -> None:
    key = gw.create_key("mallory")
    before = refuser[0].calls
    resp = post(gw, key, "please refuse this", stream=stream)
    assert resp.status_code == 422, resp.text
    err = resp.json()["error"]
    assert err["code"] == "validation_error"
    assert "messages[0].content" in err["message"] and "Field required" in err["message"]
    for leak in ("/srv/app", "site-packages", 'File "', "literal_error", "ChatCompletionRequest"):
        assert leak not in resp.text
    assert err["provider_error"]["detail"][0]["loc"] == ["body", "messages", 0, "content"]
    assert refuser[0].calls == before + 1  # not retried


def test_refusals_from_one_owner_leave_the_model_to_the_others(gw: Gateway) -> None:
    mallory, bob = gw.create_key("mallory"), gw.create_key("bob")
    for _ in range(6):
        assert post(gw, mallory, "refuse").status_code == 422
    resp = post(gw, bob, "hello")
    assert resp.status_code == 200, resp.text
    assert resp.json()["choices"][0]["message"]["content"] == "fine"


def test_a_real_upstream_crash_is_still_a_5xx_but_without_its_paths(gw: Gateway) -> None:
    key = gw.create_key("carol")
    resp = post(gw, key, "crash now", model="picky/crashy")
    assert resp.status_code >= 500
    assert "/srv/" not in resp.text and "Traceback" not in resp.text
    assert "out of memory" in resp.json()["error"]["message"]


@pytest.mark.parametrize(
    "message,field",
    [
        ({"role": "user"}, "content"),
        ({"role": "user", "content": None}, "content"),
        ({"role": "system"}, "content"),
        ({"role": "assistant"}, "content"),
        ({"role": "tool", "content": "42"}, "tool_call_id"),
    ],
)
def test_turns_openai_refuses_are_refused_up_front(
    gw: Gateway, refuser: tuple[Refuser, str], message: dict[str, Any], field: str
) -> None:
    key = gw.create_key("dave")
    before = refuser[0].calls
    with gw.client(key) as c:
        resp = c.post("/v1/chat/completions", json={"model": "picky/model", "messages": [message]})
    assert resp.status_code == 422, resp.text
    details = resp.json()["error"]["details"]
    assert any(d["loc"] == ["body", "messages", 0, field] for d in details), details
    assert refuser[0].calls == before  # never sent upstream


def test_sdk_sees_the_refusal_as_a_validation_error(gw: Gateway) -> None:
    key = gw.create_key("erin")
    client = MeshAPI(base_url=gw.url, token=key, max_retries=0)
    with pytest.raises(MeshValidationError) as info:
        client.chat.completions.create(model="picky/model", messages=[{"role": "user", "content": "refuse"}])
    assert "messages[0].content" in str(info.value)


def test_valid_round_trip_shapes_are_accepted(gw: Gateway) -> None:
    key = gw.create_key("frank")
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    for assistant in (
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "assistant", "tool_calls": [call]},
        {"role": "assistant", "content": "Let me look.", "tool_calls": [call]},
    ):
        for tool in (
            {"role": "tool", "tool_call_id": "call_1", "content": "3"},
            {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "3"}]},
        ):
            with gw.client(key) as c:
                resp = c.post(
                    "/v1/chat/completions",
                    json={"model": "picky/model", "messages": [{"role": "user", "content": "go"}, assistant, tool]},
                )
            assert resp.status_code == 200, (assistant, tool, resp.text)


def test_chat_and_compare_with_an_embeddings_model_are_400_capability_not_supported(gateway: Gateway, key: str) -> None:
    with gateway.client(key) as c:
        for stream in (False, True):
            resp = c.post(
                "/v1/chat/completions",
                json={"model": "fake/embed", "stream": stream, "messages": [{"role": "user", "content": "hi"}]},
            )
            assert resp.status_code == 400, resp.text
            assert resp.json()["error"]["code"] == "model_capability_not_supported"
        resp = c.post(
            "/v1/chat/compare",
            json={
                "models": ["fake/echo", "fake/embed"],
                "skip_comparison": True,
                "messages": [{"role": "user", "content": "hi"}],
            },
        )
        assert resp.status_code == 400, resp.text
        err = resp.json()["error"]
        assert err["code"] == "model_capability_not_supported"
        assert err["details"][0]["loc"] == ["body", "models", 1]
