"""Tool calling on the real local model (SmolLM2 through llama.cpp), through our SDK and the openai client.

Every ``tool_choice`` streamed and not, one tool or several; arguments that always parse as
strict JSON and match the tool's schema; round trips in every shape clients send; the context
window and its refusals; one owner's share of the model; the child's environment and key.
The model is tiny, so under ``auto`` either a text answer or a call is accepted: the tests check
the shape of whichever came, never the words.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Iterator

import httpx
import openai
import pytest

from gwtest.harness import FakeUpstream, Gateway, start_gateway
from gwtest.meshapi_code import executable
from meshapi import ChatCompletionParams, ChatMessage, MeshAPI, Tool, ToolFunction
from meshapi_gateway.providers.local.files import locate
from meshapi_gateway.providers.local.supervisor import LlamaServerSupervisor, child_environment

MODEL = "local/smollm2-135m-instruct"
FILES = locate()
pytestmark = pytest.mark.skipif(not FILES.available, reason=f"local model not installed: {FILES.missing}")

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
ALARM = {
    "type": "function",
    "function": {
        "name": "set_alarm",
        "description": "Set an alarm",
        "parameters": {
            "type": "object",
            "properties": {
                "hour": {"type": "integer", "minimum": 0, "maximum": 23},
                "label": {"type": "string"},
                "repeat": {"type": "string", "enum": ["never", "daily", "weekdays"]},
            },
            "required": ["hour", "repeat"],
        },
    },
}
TOOLS = {"get_weather": WEATHER, "set_alarm": ALARM}
CHOICES: list[Any] = ["auto", "required", {"type": "function", "function": {"name": "get_weather"}}]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeUpstream) -> Iterator[Gateway]:
    g = start_gateway(
        tmp_path_factory.mktemp("gw-local-tools"),
        fake_openai.url,
        local_model={"enabled": True, "max_concurrent_per_owner": 2},
    )
    yield g
    g.server.stop()


@pytest.fixture(scope="module")
def key(gw: Gateway) -> str:
    return gw.create_key("alice")


@pytest.fixture(scope="module")
def oai(gw: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, timeout=180, max_retries=0)


@pytest.fixture(scope="module")
def sdk(gw: Gateway, key: str) -> MeshAPI:
    return MeshAPI(base_url=gw.url, token=key, max_retries=0, timeout=180)


def long_client(gw: Gateway, key: str) -> httpx.Client:
    # The model answers one request at a time on a busy machine: generous, not tight, timeouts.
    return httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {key}"}, timeout=180)


def supervisor(gw: Gateway) -> LlamaServerSupervisor:
    sup: LlamaServerSupervisor = gw.server.server.config.app.app.state.gw.local_model
    return sup


def check_call(name: str, arguments: str) -> dict[str, Any]:
    """A call names an offered tool and its arguments are strict JSON that match that tool's schema."""
    assert name in TOOLS
    args = json.loads(arguments)  # strict: a raw control character would fail here
    schema = TOOLS[name]["function"]["parameters"]
    assert isinstance(args, dict)
    for field in schema["required"]:
        assert field in args
    for field, value in args.items():
        spec = schema["properties"][field]
        kind = {"string": str, "integer": int}[spec["type"]]
        assert isinstance(value, kind) and not isinstance(value, bool)
        if "enum" in spec:
            assert value in spec["enum"]
        if "minimum" in spec:
            assert spec["minimum"] <= value <= spec["maximum"]
    return args


