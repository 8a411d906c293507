"""The published ``meshapi`` SDKs (0.1.0, the seed, and 0.1.11), unchanged, against a real gateway.

Each release lives in its own folder ``.compat/meshapi-<version>`` (``python3 dev.py install``
puts it there) because our SDK in ``sdk/`` has the same import name. The README's examples
run in a child process whose ``PYTHONPATH`` is that folder (scripts in ``compat_scripts/``),
so what runs is exactly the published code; each script prints one JSON report asserted
here. Where a folder is missing (no registry access when installing) its tests are skipped
with that reason. The official ``openai`` client is exercised on the same gateway, to show
the three clients are served at once (docs/compatibility.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import openai
import pytest
from gwtest.harness import FakeUpstream, Gateway, fake_models, start_gateway

ROOT = Path(__file__).resolve().parents[2]
COMPAT = ROOT / ".compat"
SCRIPTS = Path(__file__).resolve().parent / "compat_scripts"
VERSIONS = ("0.1.0", "0.1.11")
OWNER = "compat-owner"

Runner = Callable[..., dict[str, Any]]
# What chat.py sends through a stream (the echo model answers it back).
UNICODE = "h\u00e9llo w\u00f6rld \u65e5\u672c\u8a9e \U0001f600 line\u2028separator"


def seed_catalog(upstream_url: str) -> list[dict[str, Any]]:
    """The fake models plus the model ids the seed README names, answered by the fake upstream."""
    common = {
        "provider": "openai_compat",
        "base_url": upstream_url,
        "api_key": "sk-fake",
        "prompt_usd_per_1m": "1",
        "completion_usd_per_1m": "2",
    }
    seed = [
        ("openai/gpt-4o-mini", "echo"),
        ("anthropic/claude-sonnet-4.5", "echo"),
        ("google/gemini-2.5-flash", "echo"),
        ("openai/gpt-4o", "tools"),
        ("openai/o4-mini", "echo"),
        ("fake/slow-2", "slow-2"),
    ]
    models = [{"id": model_id, "upstream_model": upstream, **common} for model_id, upstream in seed]
    models.append(
        {"id": "openai/text-embedding-3-small", "upstream_model": "embed", "model_type": "embedding", **common}
    )
    return [*fake_models(upstream_url), *models]


@pytest.fixture(scope="module")
def seed_gateway(tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeUpstream) -> Iterator[Gateway]:
    gw = start_gateway(
        tmp_path_factory.mktemp("gw-published"),
        fake_openai.url,
        models=seed_catalog(fake_openai.url),
        compare_judge_model="openai/gpt-4o-mini",
        batch_poll_seconds=0.2,
    )
    yield gw
    gw.server.stop()


@pytest.fixture(scope="module")
def owner_key(seed_gateway: Gateway) -> str:
    return seed_gateway.create_key(OWNER)


@pytest.fixture(scope="module", params=VERSIONS)
def published(request: pytest.FixtureRequest, seed_gateway: Gateway, owner_key: str) -> Runner:
    """Runs a compat script with one published release; returns the script's results."""
    version: str = request.param
    folder = COMPAT / f"meshapi-{version}"
    if not (folder / "meshapi" / "__init__.py").is_file():
        pytest.skip(
            f"published meshapi {version} is not installed in .compat/meshapi-{version} "
            f"(`python3 dev.py install` installs it; it needs access to the package registry)"
        )

    def run(script: str, **extra_env: str) -> dict[str, Any]:
        env = {
            **os.environ,
            "PYTHONPATH": str(folder),
            "MESHAPI_URL": seed_gateway.url,
            "MESHAPI_KEY": owner_key,
            "MESHAPI_JWT": seed_gateway.token(OWNER),
            **extra_env,
        }
        done = subprocess.run(
            [sys.executable, str(SCRIPTS / script)], env=env, capture_output=True, text=True, timeout=180, cwd=SCRIPTS
        )
        assert done.returncode == 0, done.stderr[-4000:]
        report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        # The published release ran, not our SDK installed in the same environment.
        assert Path(report["meshapi_file"]).resolve().is_relative_to(folder.resolve()), report["meshapi_file"]
        assert report["version"] == version
        results: dict[str, Any] = report["results"]
        for name, value in results.items():
            assert "traceback" not in (value or {}), f"{script} {name}: {value}"
        return results

    run.version = version  # type: ignore[attr-defined]
    return run


