"""``POST /v1/responses``: served through chat for chat models, passed through for native upstreams.

End to end with our SDK and the official ``openai`` client against the fake OpenAI
upstream (exact text and usage), plus one smoke test on the local SmolLM2 model.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import httpx
import openai
import pytest
from gwtest.harness import FakeUpstream, Gateway, fake_models
from meshapi import MeshAPI, MeshAPIError, ResponsesParams

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}

STANDARD_ORDER = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeUpstream) -> Iterator[Gateway]:
    """The standard fake models plus a native Responses upstream and a model with neither API."""
    from gwtest.harness import start_gateway

    common = {
        "provider": "openai_compat",
        "base_url": fake_openai.url,
        "api_key": "sk-fake",
        "prompt_usd_per_1m": "1",
        "completion_usd_per_1m": "2",
    }
    models = [
        *fake_models(fake_openai.url),
        {"id": "fake/native", "upstream_model": "echo", "supports_responses_api": True, **common},
        {"id": "fake/native-cut", "upstream_model": "cut", "supports_responses_api": True, **common},
        {
            "id": "fake/native-flaky",
            "upstream_model": "fail-503",
            "supports_responses_api": True,
            "fallbacks": ["fake/native"],
            **common,
        },
        {
            "id": "fake/vectors-only",
            "upstream_model": "embed",
            "model_type": "embedding",
            "supports_completions_api": False,
            **common,
        },
    ]
    gateway = start_gateway(tmp_path_factory.mktemp("gw-responses"), fake_openai.url, models=models)
    yield gateway
    gateway.server.stop()


@pytest.fixture(scope="module")
def key(gw: Gateway) -> str:
    return gw.create_key("resp-owner")


@pytest.fixture
def sdk(gw: Gateway, key: str) -> MeshAPI:
    return MeshAPI(base_url=gw.url, token=key, max_retries=0)


@pytest.fixture
def oai(gw: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)


def sse(text: str) -> list[tuple[str | None, str]]:
    """(event name, data) per frame; every frame, the last included, ends with a blank line."""
    assert "\r" not in text
    frames = text.split("\n\n")
    assert frames[-1] == ""
    out = []
    for f in frames[:-1]:
        name = None
        data = []
        for line in f.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
        out.append((name, "\n".join(data)))
    return out


def post_stream(gw: Gateway, key: str, **body: Any) -> list[tuple[str | None, str]]:
    with gw.client(key) as c:
        r = c.post("/v1/responses", json={"stream": True, **body})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.content.isascii()
    return sse(r.text)


def usage_rows(gw: Gateway, key: str, request_id: str) -> list[dict[str, Any]]:
    with gw.client(key) as c:
        r = c.get("/v1/usage", params={"request_id": request_id})
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()["data"]
    return rows


# --- translated through chat -----------------------------------------------------------------------------------


def test_sdk_readme_example(sdk: MeshAPI, fake_openai: FakeUpstream) -> None:
    reply = sdk.responses.create(
        ResponsesParams(
            model="fake/echo",
            input="Explain the halting problem.",
            reasoning={"effort": "medium"},
            max_output_tokens=512,
        )
    )
    assert reply.object == "response" and reply.status == "completed" and reply.model == "fake/echo"
    assert reply.output and reply.output[0]["type"] == "message"
    part = reply.output[0]["content"][0]
    assert part == {
        "type": "output_text",
        "text": "echo: Explain the halting problem.",
        "annotations": [],
        "logprobs": [],
    }
    assert reply.output_text == "echo: Explain the halting problem."
    assert reply.usage is not None and reply.usage.input_tokens and reply.usage.output_tokens == 5
    assert reply.usage.total_tokens == reply.usage.input_tokens + reply.usage.output_tokens
    sent = fake_openai.recorder.last()
    assert sent["path"] == "/v1/chat/completions"
    assert sent["body"]["messages"] == [{"role": "user", "content": "Explain the halting problem."}]
    assert sent["body"]["max_tokens"] == 512 and sent["body"]["reasoning_effort"] == "medium"


def test_openai_client_output_text_and_instructions(oai: openai.OpenAI, fake_openai: FakeUpstream) -> None:
    r = oai.responses.create(model="fake/echo", input="bonjour", instructions="Be brief.", temperature=0.2)
    assert r.output_text == "echo: bonjour"
    assert r.usage is not None and r.usage.output_tokens == 2 and r.usage.input_tokens > 0
    assert r.status == "completed" and r.instructions == "Be brief." and r.model == "fake/echo"
    sent = fake_openai.recorder.last()["body"]
    assert sent["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "bonjour"}]
    assert sent["temperature"] == 0.2


def test_stream_events_in_standard_order(gw: Gateway, key: str) -> None:
    frames = post_stream(gw, key, model="fake/echo", input="one two three")
    assert frames[-1] == (None, "[DONE]")
    events = [json.loads(data) for _, data in frames[:-1]]
    assert [name for name, _ in frames[:-1]] == [e["type"] for e in events]  # `event:` line = type
    types = [e["type"] for e in events]
    collapsed = [t for i, t in enumerate(types) if i == 0 or t != types[i - 1]]
    assert collapsed == STANDARD_ORDER
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    final = events[-1]["response"]
    assert deltas == "echo: one two three" == final["output"][0]["content"][0]["text"]
    assert next(e for e in events if e["type"] == "response.output_text.done")["text"] == deltas
    assert final["status"] == "completed" and final["usage"]["output_tokens"] == 4
    assert final["id"] == events[0]["response"]["id"]
    assert isinstance(final["cost"], str)


def test_sdk_stream(sdk: MeshAPI) -> None:
    events = list(sdk.responses.stream(ResponsesParams(model="fake/echo", input="a b")))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "echo: a b"
    assert events[-1].response is not None and events[-1].response["usage"]["total_tokens"] > 0


def test_openai_client_stream_helper_and_raw_stream(oai: openai.OpenAI) -> None:
    with oai.responses.stream(model="fake/echo", input="hello there") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "echo: hello there" == final.output_text
    raw = oai.responses.create(model="fake/echo", input="x y", stream=True)
    kinds = [e.type for e in raw]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"


def test_function_tools_round_trip(oai: openai.OpenAI, fake_openai: FakeUpstream) -> None:
    r = oai.responses.create(
        model="fake/tools",
        input="Weather in Paris?",
        tools=[WEATHER],
        tool_choice={"type": "function", "name": "get_weather"},
    )
    sent = fake_openai.recorder.last()["body"]
    assert sent["tools"] == [{"type": "function", "function": {k: v for k, v in WEATHER.items() if k != "type"}}]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    calls = [item for item in r.output if item.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather" and calls[0].call_id == "call_fake1"
    assert json.loads(calls[0].arguments) == {"city": "Paris", "unit": "celsius"}
    # Second turn: the call and its output go back as input items → assistant tool call + tool message.
    r2 = oai.responses.create(
        model="fake/echo",
        tools=[WEATHER],
        input=[
            {"role": "user", "content": "Weather in Paris?"},
            {"type": "function_call", "call_id": "call_fake1", "name": "get_weather", "arguments": calls[0].arguments},
            {"type": "function_call_output", "call_id": "call_fake1", "output": "18C and sunny"},
            {"role": "user", "content": [{"type": "input_text", "text": "Thanks"}]},
        ],
    )
    messages = fake_openai.recorder.last()["body"]["messages"]
    assert messages[1]["role"] == "assistant" and messages[1]["tool_calls"][0]["id"] == "call_fake1"
    assert messages[2] == {"role": "tool", "tool_call_id": "call_fake1", "content": "18C and sunny"}
    assert messages[3] == {"role": "user", "content": "Thanks"}
    assert r2.output_text == "echo: Thanks"


def test_streamed_tool_call_is_a_function_call_item(gw: Gateway, key: str) -> None:
    frames = post_stream(gw, key, model="fake/tools", input="weather?", tools=[WEATHER])
    events = [json.loads(d) for _, d in frames[:-1]]
    types = [e["type"] for e in events]
    assert types[2:6] == [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
    ]
    item = events[5]["item"]
    assert item["type"] == "function_call" and item["call_id"] == "call_fake1" and item["name"] == "get_weather"
    assert events[-1]["response"]["output"] == [item]


@pytest.mark.parametrize("fmt_field", ["text", "response_format"])
def test_json_schema_format_becomes_chat_response_format(
    gw: Gateway, key: str, fake_openai: FakeUpstream, fmt_field: str
) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    fmt = {"type": "json_schema", "name": "reply", "schema": schema, "strict": True}
    body = {"text": {"format": fmt}} if fmt_field == "text" else {"response_format": fmt}
    with gw.client(key) as c:
        r = c.post("/v1/responses", json={"model": "fake/echo", "input": "hi", **body})
    assert r.status_code == 200, r.text
    sent = fake_openai.recorder.last()["body"]
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "reply", "schema": schema, "strict": True},
    }
    assert r.json()["text"]["format"]["type"] == "json_schema"


def test_template_and_variables(gw: Gateway, key: str, fake_openai: FakeUpstream) -> None:
    with gw.client(gw.token("resp-owner")) as ctrl:
        created = ctrl.post(
            "/v1/templates",
            json={
                "name": "resp-tpl",
                "system": "You help {{company}}.",
                "model": "fake/echo",
                "params": {"max_tokens": 77},
                "variables": ["company"],
            },
        )
    assert created.status_code in (200, 201), created.text
    with gw.client(key) as c:
        r = c.post(
            "/v1/responses",
            json={"input": "reset my password", "template": "resp-tpl", "variables": {"company": "Acme"}},
        )
        native = c.post(
            "/v1/responses",
            json={"model": "fake/native", "input": "hi", "template": "resp-tpl", "variables": {"company": "Acme"}},
        )
        missing = c.post("/v1/responses", json={"input": "x", "template": "resp-tpl"})
    assert r.status_code == 200, r.text
    assert r.json()["model"] == "fake/echo" and r.json()["output"][0]["content"][0]["text"] == "echo: reset my password"
    assert native.status_code == 200, native.text
    chat_call, native_call = [
        q for q in fake_openai.recorder.requests if q["path"] in ("/v1/chat/completions", "/v1/responses")
    ][-2:]
    assert chat_call["body"]["messages"] == [
        {"role": "system", "content": "You help Acme."},
        {"role": "user", "content": "reset my password"},
    ]
    assert chat_call["body"]["max_tokens"] == 77
    assert native_call["body"]["input"] == [
        {"role": "system", "content": "You help Acme."},
        {"role": "user", "content": "hi"},
    ]
    assert native_call["body"]["max_output_tokens"] == 77 and "template" not in native_call["body"]
    assert missing.status_code == 422


def test_translated_calls_are_billed_as_responses(gw: Gateway, key: str) -> None:
    with gw.client(key) as c:
        r = c.post("/v1/responses", json={"model": "fake/echo", "input": "bill me"})
        s = c.post("/v1/responses", json={"model": "fake/echo", "input": "bill me too", "stream": True})
    for resp, expected in ((r, r.json()["usage"]), (s, json.loads(sse(s.text)[-2][1])["response"]["usage"])):
        rows = usage_rows(gw, key, resp.headers["x-request-id"])
        assert len(rows) == 1 and rows[0]["kind"] == "responses" and rows[0]["model"] == "fake/echo"
        assert rows[0]["prompt_tokens"] == expected["input_tokens"]
        assert rows[0]["completion_tokens"] == expected["output_tokens"]


def test_mid_stream_failure_is_an_error_frame_then_done(gw: Gateway, key: str, sdk: MeshAPI) -> None:
    frames = post_stream(gw, key, model="fake/cut-3", input="one two three four five")
    assert frames[-1] == (None, "[DONE]")
    name, data = frames[-2]
    err = json.loads(data)
    assert name == "error" and err["error"]["code"] == "upstream_error" and err["type"] == "error"
    with pytest.raises(MeshAPIError) as info:
        list(sdk.responses.stream(ResponsesParams(model="fake/cut-3", input="one two three four five")))
    assert info.value.error_code == "upstream_error"


# --- native passthrough ------------------------------------------------------------------------------------------


def test_native_passthrough_non_stream(oai: openai.OpenAI, gw: Gateway, key: str, fake_openai: FakeUpstream) -> None:
    r = oai.responses.with_raw_response.create(
        model="fake/native", input="straight through", store=True, extra_body={"custom_flag": 1}
    )
    parsed = r.parse()
    sent = fake_openai.recorder.last()
    assert sent["path"] == "/v1/responses"
    assert sent["body"]["model"] == "echo" and sent["body"]["custom_flag"] == 1 and sent["body"]["store"] is True
    assert parsed.output_text == "echo: straight through" and parsed.model == "fake/native"
    rows = usage_rows(gw, key, r.headers["x-request-id"])
    assert len(rows) == 1 and rows[0]["kind"] == "responses" and rows[0]["prompt_tokens"] == 5


def test_native_passthrough_stream(gw: Gateway, key: str, oai: openai.OpenAI) -> None:
    with gw.client(key) as c:
        r = c.post("/v1/responses", json={"model": "fake/native", "input": "a b c", "stream": True})
    frames = sse(r.text)
    assert frames[-1] == (None, "[DONE]")
    events = [json.loads(d) for _, d in frames[:-1]]
    assert [n for n, _ in frames[:-1]] == [e["type"] for e in events]
    collapsed = [t for i, t in enumerate(e["type"] for e in events) if i == 0 or events[i - 1]["type"] != t]
    assert collapsed == STANDARD_ORDER
    assert events[0]["response"]["model"] == "fake/native" and events[-1]["response"]["model"] == "fake/native"
    rows = usage_rows(gw, key, r.headers["x-request-id"])
    assert len(rows) == 1 and rows[0]["prompt_tokens"] == events[-1]["response"]["usage"]["input_tokens"]
    with oai.responses.stream(model="fake/native", input="via openai") as stream:
        for _ in stream:
            pass
        assert stream.get_final_response().output_text == "echo: via openai"


def test_native_falls_back_before_the_first_byte(gw: Gateway, key: str) -> None:
    with gw.client(key) as c:
        r = c.post("/v1/responses", json={"model": "fake/native-flaky", "input": "x", "stream": True})
    assert r.status_code == 200 and r.headers["x-resolved-model-id"] == "fake/native"
    assert json.loads(sse(r.text)[-2][1])["type"] == "response.completed"


def test_native_cut_mid_stream(gw: Gateway, key: str) -> None:
    frames = post_stream(gw, key, model="fake/native-cut", input="one two three four")
    assert frames[-1] == (None, "[DONE]")
    assert json.loads(frames[-2][1])["error"]["code"] == "upstream_error"
    assert sum(1 for _, d in frames if '"response.output_text.delta"' in d) == 2


# --- bad input ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body,status,code",
    [
        ({"model": "fake/echo"}, 422, "validation_error"),
        ({"model": "fake/echo", "input": "x", "max_output_tokens": 0}, 422, "validation_error"),
        ({"model": "fake/echo", "input": []}, 422, "validation_error"),
        ({"model": "fake/echo", "input": "x", "temperature": 3}, 422, "validation_error"),
        ({"model": "nope/nope", "input": "x"}, 404, "model_not_found"),
        ({"model": "fake/vectors-only", "input": "x"}, 400, "model_capability_not_supported"),
        ({"model": "fake/echo", "input": "x", "previous_response_id": "resp_1"}, 422, "validation_error"),
        (
            {"model": "fake/echo", "input": "x", "tools": [{"type": "web_search_preview"}]},
            400,
            "model_capability_not_supported",
        ),
        ({"model": "fake/fail-400", "input": "x"}, 422, "validation_error"),
    ],
)
def test_bad_requests(gw: Gateway, key: str, body: dict[str, Any], status: int, code: str) -> None:
    for stream in (False, True):
        with gw.client(key) as c:
            r = c.post("/v1/responses", json={**body, "stream": stream})
        assert r.status_code == status, r.text
        assert r.headers["content-type"].startswith("application/json")
        assert r.json()["error"]["code"] == code


def test_unknown_model_raises_in_the_sdk(sdk: MeshAPI) -> None:
    with pytest.raises(MeshAPIError) as info:
        sdk.responses.create(ResponsesParams(model="nope/nope", input="x"))
    assert info.value.status == 404 and info.value.error_code == "model_not_found"


# --- the local model (smoke) ------------------------------------------------------------------------------------


def test_local_model_smoke(tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeUpstream) -> None:
    from gwtest.harness import start_gateway

    try:
        from meshapi_gateway.providers.local.files import locate
    except ImportError:
        pytest.skip("the local model provider is not available")
    files = locate()
    if not files.available:
        pytest.skip(f"local model not installed: {files.missing}")
    gateway = start_gateway(tmp_path_factory.mktemp("gw-resp-local"), fake_openai.url, local_model={"enabled": True})
    try:
        client = openai.OpenAI(
            base_url=gateway.url + "/v1",
            api_key=gateway.create_key("local-resp"),
            max_retries=0,
            http_client=httpx.Client(timeout=120),
        )
        r = client.responses.create(model="local/smollm2-135m-instruct", input="Say hello.", max_output_tokens=8)
        assert r.status in ("completed", "incomplete") and r.output_text.strip()
        assert r.usage is not None and r.usage.output_tokens > 0
    finally:
        gateway.server.stop()
