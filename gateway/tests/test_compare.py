"""``POST /v1/chat/compare``: fan-out, partial and total failure, the judge and its fallback, stream events."""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest
from gwtest.harness import FakeUpstream, Gateway, start_gateway
from meshapi import ChatMessage, CompareParams, MeshAPI, MeshAPIError

QUESTION = "Summarize this paragraph in one sentence: tea is good"


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeUpstream) -> Iterator[Gateway]:
    gateway = start_gateway(
        tmp_path_factory.mktemp("gw-compare"),
        fake_openai.url,
        compare_judge_model="fake/echo",
        compare_judge_fallbacks=["fake/free-echo"],
    )
    yield gateway
    gateway.server.stop()


@pytest.fixture(scope="module")
def key(gw: Gateway) -> str:
    return gw.create_key("cmp-owner")


@pytest.fixture
def sdk(gw: Gateway, key: str) -> MeshAPI:
    return MeshAPI(base_url=gw.url, token=key, max_retries=0)


def post(gw: Gateway, key: str, **body: Any) -> Any:
    with gw.client(key) as c:
        return c.post("/v1/chat/compare", json={"messages": [{"role": "user", "content": QUESTION}], **body})


def frames(text: str) -> list[tuple[str | None, Any]]:
    """(event line, parsed data) per frame; ``[DONE]`` stays a string."""
    assert "\r" not in text and text.endswith("\n\n")
    out = []
    for f in text.split("\n\n")[:-1]:
        name, data = None, None
        for line in f.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                raw = line[len("data: ") :]
                data = raw if raw == "[DONE]" else json.loads(raw)
        out.append((name, data))
    return out


def usage_rows(gw: Gateway, key: str, request_id: str) -> list[dict[str, Any]]:
    with gw.client(key) as c:
        r = c.get("/v1/usage", params={"request_id": request_id})
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()["data"]
    return rows


# --- non-streaming -----------------------------------------------------------------------------------------------


def test_create_fans_out_deduplicates_and_judges(sdk: MeshAPI, fake_openai: FakeUpstream) -> None:
    result = sdk.compare.create(
        CompareParams(
            models=["fake/echo", "fake/free-echo", "fake/echo"], messages=[ChatMessage(role="user", content=QUESTION)]
        )
    )
    assert result.comparison_id.startswith("cmp_") and len(result.comparison_id) == 24
    assert result.models == ["fake/echo", "fake/free-echo"]
    assert [r.model for r in result.results] == result.models
    for r in result.results:
        assert r.content == f"echo: {QUESTION}" and r.error is None and r.error_code is None
        assert isinstance(r.latency_ms, int) and r.usage is not None and r.usage.total_tokens
        assert r.request_id is not None and r.request_id.endswith("::" + r.model)
        assert r.response_body is not None and r.response_body["object"] == "chat.completion"
    assert result.partial is False and result.skip_comparison is False
    # The default judge (fake/echo) saw both answers in its prompt.
    assert result.comparison_model == "fake/echo" and result.comparison_fallback_used is False
    judge_prompt = fake_openai.recorder.last()["body"]["messages"][-1]["content"]
    assert "Answer from fake/echo" in judge_prompt and "Answer from fake/free-echo" in judge_prompt
    assert result.comparison == "echo: " + judge_prompt
    assert isinstance(result.total_latency_ms, int)


def test_every_call_is_billed_as_compare(gw: Gateway, key: str) -> None:
    r = post(gw, key, models=["fake/echo", "fake/free-echo"])
    assert r.status_code == 200, r.text
    request_id = r.headers["x-request-id"]
    for suffix in ("fake/echo", "fake/free-echo", "judge"):
        rows = usage_rows(gw, key, f"{request_id}::{suffix}")
        assert len(rows) == 1 and rows[0]["kind"] == "compare", suffix
    assert (
        usage_rows(gw, key, f"{request_id}::fake/echo")[0]["prompt_tokens"]
        == r.json()["results"][0]["usage"]["prompt_tokens"]
    )


def test_partial_when_one_model_fails(gw: Gateway, key: str) -> None:
    r = post(gw, key, models=["fake/echo", "fake/fail-401", "nope/unknown"], skip_comparison=True)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["partial"] is True and data["comparison"] is None
    ok, failed, unknown = data["results"]
    assert ok["content"] == f"echo: {QUESTION}"
    assert failed["error_code"] == "upstream_error" and "scripted failure 401" in failed["error"]
    assert unknown["error_code"] == "model_not_found" and unknown["content"] is None


def test_all_failed_is_502_with_details(sdk: MeshAPI) -> None:
    with pytest.raises(MeshAPIError) as info:
        sdk.compare.create(
            CompareParams(models=["fake/fail-401", "nope/unknown"], messages=[ChatMessage(role="user", content="x")])
        )
    err = info.value
    assert err.status == 502 and err.error_code == "all_models_failed"
    assert [d["model"] for d in err.details] == ["fake/fail-401", "nope/unknown"]
    assert [d["code"] for d in err.details] == ["upstream_error", "model_not_found"]