def version_of(run: Runner) -> str:
    return str(run.version)  # type: ignore[attr-defined]


def test_chat_examples(published: Runner) -> None:
    r = published("chat.py")
    assert r["create"] == {
        "content": "echo: What is the capital of France?",
        "total_tokens": 21,
        "object": "chat.completion",
        "finish_reason": "stop",
    }
    assert r["create_async"] == {"content": "echo: Hello!"}
    stream = r["stream"]
    assert stream["printed"] == "echo: Write a haiku about Python."
    # The tail is the usage chunk: no choices, full usage, and the cost as a decimal string.
    assert stream["tail_choices"] == 0
    assert stream["tail_usage"]["total_tokens"] == stream["tail_usage"]["prompt_tokens"] + 6
    assert stream["tail_cost_type"] == "str" and float(stream["tail_cost"]) > 0
    assert r["stream_async"] == {"printed": "echo: Write a haiku about Python."}
    # 0.1.0 validates every streamed tool call as a whole call: the gateway sends each in one delta.
    tools = r["tool_stream"]
    assert tools["finish_reason"] == "tool_calls" and tools["text"] == ""
    assert len(tools["tool_call_deltas"]) == 1
    call = tools["tool_call_deltas"][0]
    assert call["id"] == "call_fake1" and call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris", "unit": "celsius"}
    # The upstream drops after three chunks: the error frame raises MeshAPIError inside the loop.
    cut = r["stream_error_mid_way"]
    assert cut["printed_before_error"] == "echo: one two"
    assert cut["raised"] == "MeshAPIError" and cut["status"] == 0
    assert cut["error_code"] == "upstream_error" and cut["message"]
    # Multibyte characters and U+2028 survive the SDKs' per-read decoding and line splitting.
    assert r["stream_unicode"]["printed"] == "echo: " + UNICODE


def test_responses_and_embeddings_examples(published: Runner) -> None:
    r = published("responses_embeddings.py")
    created = r["responses_create"]
    assert created["object"] == "response" and created["status"] == "completed"
    assert created["text"] == "echo: Explain the halting problem in two sentences."
    assert created["output"][0]["type"] == "message"
    assert created["usage"]["total_tokens"] == created["usage"]["input_tokens"] + created["usage"]["output_tokens"]
    streamed = r["responses_stream"]
    assert streamed["types"][0] == "response.created" and streamed["types"][-1] == "response.completed"
    assert streamed["text"] == "echo: Explain the halting problem in two sentences."
    assert streamed["completed_status"] == "completed"
    emb = r["embeddings"]
    assert emb["object"] == "list" and emb["items"] == 2 and emb["indexes"] == [0, 1]
    assert emb["dimensions"] == 8
    assert emb["usage"]["prompt_tokens"] == emb["usage"]["total_tokens"] == 4


COMPARE_MODELS = ["openai/gpt-4o-mini", "anthropic/claude-sonnet-4.5", "google/gemini-2.5-flash"]
COMPARE_ECHO = "echo: Summarize this paragraph in one sentence: ..."


