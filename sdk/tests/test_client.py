"""Client configuration, headers, request shapes, response parsing and error mapping."""

from __future__ import annotations

import json

import httpx
import pytest
from meshapi_testdata import COMPLETION
from scripted_server import ScriptedServer, empty_reply, json_reply, raw_reply

import meshapi
from meshapi import (
    AuthenticationError,
    ChatCompletionParams,
    ChatMessage,
    MeshAPI,
    MeshAPIConfig,
    MeshAPIError,
    NotFoundError,
    RateLimitError,
    SpendLimitError,
    ValidationError,
)


def test_version() -> None:
    assert meshapi.__version__ == "0.1.0"


def test_missing_config_names_arguments_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MESHAPI_BASE_URL", raising=False)
    monkeypatch.delenv("MESHAPI_API_KEY", raising=False)
    with pytest.raises(MeshAPIError) as info:
        MeshAPI()
    msg = str(info.value)
    assert "base_url" in msg and "MESHAPI_BASE_URL" in msg
    assert "token" in msg and "MESHAPI_API_KEY" in msg
    assert isinstance(info.value, ValueError)


def test_config_from_env(monkeypatch: pytest.MonkeyPatch, server: ScriptedServer) -> None:
    monkeypatch.setenv("MESHAPI_BASE_URL", server.url + "/v1/")
    monkeypatch.setenv("MESHAPI_API_KEY", "rsk_env")
    server.on("GET", "/v1/models", json_reply(200, []))
    with MeshAPI() as client:
        assert client.models.list() == []
    assert server.requests[0].headers["authorization"] == "Bearer rsk_env"


def test_config_object(server: ScriptedServer) -> None:
    server.on("GET", "/v1/models", json_reply(200, []))
    cfg = MeshAPIConfig(base_url=server.url, token="rsk_cfg", max_retries=0)
    for client in (MeshAPI(cfg), MeshAPI(config=cfg)):
        client.models.list()
        assert client.config.max_retries == 0
        client.close()
    assert server.requests[-1].headers["authorization"] == "Bearer rsk_cfg"


def test_headers(client: MeshAPI, server: ScriptedServer) -> None:
    server.on("POST", "/v1/chat/completions", json_reply(200, COMPLETION))
    server.on("GET", "/v1/models", json_reply(200, []))
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    client.models.list()
    post, get = server.requests
    assert post.headers["authorization"] == "Bearer rsk_test"
    assert post.headers["x-meshapi-sdk"] == "python/0.1.0"
    assert post.headers["user-agent"].startswith("meshapi-python/0.1.0")
    assert post.headers["content-type"] == "application/json"
    assert post.headers["x-request-id"] and post.headers["idempotency-key"]
    assert post.headers["x-request-id"] != get.headers["x-request-id"]
    assert "content-type" not in get.headers and "idempotency-key" not in get.headers


def test_seed_params_style(client: MeshAPI, server: ScriptedServer) -> None:
    server.on("POST", "/v1/chat/completions", json_reply(200, COMPLETION))
    reply = client.chat.completions.create(
        ChatCompletionParams(
            model="openai/gpt-4o-mini",
            messages=[ChatMessage(role="user", content="What is the capital of France?")],
            temperature=0.7,
            max_tokens=256,
        )
    )
    assert reply.choices[0].message.content == "Paris"
    assert reply.usage is not None and reply.usage.total_tokens == 4
    assert reply.model_extra == {"brand_new_field": {"x": 1}}
    body = server.requests[0].json()
    assert body == {
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
        "model": "openai/gpt-4o-mini",
        "stream": False,
        "temperature": 0.7,
        "max_tokens": 256,
    }