def ask(
    oai: openai.OpenAI,
    tools: list[Any],
    choice: Any,
    stream: bool,
    content: str = "What is the weather in Paris?",
    **extra: Any,
) -> tuple[str | None, list[tuple[str, str]], str | None]:
    """(text, [(name, arguments)], finish_reason), streamed or not."""
    messages: Any = [{"role": "user", "content": content}]
    if not stream:
        reply = oai.chat.completions.create(
            model=MODEL, messages=messages, tools=tools, tool_choice=choice, max_tokens=48, temperature=0, **extra
        )
        msg = reply.choices[0].message
        calls = [(c.function.name, c.function.arguments) for c in msg.tool_calls or []]
        return msg.content, calls, reply.choices[0].finish_reason
    text, calls, finish = "", [], None
    indexes: list[int] = []
    for chunk in oai.chat.completions.create(
        model=MODEL,
        messages=messages,
        tools=tools,
        tool_choice=choice,
        max_tokens=48,
        temperature=0,
        stream=True,
        **extra,
    ):
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        text += delta.content or ""
        for tc in delta.tool_calls or []:
            # Each call comes whole in one delta, with its index.
            assert tc.function is not None and tc.function.name and tc.function.arguments is not None
            json.loads(tc.function.arguments)
            indexes.append(tc.index)
            calls.append((tc.function.name, tc.function.arguments))
        finish = chunk.choices[0].finish_reason or finish
    assert indexes == list(range(len(indexes)))
    return text or None, calls, finish


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("choice", CHOICES, ids=["auto", "required", "named"])
@pytest.mark.parametrize("tools", [[WEATHER], [WEATHER, ALARM]], ids=["one-tool", "two-tools"])
def test_every_tool_choice_through_the_openai_client(
    oai: openai.OpenAI, tools: list[Any], choice: Any, stream: bool
) -> None:
    text, calls, finish = ask(oai, tools, choice, stream)
    if choice == "auto" and not calls:
        assert text and text.strip()  # under auto a text answer is a normal answer
        assert finish in ("stop", "length")
        return
    assert calls, text
    assert finish == "tool_calls"
    assert len(calls) <= len(tools)
    for name, arguments in calls:
        check_call(name, arguments)
    if isinstance(choice, dict):
        assert [n for n, _ in calls] == ["get_weather"]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_tool_choice_none_answers_in_text(oai: openai.OpenAI, stream: bool) -> None:
    text, calls, finish = ask(oai, [WEATHER, ALARM], "none", stream)
    assert not calls and text and text.strip()
    assert finish in ("stop", "length")


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_parallel_tool_calls_false_gives_one_call(oai: openai.OpenAI, stream: bool) -> None:
    _, calls, finish = ask(
        oai,
        [WEATHER, ALARM],
        "required",
        stream,
        parallel_tool_calls=False,
        content="Weather in Paris and Rome, and an alarm at 7 daily.",
    )
    assert len(calls) == 1 and finish == "tool_calls"
    check_call(*calls[0])


@pytest.mark.parametrize(
    "prompt",
    [
        "Set an alarm for 7 labelled 'line one\nline two\ttabbed' daily.",
        'Set a daily alarm at 6 called "quoted \\ backslash" please.',
        "Set an alarm at 23 with the label ☃ snow, never repeating.",
    ],
)
def test_forced_arguments_are_strict_json_matching_the_schema(oai: openai.OpenAI, prompt: str) -> None:
    for stream in (False, True):
        _, calls, finish = ask(
            oai, [ALARM], {"type": "function", "function": {"name": "set_alarm"}}, stream, content=prompt
        )
        assert len(calls) == 1 and finish == "tool_calls"
        args = check_call(*calls[0])
        assert not any(ord(ch) < 0x20 for ch in calls[0][1])  # control characters arrive escaped
        assert "repeat" in args