def test_compare_examples(published: Runner) -> None:
    r = published("compare.py")
    created = r["create"]
    assert created["models"] == COMPARE_MODELS
    assert [(x["model"], x["content"], x["error"]) for x in created["results"]] == [
        (m, COMPARE_ECHO, None) for m in COMPARE_MODELS
    ]
    assert created["comparison_model"] == "openai/gpt-4o-mini" and created["comparison"]
    assert created["partial"] is False and created["comparison_id"].startswith("cmp_")
    # The README loop prints every model's text, piece by piece.
    stream = r["stream"]
    assert stream["event_names"][0] == "meta" and stream["event_names"][-1] == "done"
    assert stream["printed"].count("\n") == len(stream["delta_data"]) > 0
    for model in COMPARE_MODELS:
        text = "".join(d["delta"] for d in stream["delta_data"] if d["model"] == model)
        assert text == COMPARE_ECHO
    # A failing model is reported as data; neither SDK aborts the stream.
    failing = r["stream_with_a_failing_model"]
    assert failing["last_event"] == "done"
    assert failing["texts"] == {"openai/gpt-4o-mini": "echo: hi"}
    assert [f["model"] for f in failing["failures"]] == ["fake/fail-400"]
    assert failing["failures"][0]["error_code"]


def test_files_and_batches_example(published: Runner) -> None:
    r = published("batches.py")
    if version_of(published) == "0.1.0":
        flow = r["files_flow"]
        assert flow["file_id"] == flow["file_got"] and flow["file_purpose"] == "batch"
        assert flow["created_status"] in ("validating", "in_progress")
        assert flow["status"] == "completed" and flow["output_file_id"]
        assert flow["outputs"] == {"req-1": "echo: Say hi.", "req-2": "echo: Say bye."}
    else:
        flow = r["inline_flow"]
        assert flow["status"] == "completed" and flow["metadata"] == {"job": "my-batch"}
        assert flow["request_counts"] == {"total": 2, "completed": 2, "failed": 0}
        assert flow["batch_id"] in flow["listed"]
        assert r["cancel_flow"]["status"] in ("cancelling", "cancelled")
        assert r["cancel_flow"]["final"] == "cancelled"


def test_models_examples(published: Runner) -> None:
    r = published("models.py")
    for realm in ("with_key", "with_jwt"):
        listing = r[realm]
        assert set(COMPARE_MODELS) <= set(listing["all"])
        assert "fake/free-echo" in listing["free"] and "fake/free-echo" not in listing["paid"]
        assert set(listing["free"]) | set(listing["paid"]) == set(listing["all"])
        assert all(listing["free_flags"]) and not any(listing["paid_flags"])
        assert listing["price_types"] == ["str"]
        assert all(prices == ["0", "0"] for prices in listing["free_prices"])
        assert "fake/echo: prompt $0.001/1k, completion $0.002/1k" in listing["printed"]
        assert listing["filtered_free"] == listing["free"]


def test_templates_examples(published: Runner) -> None:
    r = published("templates.py")
    name = f"support-agent-{version_of(published)}"
    created = r["create"]
    assert created["name"] == name and created["owner"] == OWNER and created["is_global"] is False
    assert created["variables"] == ["company"] and created["model"] == "openai/gpt-4o-mini"
    assert created["created_at"].endswith("Z") and created["updated_at"] == created["created_at"]
    assert r["chat"] == {"content": "echo: How do I reset my password?"}
    crud = r["crud"]
    assert crud["listed"] == [name] and crud["listed_with_key"] == [name] and crud["got"] == name
    assert crud["updated_model"] == "openai/gpt-4o" and crud["updated_system"] == created["system"]
    assert crud["deleted"] is None and crud["after_delete"] == []