def test_keyword_and_dict_style(client: MeshAPI, server: ScriptedServer) -> None:
    server.on("POST", "/v1/chat/completions", json_reply(200, COMPLETION))
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    client.chat.completions.create({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    params = ChatCompletionParams(model="m", messages=[ChatMessage(role="user", content="hi")])
    client.chat.completions.create(params, temperature=0.1, extra_body={"x_custom": 1}, extra_query={"v": 2})
    a, b, c = (r.json() for r in server.requests)
    assert server.requests[2].query == "v=2"
    assert a == b == {"messages": [{"role": "user", "content": "hi"}], "model": "m", "stream": False}
    assert c["temperature"] == 0.1 and c["x_custom"] == 1


def test_misspelled_keyword_is_rejected_clearly(client: MeshAPI) -> None:
    with pytest.raises(TypeError, match=r"temprature.*did you mean 'temperature'"):
        client.chat.completions.create(model="m", messages=[], temprature=0.5)
    with pytest.raises(Exception, match="temprature"):
        ChatCompletionParams(model="m", messages=[], temprature=0.5)  # type: ignore[call-arg]


def test_ids_are_url_encoded(client: MeshAPI, server: ScriptedServer) -> None:
    server.on("GET", "/v1/files/a%2Fb%3Fc", json_reply(200, {"id": "a/b?c"}))
    assert client.files.get("a/b?c").id == "a/b?c"


def test_delete_204_returns_none_and_content_is_bytes(client: MeshAPI, server: ScriptedServer) -> None:
    server.on("DELETE", "/v1/files/f1", empty_reply(204))
    server.on("GET", "/v1/files/f1/content", raw_reply(200, b'{"a":1}\n{"b":2}\n', "application/octet-stream"))
    assert client.files.delete("f1") is None
    assert client.files.content("f1") == b'{"a":1}\n{"b":2}\n'


def test_models_bare_array_and_envelope(client: MeshAPI, server: ScriptedServer) -> None:
    model = {
        "id": "openai/gpt-4o-mini",
        "name": "GPT-4o mini",
        "is_free": False,
        "pricing": {"prompt_usd_per_1k": "0.000150", "completion_usd_per_1k": 0.0006},
    }
    server.on("GET", "/v1/models", json_reply(200, [model]), json_reply(200, {"object": "list", "data": [model]}))
    server.on("GET", "/v1/models/paid", json_reply(200, [model]))
    for models in (client.models.list(), client.models.list(free=False), client.models.paid()):
        assert models[0].id == "openai/gpt-4o-mini"
        assert models[0].pricing is not None
        assert models[0].pricing.prompt_usd_per_1k == "0.000150"
        assert models[0].pricing.completion_usd_per_1k == "0.0006"
    assert server.requests[1].query == "free=false"


def test_cost_number_is_accepted_as_decimal_string(client: MeshAPI, server: ScriptedServer) -> None:
    server.on("POST", "/v1/chat/completions", json_reply(200, {**COMPLETION, "cost": 1e-05}))
    assert client.chat.completions.create(model="m", messages=[]).cost == "0.00001"


def test_error_envelope(client: MeshAPI, server: ScriptedServer) -> None:
    server.on(
        "POST",
        "/v1/chat/completions",
        json_reply(
            422,
            {
                "error": {
                    "code": "validation_error",
                    "message": "Request validation failed.",
                    "details": [{"loc": ["body", "temperature"], "msg": "too high"}],
                },
                "request_id": "req_body",
            },
            X_Request_Id="req_header",
        ),
    )
    with pytest.raises(ValidationError) as info:
        client.chat.completions.create(model="m", messages=[])
    err = info.value
    assert isinstance(err, MeshAPIError)
    assert (err.status, err.error_code, err.request_id) == (422, "validation_error", "req_body")
    assert str(err) == "Request validation failed."
    assert err.details[0]["msg"] == "too high"


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (401, "unauthorized", AuthenticationError),
        (402, "spend_limit_exceeded", SpendLimitError),
        (403, "forbidden", meshapi.PermissionDeniedError),
        (404, "model_not_found", NotFoundError),
        (409, "conflict", meshapi.ConflictError),
        (500, "upstream_error", meshapi.InternalServerError),
    ],
)
def test_error_classes(client: MeshAPI, server: ScriptedServer, status: int, code: str, cls: type) -> None:
    server.on(
        "GET",
        "/v1/models",
        json_reply(status, {"error": {"code": code, "message": "nope", "provider_error": {"p": 1}}}, X_Request_Id="r1"),
    )
    with pytest.raises(cls) as info:
        client.models.list()
    assert info.value.error_code == code and info.value.request_id == "r1"
    assert info.value.provider_error == {"p": 1}