def test_seed_readme_tool_example_streams_through_the_sdk(sdk: MeshAPI) -> None:
    params = ChatCompletionParams(
        model=MODEL,
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
    text, calls = "", []
    for chunk in sdk.chat.completions.stream(params):
        delta = chunk.choices[0].delta if chunk.choices else None
        if delta and delta.tool_calls:
            calls.extend(delta.tool_calls)
        elif delta and delta.content:
            text += delta.content
    assert calls or text.strip()
    for call in calls:
        check_call(call.function.name, call.function.arguments)


@pytest.mark.parametrize(
    "choice", ["required", {"type": "function", "function": {"name": "get_weather"}}], ids=["required", "named"]
)
def test_forced_call_through_the_sdk_streamed_and_not(sdk: MeshAPI, choice: Any) -> None:
    params = ChatCompletionParams(
        model=MODEL,
        messages=[ChatMessage(role="user", content="Weather in Oslo?")],
        tools=[Tool(**WEATHER)],
        tool_choice=choice,
        max_tokens=32,
    )
    reply = sdk.chat.completions.create(params)
    assert reply.choices[0].finish_reason == "tool_calls"
    calls = reply.choices[0].message.tool_calls or []
    assert calls and all(check_call(c.function.name, c.function.arguments) for c in calls)
    streamed = [
        tc
        for chunk in sdk.chat.completions.stream(params)
        if chunk.choices
        for tc in chunk.choices[0].delta.tool_calls or []
    ]
    assert streamed and all(check_call(c.function.name, c.function.arguments) for c in streamed)


CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}


@pytest.mark.parametrize(
    "assistant",
    [
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "assistant", "content": "", "tool_calls": [CALL]},
        {"role": "assistant", "tool_calls": [CALL]},
        {"role": "assistant", "content": "Let me check.", "tool_calls": [CALL]},
    ],
    ids=["null", "empty", "absent", "text"],
)
@pytest.mark.parametrize(
    "tool_content",
    ["18 degrees and sunny", [{"type": "text", "text": "18 degrees and sunny"}]],
    ids=["string", "parts"],
)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_round_trips_in_every_shape(
    oai: openai.OpenAI, assistant: dict[str, Any], tool_content: Any, stream: bool
) -> None:
    messages: Any = [
        {"role": "user", "content": "What is the weather in Paris?"},
        assistant,
        {"role": "tool", "tool_call_id": "call_1", "content": tool_content},
    ]
    if stream:
        chunks = list(
            oai.chat.completions.create(
                model=MODEL, messages=messages, tools=[WEATHER], max_tokens=24, temperature=0, stream=True
            )
        )
        assert any(c.choices and c.choices[0].finish_reason for c in chunks)
    else:
        reply = oai.chat.completions.create(
            model=MODEL, messages=messages, tools=[WEATHER], max_tokens=24, temperature=0
        )
        msg = reply.choices[0].message
        assert msg.content or msg.tool_calls


def test_several_rounds_in_one_conversation(oai: openai.OpenAI) -> None:
    messages: list[Any] = [
        {"role": "system", "content": "You help with weather."},
        {"role": "user", "content": "Weather in Paris, then in Rome?"},
    ]
    for _ in range(3):
        reply = oai.chat.completions.create(
            model=MODEL, messages=messages, tools=[WEATHER], tool_choice="required", max_tokens=32, temperature=0
        )
        msg = reply.choices[0].message
        assert msg.tool_calls
        messages.append(
            {"role": "assistant", "content": msg.content, "tool_calls": [c.model_dump() for c in msg.tool_calls]}
        )
        for c in msg.tool_calls:
            messages.append({"role": "tool", "tool_call_id": c.id, "content": "20 degrees"})
    final = oai.chat.completions.create(
        model=MODEL, messages=messages, tools=[WEATHER], tool_choice="none", max_tokens=24, temperature=0
    )
    assert final.choices[0].message.content


def test_failed_requests_never_take_the_model_away(gw: Gateway, key: str, oai: openai.OpenAI) -> None:
    """The table's last rows: bad or unlucky requests leave the model answering everyone."""
    other = gw.create_key("bob")
    with long_client(gw, key) as c:
        for _ in range(3):
            assert (
                c.post("/v1/chat/completions", json={"model": MODEL, "messages": [{"role": "user"}]}).status_code == 422
            )
            assert (
                c.post(
                    "/v1/chat/completions",
                    json={
                        "model": MODEL,
                        "tools": [WEATHER],
                        "tool_choice": {"type": "function", "function": {"name": "nope"}},
                        "messages": [{"role": "user", "content": "x"}],
                    },
                ).status_code
                == 422
            )
            assert (
                c.post(
                    "/v1/chat/completions",
                    json={"model": MODEL, "messages": [{"role": "user", "content": "word " * 20000}]},
                ).status_code
                == 422
            )
    with long_client(gw, other) as c:
        resp = c.post(
            "/v1/chat/completions",
            json={"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": "Hi"}]},
        )
        assert resp.status_code == 200, resp.text


