"""The local model end to end: real SmolLM2 tokens from llama.cpp's server, through a real gateway.

One gateway with the local model enabled is shared by the module (loading takes seconds).
The tests that need llama.cpp and the model file skip, saying so, only when those are not
installed; the quick start and CI install them, so there they run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import openai
import pytest
from gwtest.harness import FakeUpstream, Gateway, start_gateway
from meshapi_gateway.cli import quickstart_banner
from meshapi_gateway.providers.local.files import locate
from meshapi_gateway.providers.local.supervisor import LlamaServerSupervisor
from meshapi_gateway.state import GatewayState

MODEL = "local/smollm2-135m-instruct"
FILES = locate()
needs_model = pytest.mark.skipif(not FILES.available, reason=f"local model not installed: {FILES.missing}")

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def gateway_state(gw: Gateway) -> GatewayState:
    state: GatewayState = gw.server.server.config.app.app.state.gw
    return state


def supervisor_of(gw: Gateway) -> LlamaServerSupervisor:
    service: LlamaServerSupervisor = gateway_state(gw).local_model
    return service


@pytest.fixture(scope="module")
def local_gw(tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeUpstream) -> Iterator[Gateway]:
    if not FILES.available:
        pytest.skip(f"local model not installed: {FILES.missing}")
    gw = start_gateway(tmp_path_factory.mktemp("gw-local"), fake_openai.url, local_model={"enabled": True})
    yield gw
    gw.server.stop()


@pytest.fixture(scope="module")
def local_key(local_gw: Gateway) -> str:
    return local_gw.create_key("alice")


@pytest.fixture(scope="module")
def client(local_gw: Gateway, local_key: str) -> Iterator[httpx.Client]:
    # Generous timeout: the first request waits for the model to load on a busy machine.
    with httpx.Client(base_url=local_gw.url, headers={"authorization": f"Bearer {local_key}"}, timeout=120) as c:
        yield c


def chat(client: httpx.Client, **body: Any) -> httpx.Response:
    payload = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Say hello in five words."}],
        "max_tokens": 24,
        "temperature": 0,
        "seed": 7,
        **body,
    }
    return client.post("/v1/chat/completions", json=payload)


def sse_events(client: httpx.Client, **body: Any) -> list[Any]:
    payload = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Say hello in five words."}],
        "max_tokens": 24,
        "temperature": 0,
        "seed": 7,
        "stream": True,
        **body,
    }
    events: list[Any] = []
    with client.stream("POST", "/v1/chat/completions", json=payload) as resp:
        assert resp.status_code == 200, resp.read()
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if line.startswith("data: "):
                data = line[len("data: ") :]
                events.append(data if data == "[DONE]" else json.loads(data))
    return events


# -- with the model ------------------------------------------------------------


@needs_model
def test_chat_answers_with_real_text_usage_and_zero_cost(client: httpx.Client) -> None:
    resp = chat(client)
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert data["model"] == MODEL
    text = data["choices"][0]["message"]["content"]
    assert isinstance(text, str) and text.strip()
    usage = data["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert data["cost"] == "0"


@needs_model
def test_model_is_listed_as_free(client: httpx.Client) -> None:
    listed = {m["id"]: m for m in client.get("/v1/models").json()["data"]}
    entry = listed[MODEL]
    assert entry["is_free"] is True
    assert entry["pricing"]["prompt_usd_per_1m"] == "0"
    assert entry["pricing"]["completion_usd_per_1m"] == "0"
    assert MODEL in {m["id"] for m in client.get("/v1/models/free").json()}


@needs_model
def test_ready_reports_the_local_model(client: httpx.Client) -> None:
    chat(client)  # makes sure it has loaded
    resp = client.get("/ready")
    assert resp.status_code == 200, resp.text
    assert resp.json()["local_model"]["state"] == "ready"


@needs_model
def test_stream_sends_tokens_then_usage_then_done(client: httpx.Client) -> None:
    events = sse_events(client)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text.strip()
    assert all(c["model"] == MODEL and c["object"] == "chat.completion.chunk" for c in chunks)
    assert sum(1 for c in chunks if c["choices"] and c["choices"][0].get("finish_reason")) == 1
    last = chunks[-1]
    assert last["choices"] == []
    usage = last["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert last["cost"] == "0"


@needs_model
def test_named_tool_choice_returns_a_call_with_json_arguments(client: httpx.Client) -> None:
    resp = chat(
        client,
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        max_tokens=64,
    )
    assert resp.status_code == 200, resp.text
    message = resp.json()["choices"][0]["message"]
    calls = message["tool_calls"]
    assert len(calls) == 1
    assert calls[0]["type"] == "function" and calls[0]["id"]
    assert calls[0]["function"]["name"] == "get_weather"
    assert isinstance(json.loads(calls[0]["function"]["arguments"]), dict)
    assert "function_call" not in message  # llama.cpp's legacy duplicate is not passed on


@needs_model
def test_named_tool_choice_streams_one_whole_call(client: httpx.Client) -> None:
    events = sse_events(
        client,
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        max_tokens=64,
    )
    deltas = [c["choices"][0]["delta"] for c in events[:-1] if c["choices"]]
    assert not any("function_call" in d for d in deltas)
    calls = [tc for d in deltas for tc in d.get("tool_calls") or []]
    assert len(calls) == 1
    assert calls[0]["function"]["name"] == "get_weather"
    assert isinstance(json.loads(calls[0]["function"]["arguments"]), dict)


@needs_model
def test_official_openai_client(local_gw: Gateway, local_key: str) -> None:
    oai = openai.OpenAI(base_url=local_gw.url + "/v1", api_key=local_key, timeout=120, max_retries=0)
    reply = oai.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Name a color."}], max_tokens=16, temperature=0
    )
    assert reply.choices[0].message.content
    assert reply.usage is not None and reply.usage.completion_tokens > 0
    stream = oai.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Name a fruit."}],
        max_tokens=16,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, usage = [], None
    for chunk in stream:
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
        if chunk.usage is not None:
            usage = chunk.usage
    assert "".join(pieces).strip()
    assert usage is not None and usage.total_tokens > 0


@needs_model
def test_quickstart_snippet_runs_against_the_gateway(local_gw: Gateway, local_key: str) -> None:
    """The Python snippet the quick-start banner prints, copied and run as a user would."""
    port = int(local_gw.url.rsplit(":", 1)[1])
    banner = quickstart_banner(local_gw.settings.model_copy(update={"port": port}), local_key, "token")
    lines = banner.splitlines()
    first = next(i for i, line in enumerate(lines) if line.endswith("<<'PY'"))
    last = lines.index("PY", first)
    script = "\n".join(lines[first : last + 1]) + "\n"
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=180, cwd=os.getcwd())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


@needs_model
def test_killed_server_is_restarted_and_requests_succeed_again(client: httpx.Client, local_gw: Gateway) -> None:
    sup = supervisor_of(local_gw)
    assert chat(client).status_code == 200
    old_pid, generation = sup.pid, sup.generation
    assert old_pid is not None
    os.kill(old_pid, signal.SIGKILL)
    # Sent at once: it waits for the restarted server instead of failing.
    resp = chat(client)
    assert resp.status_code == 200, resp.text
    assert resp.json()["choices"][0]["message"]["content"]
    assert sup.pid is not None and sup.pid != old_pid
    assert sup.generation > generation
    assert client.get("/ready").status_code == 200


# -- without it ------------------------------------------------------------------


def test_disabled_local_model_is_not_listed(gateway: Gateway, key: str) -> None:
    with gateway.client(key) as c:
        assert MODEL not in {m["id"] for m in c.get("/v1/models").json()["data"]}
        resp = c.post("/v1/chat/completions", json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
        assert resp.status_code == 404
        assert resp.json()["error"]["code"] == "model_not_found"


def test_missing_model_file_leaves_the_gateway_up_without_the_model(gateway_factory: Any, tmp_path: Path) -> None:
    gw = gateway_factory(local_model={"enabled": True, "path": str(tmp_path / "absent.gguf")})
    key = gw.create_key("alice")
    with gw.client(key) as c:
        assert c.get("/health").status_code == 200
        assert c.get("/ready").status_code == 200
        assert MODEL not in {m["id"] for m in c.get("/v1/models").json()["data"]}
        assert (
            c.post(
                "/v1/chat/completions", json={"model": "fake/echo", "messages": [{"role": "user", "content": "hi"}]}
            ).status_code
            == 200
        )


@needs_model
def test_model_that_cannot_load_is_503_provider_not_available(gateway_factory: Any, tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"this is not a GGUF file")
    gw = gateway_factory(local_model={"enabled": True, "path": str(broken), "ready_timeout": 1})
    key = gw.create_key("alice")
    with gw.client(key) as c:
        assert MODEL in {m["id"] for m in c.get("/v1/models").json()["data"]}
        resp = c.post("/v1/chat/completions", json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
        assert resp.status_code == 503, resp.text
        assert resp.json()["error"]["code"] == "provider_not_available"
        ready = c.get("/ready")
        # The node still serves every other model: it stays ready and shows the model's state beside.
        assert ready.status_code == 200, ready.text
        assert ready.json()["local_model"]["state"] in ("loading", "restarting")
        # A fallback named in the request still answers.
        resp = c.post(
            "/v1/chat/completions",
            json={"model": MODEL, "models": ["fake/echo"], "messages": [{"role": "user", "content": "hi"}]},
        )
        assert resp.status_code == 200, resp.text
    sup = supervisor_of(gw)
    deadline = time.monotonic() + 30
    while sup.restarts == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sup.restarts >= 1  # the supervisor keeps trying, it does not give up silently