def test_rate_limit_retry_after_from_body_or_header(server: ScriptedServer) -> None:
    client = MeshAPI(base_url=server.url, token="t", max_retries=0)
    server.on(
        "GET",
        "/v1/models",
        json_reply(429, {"error": {"code": "rate_limit_exceeded", "message": "slow", "retry_after_seconds": 7}}),
        json_reply(429, {"error": {"code": "rate_limit_exceeded", "message": "slow"}}, Retry_After="3"),
    )
    with pytest.raises(RateLimitError) as info:
        client.models.list()
    assert info.value.retry_after_seconds == 7
    with pytest.raises(RateLimitError) as info:
        client.models.list()
    assert info.value.retry_after_seconds == 3


def test_non_json_error_body_is_parse_error(client: MeshAPI, server: ScriptedServer) -> None:
    server.on("GET", "/v1/models", raw_reply(404, b"<html>nope</html>", "text/html"))
    with pytest.raises(NotFoundError) as info:
        client.models.list()
    assert info.value.error_code == "parse_error" and "nope" in str(info.value)


def test_fastapi_detail_body_gets_status_code(client: MeshAPI, server: ScriptedServer) -> None:
    server.on("GET", "/v1/templates/x", json_reply(404, {"detail": "Template not found"}))
    server.on("POST", "/v1/templates", json_reply(409, {"detail": {"error": {"code": "conflict", "message": "dup"}}}))
    with pytest.raises(NotFoundError) as info:
        client.templates.get("x")
    assert (info.value.error_code, str(info.value)) == ("not_found", "Template not found")
    with pytest.raises(meshapi.ConflictError, match="dup"):
        client.templates.create(name="t")


def test_empty_or_invalid_success_body_is_parse_error(client: MeshAPI, server: ScriptedServer) -> None:
    server.on("GET", "/v1/files/f", raw_reply(200, b""), raw_reply(200, b"not json"))
    for _ in range(2):
        with pytest.raises(MeshAPIError) as info:
            client.files.get("f")
        assert info.value.error_code == "parse_error"


def test_injected_client_is_not_closed(server: ScriptedServer) -> None:
    server.on("GET", "/v1/models", json_reply(200, []))
    http = httpx.Client(timeout=3)
    with MeshAPI(base_url=server.url, token="t", httpx_client=http) as client:
        client.models.list()
    assert not http.is_closed
    http.close()


def test_timeout_accepts_httpx_timeout(server: ScriptedServer) -> None:
    server.on("GET", "/v1/models", json_reply(200, []))
    with MeshAPI(base_url=server.url, token="t", timeout=httpx.Timeout(2.0, connect=1.0)) as client:
        assert client.models.list() == []


def test_templates_crud_shapes(client: MeshAPI, server: ScriptedServer) -> None:
    tpl = {
        "id": "t1",
        "name": "support-agent",
        "is_global": False,
        "created_at": "2025-01-01T00:00:00Z",
        "updated_at": "2025-01-01T00:00:00Z",
    }
    server.on("PATCH", "/v1/templates/t1", json_reply(200, {**tpl, "model": "openai/gpt-4o"}))
    server.on("DELETE", "/v1/templates/t1", empty_reply(204))
    server.on("GET", "/v1/templates", json_reply(200, [tpl]))
    assert client.templates.list()[0].name == "support-agent"
    updated = client.templates.update("t1", meshapi.UpdateTemplateParams(model="openai/gpt-4o"))
    assert updated.model == "openai/gpt-4o"
    assert json.loads(server.requests[-1].body) == {"model": "openai/gpt-4o"}
    assert client.templates.delete("t1") is None


def test_batches_list_query_and_cancel_body(client: MeshAPI, server: ScriptedServer) -> None:
    server.on(
        "GET",
        "/v1/batches",
        json_reply(
            200, {"object": "list", "data": [{"id": "b1"}], "has_more": True, "first_id": "b1", "last_id": "b1"}
        ),
    )
    server.on("POST", "/v1/batches/b1/cancel", json_reply(200, {"id": "b1", "status": "cancelling"}))
    page = client.batches.list(after="b0", limit=10)
    assert page.data[0].id == "b1" and page.has_more
    assert server.requests[0].query == "after=b0&limit=10"
    assert client.batches.cancel("b1").status == "cancelling"
    assert server.requests[1].body == b"{}"