def test_default_context_is_8192_and_an_agent_sized_request_fits(oai: openai.OpenAI, gw: Gateway, key: str) -> None:
    with gw.client(key) as c:
        listed = {m["id"]: m for m in c.get("/v1/models").json()["data"]}
    assert listed[MODEL]["context_length"] == 8192
    tools = []
    for i in range(9):  # an agent client's tool list: about 2,500 prompt tokens
        tools.append(
            {
                "type": "function",
                "function": {
                    "name": f"tool_{i}",
                    "description": "Reads, writes or searches files in the project. " * 16,
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "path": {"type": "string", "description": "A path relative to the project root. " * 4},
                            "pattern": {"type": "string"},
                        },
                        "required": ["path"],
                    },
                },
            }
        )
    stream = oai.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "List the files."}],
        tools=tools,
        tool_choice="auto",
        max_tokens=32,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    usage, got = None, False
    for chunk in stream:
        if chunk.choices and (chunk.choices[0].delta.content or chunk.choices[0].delta.tool_calls):
            got = True
        usage = chunk.usage or usage
    assert got
    assert usage is not None and 2048 < usage.prompt_tokens < 8192


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_beyond_the_context_is_422_context_length_exceeded(gw: Gateway, key: str, stream: bool) -> None:
    with long_client(gw, key) as c:
        # Counted: about 12,000 tokens, within the character bound.
        resp = c.post(
            "/v1/chat/completions",
            json={"model": MODEL, "stream": stream, "messages": [{"role": "user", "content": "apple " * 12000}]},
        )
        assert resp.status_code == 422, resp.text
        err = resp.json()["error"]
        assert err["code"] == "context_length_exceeded" and "8192" in err["message"]
        assert "prompt tokens" in err["message"]
        # Refused by its size alone, before any tokenizer sees it.
        resp = c.post(
            "/v1/chat/completions",
            json={"model": MODEL, "stream": stream, "messages": [{"role": "user", "content": "x" * 2_000_000}]},
        )
        assert resp.status_code == 422, resp.text
        err = resp.json()["error"]
        assert err["code"] == "context_length_exceeded" and "characters" in err["message"]
        # Prompt plus max_tokens beyond the window.
        resp = c.post(
            "/v1/chat/completions",
            json={
                "model": MODEL,
                "stream": stream,
                "max_tokens": 8190,
                "messages": [{"role": "user", "content": "Hello there"}],
            },
        )
        assert resp.status_code == 422 and resp.json()["error"]["code"] == "context_length_exceeded"


def test_one_owner_holds_a_bounded_share_of_the_model(gw: Gateway) -> None:
    greedy, other = gw.create_key("greedy"), gw.create_key("patient")
    body = {
        "model": MODEL,
        "max_tokens": 400,
        "temperature": 0,
        "messages": [{"role": "user", "content": "Tell me a long story about a fox."}],
    }
    provider = gw.server.server.config.app.app.state.gw.providers.get("local")
    statuses: list[int] = []

    def send(key: str, stream: bool) -> None:
        with long_client(gw, key) as c:
            statuses.append(c.post("/v1/chat/completions", json={**body, "stream": stream}).status_code)

    held = [threading.Thread(target=send, args=(greedy, stream)) for stream in (False, True)]
    for t in held:
        t.start()
    # Both places taken (one answering, one queued behind it) before the third request is sent.
    for _ in range(600):
        if provider.shares.in_flight("greedy") == 2:
            break
        threading.Event().wait(0.05)
    assert provider.shares.in_flight("greedy") == 2
    with long_client(gw, greedy) as c:
        third = c.post("/v1/chat/completions", json=body)
    assert third.status_code == 429, third.text
    assert third.json()["error"]["code"] == "rate_limit_exceeded"
    assert "max_concurrent_per_owner" in third.json()["error"]["message"]
    send(other, False)  # another owner is served (after the queue ahead of it)
    for t in held:
        t.join(300)
    assert statuses == [200, 200, 200]
    assert provider.shares.in_flight("greedy") == 0  # the places are given back
    with long_client(gw, greedy) as c:
        assert c.post("/v1/chat/completions", json={**body, "max_tokens": 4}).status_code == 200