def test_error_handling_examples(published: Runner, seed_gateway: Gateway) -> None:
    limited = seed_gateway.create_key(f"{OWNER}-limited-{version_of(published)}", rpm=1)
    r = published("errors.py", MESHAPI_LIMITED_KEY=limited)

    def check(name: str, status: int, code: str) -> dict[str, Any]:
        e: dict[str, Any] = r[name]
        assert (e["status"], e["error_code"]) == (status, code), e
        assert e["request_id"].startswith("req_") and e["message"]
        assert e["printed"][0] == f"[{status}] {code}: {e['message']}"
        return e

    check("model_not_found", 404, "model_not_found")
    invalid = check("validation_error", 422, "validation_error")
    assert [d["loc"] for d in invalid["details"]] == [["body", "temperature"]]
    check("unauthorized", 401, "unauthorized")
    assert r["rate_limit_exceeded"]["first"] == {"raised": None}
    limited_error = r["rate_limit_exceeded"]["second"]
    assert (limited_error["status"], limited_error["error_code"]) == (429, "rate_limit_exceeded")
    assert isinstance(limited_error["retry_after_seconds"], int) and 0 < limited_error["retry_after_seconds"] <= 60
    assert limited_error["printed"][2] == f"Retry after {limited_error['retry_after_seconds']}s"
    upstream = check("upstream_error", 500, "upstream_error")
    assert upstream["provider_error"]["error"]["code"] == "e500"
    if version_of(published) == "0.1.0":
        # 0.1.0 cannot read an HTTP error answered to a stream request (docs/wire.md, Published client limits).
        assert "stream_http_error" not in r
    else:
        assert r["stream_http_error"] == {"raised": "MeshAPIError", "status": 404, "error_code": "model_not_found"}
        assert (r["document_upload"]["status"], r["document_upload"]["error_code"]) == (501, "not_implemented")


def test_openai_client_on_the_same_gateway(seed_gateway: Gateway, owner_key: str) -> None:
    """The third client served at once: envelope on /v1/models, tool calls accumulated by index,
    and a real HTTP status for a failing stream request."""
    oai = openai.OpenAI(base_url=seed_gateway.url + "/v1", api_key=owner_key, max_retries=0)
    ids = [m.id for m in oai.models.list()]
    assert set(COMPARE_MODELS) <= set(ids)
    tools: list[Any] = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    arguments, names = "", list[str]()
    with oai.chat.completions.stream(
        model="openai/gpt-4o", messages=[{"role": "user", "content": "weather?"}], tools=tools
    ) as stream:
        for event in stream:
            if event.type == "tool_calls.function.arguments.done":
                arguments, names = event.arguments, [*names, event.name]
    assert names == ["get_weather"] and json.loads(arguments) == {"city": "Paris", "unit": "celsius"}
    with pytest.raises(openai.NotFoundError) as caught:
        oai.chat.completions.create(model="no-such/model", messages=[{"role": "user", "content": "hi"}], stream=True)
    assert caught.value.status_code == 404


def test_0111_router_web_search_and_model_search(
    published: Runner, gateway_factory: Callable[..., Gateway], fake_openai: FakeUpstream
) -> None:
    if version_of(published) != "0.1.11":
        pytest.skip("router.select, web.search and models.get/search are 0.1.11 calls")
    from gwtest.server_thread import ServerThread
    from gwtest.tavily_upstream import KEY, make_tavily_app

    tavily = ServerThread(make_tavily_app([])).start()
    try:
        searching = gateway_factory(web_search={"provider": "tavily", "base_url": tavily.url, "api_key": KEY})
        r = published(
            "extras_0111.py", MESHAPI_SEARCH_URL=searching.url, MESHAPI_SEARCH_KEY=searching.create_key(OWNER)
        )
    finally:
        tavily.stop()
    # The free fake model is the cheapest chat model of the seed catalog.
    assert r["router_select"] == {"model": "fake/free-echo", "fallback_used": False}
    assert r["web_search_unconfigured"]["status"] == 400
    assert r["web_search_unconfigured"]["error_code"] == "not_configured"
    assert r["web_search"] == {
        "provider": "tavily",
        "urls": ["https://example.org/0", "https://example.org/1"],
        "titles": ["Result 0 for weather in Paris", "Result 1 for weather in Paris"],
        "request_id": True,
    }
    assert r["models"] == {
        "get": "openai/gpt-4o-mini",
        "brand": "openai",
        "items": ["openai/gpt-4o", "openai/gpt-4o-mini"],
        "total": 4,
        "limit": 2,
        "brands": ["openai"],
    }
    assert r["models_get_missing"]["status"] == 404