def test_every_model_unknown_is_404_model_not_found_naming_each(gw: Gateway, key: str, sdk: MeshAPI) -> None:
    """The client's own mistake, not a gateway failure: the status says so (a 5xx would invite a retry)."""
    with pytest.raises(MeshAPIError) as info:
        sdk.compare.create(
            CompareParams(models=["nope/one", "nope/two"], messages=[ChatMessage(role="user", content="x")])
        )
    err = info.value
    assert err.status == 404 and err.error_code == "model_not_found"
    assert "nope/one" in err.message and "nope/two" in err.message
    assert [d["model"] for d in err.details] == ["nope/one", "nope/two"]
    r = post(gw, key, models=["nope/one", "nope/two"], stream=True)
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found", r.text


def test_judge_fallback(gw: Gateway, key: str) -> None:
    r = post(
        gw,
        key,
        models=["fake/echo", "fake/free-echo"],
        comparison_model="fake/fail-401",
        comparison_instructions="Pick the shortest.",
    )
    data = r.json()
    assert data["comparison_fallback_used"] is True and data["comparison_model"] == "fake/free-echo"
    assert data["comparison"].startswith("echo: ")


def test_judge_runs_only_with_two_answers_and_not_when_skipped(
    gw: Gateway, key: str, fake_openai: FakeUpstream
) -> None:
    before = len(fake_openai.recorder.requests)
    one = post(gw, key, models=["fake/echo", "fake/fail-401"]).json()
    skipped = post(gw, key, models=["fake/echo", "fake/free-echo"], skip_comparison=True).json()
    assert one["comparison"] is None and skipped["comparison"] is None and skipped["skip_comparison"] is True
    assert len(fake_openai.recorder.requests) - before == 4  # four model calls, no judge


def test_model_overrides_and_shared_parameters(gw: Gateway, key: str, fake_openai: FakeUpstream) -> None:
    fake_openai.recorder.clear()
    r = post(
        gw,
        key,
        models=["fake/echo", "fake/free-echo"],
        temperature=0.3,
        max_tokens=50,
        skip_comparison=True,
        model_overrides=[
            {"model": "fake/free-echo", "temperature": 1.5, "max_tokens": 9, "system_prompt": "Be terse."}
        ],
    )
    assert r.status_code == 200
    sent = {q["body"]["model"]: q["body"] for q in fake_openai.recorder.requests}
    assert len(sent) == 1  # both fake models have the same upstream name: tell them apart by their params
    bodies = [q["body"] for q in fake_openai.recorder.requests]
    plain = next(b for b in bodies if b["temperature"] == 0.3)
    over = next(b for b in bodies if b["temperature"] == 1.5)
    assert plain["max_tokens"] == 50 and plain["messages"] == [{"role": "user", "content": QUESTION}]
    assert over["max_tokens"] == 9 and over["messages"][0] == {"role": "system", "content": "Be terse."}


def test_template_and_variables(gw: Gateway, key: str, fake_openai: FakeUpstream) -> None:
    with gw.client(gw.token("cmp-owner")) as ctrl:
        made = ctrl.post(
            "/v1/templates", json={"name": "cmp-tpl", "system": "You work for {{company}}.", "variables": ["company"]}
        )
    assert made.status_code in (200, 201), made.text
    fake_openai.recorder.clear()
    r = post(
        gw,
        key,
        models=["fake/echo", "fake/free-echo"],
        template="cmp-tpl",
        variables={"company": "Acme"},
        skip_comparison=True,
    )
    assert r.status_code == 200, r.text
    for q in fake_openai.recorder.requests:
        assert q["body"]["messages"][0] == {"role": "system", "content": "You work for Acme."}
    assert post(gw, key, models=["fake/echo"], template="cmp-tpl").status_code == 422  # variable missing


@pytest.mark.parametrize(
    "body,field",
    [
        ({"models": []}, "models"),
        ({"models": [f"fake/m{i}" for i in range(9)]}, "models"),
        ({"models": ["fake/echo"], "comparison_model": "nope/judge"}, "comparison_model"),
        ({"models": ["fake/echo"], "model_overrides": [{"model": "fake/echo", "temperature": 5}]}, "model_overrides"),
    ],
)
def test_bad_requests_are_422(gw: Gateway, key: str, body: dict[str, Any], field: str) -> None:
    for stream in (False, True):
        r = post(gw, key, stream=stream, **body)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["details"][0]["loc"][:2] == ["body", field]
    with gw.client(key) as c:
        assert c.post("/v1/chat/compare", json={"models": ["fake/echo"]}).status_code == 422  # no messages