def test_the_child_gets_an_allow_listed_environment_and_a_key_only_the_gateway_knows(gw: Gateway) -> None:
    sup = supervisor(gw)
    with long_client(gw, gw.create_key("env-check")) as c:  # the model has loaded and answers
        assert (
            c.post(
                "/v1/chat/completions",
                json={"model": MODEL, "max_tokens": 2, "messages": [{"role": "user", "content": "Hi"}]},
            ).status_code
            == 200
        )
    assert sup.pid is not None
    env = dict(
        item.split("=", 1)
        for item in Path(f"/proc/{sup.pid}/environ").read_bytes().decode(errors="replace").split("\0")
        if "=" in item
    )
    assert set(env) <= {*child_environment("k", {k: "v" for k in env}), "API_KEY", "INTERRUPT_REQUESTS"}
    assert not any("TOKEN" in k or "SECRET" in k or "DATABASE" in k for k in env)
    assert env["API_KEY"] == sup.api_key and len(sup.api_key) >= 32
    assert env["INTERRUPT_REQUESTS"] == "false"
    assert "MESHAPI_ADMIN_TOKEN" not in child_environment("k", {"MESHAPI_ADMIN_TOKEN": "adm", "PATH": "/bin"})
    # Without the key a local user reaches nothing; the gateway (with it) is served.
    for path in ("/v1/models", "/v1/completions", "/v1/chat/completions"):
        resp = httpx.request(
            "GET" if path == "/v1/models" else "POST",
            sup.url + path,
            json=None if path == "/v1/models" else {"prompt": "hi", "messages": []},
            timeout=30,
        )
        assert resp.status_code == 401, (path, resp.status_code)
    assert httpx.get(sup.url + "/v1/models", headers=sup.auth_headers, timeout=30).status_code == 200


TOOL_NAMES = r"read_file|write_file|run_bash|web_search|ask_user|create_plan|start_server|remember|update_step"


def test_a_meshapi_code_turn_streams_an_answer_or_a_tool_call(gw: Gateway, key: str, tmp_path: Path) -> None:
    """The terminal client sends its nine tools with tool_choice auto, streamed, at about 2,400 tokens."""
    pexpect = pytest.importorskip("pexpect")
    # Installed on first use (gwtest/meshapi_code.py), so a fresh machine runs this test instead of skipping it.
    command, why = executable()
    if command is None:
        pytest.skip(why)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TERM": "xterm",
        "LANG": "C.UTF-8",
        "MESHAPI_API_KEY": key,
        "MESHAPI_BASE_URL": gw.url + "/v1",
    }
    child = pexpect.spawn(
        str(command),
        ["--model", MODEL],
        env=env,
        cwd=str(tmp_path),
        encoding="utf-8",
        timeout=300,
        dimensions=(50, 200),
    )
    try:
        child.expect("to quit")  # the banner is drawn: the prompt follows
        child.expect("\u203a")  # its prompt mark
        child.sendline("Say hello in three words.")
        # Streamed tokens arriving (its status line counts them), or a call of one of its tools.
        outcome = child.expect([r"↓ ~\d+ tok", TOOL_NAMES, "streaming keeps failing", "API error", "Network error"])
        assert outcome in (0, 1), (child.after, child.before[-2000:])
    finally:
        child.close(force=True)