def test_create_refuses_stream_keyword(client: MeshAPI) -> None:
    with pytest.raises(TypeError, match=r"stream\(\)"):
        client.chat.completions.create(model="m", messages=[], stream=True)


def test_errors_survive_pickling() -> None:
    import pickle

    err = RateLimitError("slow", status=429, error_code="rate_limit_exceeded", request_id="r", retry_after_seconds=2)
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is RateLimitError and str(copy) == "slow"
    assert (copy.status, copy.error_code, copy.request_id, copy.retry_after_seconds) == (
        429,
        "rate_limit_exceeded",
        "r",
        2,
    )
    conn = pickle.loads(pickle.dumps(meshapi.APITimeoutError()))
    assert conn.error_code == "timeout"


def test_batches_iter_all_follows_pages(client: MeshAPI, server: ScriptedServer) -> None:
    server.on(
        "GET",
        "/v1/batches",
        json_reply(200, {"data": [{"id": "b3"}, {"id": "b2"}], "has_more": True, "last_id": "b2"}),
        json_reply(200, {"data": [{"id": "b1"}], "has_more": False, "last_id": "b1"}),
    )
    assert [b.id for b in client.batches.iter_all(limit=2)] == ["b3", "b2", "b1"]
    assert [r.query for r in server.requests] == ["limit=2", "after=b2&limit=2"]


def test_import_is_lazy() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from meshapi import MeshAPI\n"
        "MeshAPI(base_url='http://x', token='t')\n"
        "assert 'pydantic' not in sys.modules, 'pydantic imported eagerly'\n"
        "assert 'meshapi.types.chat' not in sys.modules\n"
        "import meshapi\n"
        "assert meshapi.ChatCompletionParams.__name__ == 'ChatCompletionParams'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_every_public_name_resolves() -> None:
    for name in meshapi.__all__:
        assert getattr(meshapi, name) is not None, name
    for name in meshapi.types.__all__:
        assert getattr(meshapi.types, name) is not None, name


def test_default_headers_and_per_call_headers(server: ScriptedServer) -> None:
    server.on("GET", "/v1/models", json_reply(200, []))
    with MeshAPI(base_url=server.url, token="t", default_headers={"X-Team": "a"}) as client:
        client.models.list(extra_headers={"x-team": "b", "X-Request-Id": "req_mine"}, extra_query={"q": 1})
    req = server.requests[0]
    assert req.headers["x-team"] == "b" and req.headers["x-request-id"] == "req_mine"
    assert req.headers["accept"] == "application/json" and req.query == "q=1"


def test_pricing_numbers_become_decimal_strings() -> None:
    pricing = meshapi.ModelPricing.model_validate({"prompt_usd_per_1k": 0, "completion_usd_per_1k": 1.5e-7})
    assert pricing.prompt_usd_per_1k == "0"
    assert pricing.completion_usd_per_1k == "0.00000015"


def test_base_url_needs_a_scheme() -> None:
    with pytest.raises(meshapi.ConfigurationError, match="http"):
        MeshAPI(base_url="api.example.com", token="t")


def test_reply_message_can_be_sent_back_as_history(client: MeshAPI, server: ScriptedServer) -> None:
    tool_reply = {
        **COMPLETION,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
                },
                "finish_reason": "tool_calls",
            }
        ],
    }
    server.on("POST", "/v1/chat/completions", json_reply(200, tool_reply))
    first = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    client.chat.completions.create(
        model="m",
        messages=[
            {"role": "user", "content": "hi"},
            first.choices[0].message,
            ChatMessage(role="tool", tool_call_id="c1", content="42"),
        ],
    )
    sent = server.requests[1].json()["messages"]
    assert sent[1] == {
        "role": "assistant",
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
    }
    assert sent[2] == {"role": "tool", "content": "42", "tool_call_id": "c1"}