def test_duplicates_do_not_count_against_the_limit(gw: Gateway, key: str) -> None:
    r = post(gw, key, models=["fake/echo"] * 12, skip_comparison=True)
    assert r.status_code == 200 and r.json()["models"] == ["fake/echo"]


# --- streaming -----------------------------------------------------------------------------------------------------


def test_readme_stream_loop_prints_text(sdk: MeshAPI, capsys: pytest.CaptureFixture[str]) -> None:
    stream = sdk.compare.stream(
        CompareParams(
            models=["fake/echo", "fake/free-echo"], messages=[ChatMessage(role="user", content=QUESTION)], stream=True
        )
    )
    for event in stream:
        if event.event == "delta":
            print(event.data)
    printed = capsys.readouterr().out
    assert "'delta': 'echo:'" in printed and "'model': 'fake/free-echo'" in printed


def test_stream_event_order_per_model_and_shapes(gw: Gateway, key: str) -> None:
    r = post(gw, key, models=["fake/echo", "fake/free-echo", "fake/fail-401"], stream=True)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert r.content.isascii()
    got = frames(r.text)
    assert got[-1] == (None, "[DONE]")
    events = got[:-1]
    for name, data in events:
        assert name == data["event"] and isinstance(data["data"], dict)
        assert "error" not in data  # per-model failures are data, never a top-level error key
    names = [n for n, _ in events]
    assert names[0] == "meta" and names[-1] == "done"
    assert events[0][1]["data"]["models"] == ["fake/echo", "fake/free-echo", "fake/fail-401"]
    for model in ("fake/echo", "fake/free-echo"):
        positions = [i for i, (n, d) in enumerate(events) if d.get("model") == model or d["data"].get("model") == model]
        kinds = [events[i][0] for i in positions]
        assert kinds[-1] == "model_done" and set(kinds[:-1]) == {"delta"}
        text = "".join(events[i][1]["data"]["delta"] for i in positions[:-1])
        done = events[positions[-1]][1]
        assert text == f"echo: {QUESTION}" == done["data"]["content"]
        assert done["data"]["usage"]["completion_tokens"] > 0 and done["data"]["error"] is None
        assert events[positions[1]][1]["delta"] == events[positions[1]][1]["data"]["delta"]  # flat copy
    failed = next(d for n, d in events if n == "model_done" and d["model"] == "fake/fail-401")
    assert failed["data"]["error_code"] == "upstream_error" and "401" in failed["data"]["error"]
    assert failed["error_code"] == "upstream_error"
    # Judge after every model, then done.
    first_judge = names.index("comparison_delta")
    assert first_judge > max(i for i, n in enumerate(names) if n == "model_done")
    assert names[-2] == "comparison_done"
    judged = "".join(d["data"]["delta"] for n, d in events if n == "comparison_delta")
    assert judged == events[-2][1]["data"]["comparison"] and judged.startswith("echo: ")
    done = events[-1][1]
    assert done["partial"] is True and done["comparison_id"].startswith("cmp_")
    assert done["data"]["comparison_model"] == "fake/echo" and isinstance(done["total_latency_ms"], int)


def test_stream_skip_comparison_has_no_judge(gw: Gateway, key: str) -> None:
    names = [
        n
        for n, _ in frames(
            post(gw, key, models=["fake/echo", "fake/free-echo"], stream=True, skip_comparison=True).text
        )
    ]
    assert "comparison_delta" not in names and "comparison_done" not in names and names[-2] == "done"


def test_stream_mid_stream_failure_is_per_model(gw: Gateway, key: str) -> None:
    got = frames(
        post(
            gw,
            key,
            models=["fake/echo", "fake/cut-3"],
            stream=True,
            skip_comparison=True,
            messages=[{"role": "user", "content": "one two three four five"}],
        ).text
    )
    cut = next(d for n, d in got if n == "model_done" and d["model"] == "fake/cut-3")
    assert cut["data"]["error_code"] == "upstream_error" and cut["data"]["content"] == "echo: one two"
    assert got[-2][1]["partial"] is True


def test_stream_all_failed_before_any_token_is_http_502(gw: Gateway, key: str) -> None:
    r = post(gw, key, models=["fake/fail-401", "nope/unknown"], stream=True)
    assert r.status_code == 502 and r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert err["code"] == "all_models_failed" and {d["model"] for d in err["details"]} == {
        "fake/fail-401",
        "nope/unknown",
    }


def test_stream_judge_fallback(gw: Gateway, key: str) -> None:
    got = frames(
        post(gw, key, models=["fake/echo", "fake/free-echo"], stream=True, comparison_model="fake/fail-401").text
    )
    judged = next(d for n, d in got if n == "comparison_done")
    assert judged["data"]["comparison_model"] == "fake/free-echo" and judged["comparison_fallback_used"] is True
    assert got[-2][1]["comparison_fallback_used"] is True
