"""The resource methods' keyword parameters are visible to a type checker (typed_usage.py under mypy --strict)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
from meshapi_testdata import COMPLETION
from scripted_server import ScriptedServer, json_reply

import meshapi
from meshapi import NOT_GIVEN, AsyncMeshAPI, ChatCompletionParams, ChatMessage, MeshAPI

ROOT = Path(__file__).resolve().parents[2]
USAGE = Path(__file__).with_name("typed_usage.py")


def test_usage_file_type_checks_and_every_mistake_is_an_error() -> None:
    api = pytest.importorskip("mypy.api")
    # The repository's mypy settings (strict: an unused "type: ignore" mark is an error),
    # as the oldest Python mypy still checks for.
    out, err, status = api.run(
        ["--config-file", str(ROOT / "pyproject.toml"), "--python-version", "3.10", "--no-incremental", str(USAGE)]
    )
    assert status == 0, out + err
    assert out.startswith("Success"), out


# Every method that takes a params object, with the params class whose fields it spells out.
TYPED_METHODS = [
    ("chat.completions", "create", meshapi.ChatCompletionParams),
    ("chat.completions", "stream", meshapi.ChatCompletionParams),
    ("responses", "create", meshapi.ResponsesParams),
    ("responses", "stream", meshapi.ResponsesParams),
    ("embeddings", "create", meshapi.EmbeddingsParams),
    ("compare", "create", meshapi.CompareParams),
    ("compare", "stream", meshapi.CompareParams),
    ("files", "upload", meshapi.UploadBatchFileParams),
    ("batches", "create", meshapi.CreateBatchParams),
    ("templates", "create", meshapi.CreateTemplateParams),
    ("templates", "update", meshapi.UpdateTemplateParams),
    ("router", "select", meshapi.RouterSelectParams),
    ("web", "search", meshapi.WebSearchParams),
]
OPTIONS = {"extra_headers", "extra_query", "extra_body", "timeout"}


def _method(client: Any, path: str, name: str) -> Any:
    resource = client
    for attr in path.split("."):
        resource = getattr(resource, attr)
    return getattr(resource, name)


@pytest.mark.parametrize(("path", "name", "params_cls"), TYPED_METHODS)
def test_every_params_field_is_a_typed_keyword(path: str, name: str, params_cls: Any) -> None:
    """The signatures (what IDEs and help() show) list exactly the fields of the params model."""
    with MeshAPI(base_url="http://127.0.0.1:9", token="rsk_test") as client:
        async_client = AsyncMeshAPI(base_url="http://127.0.0.1:9", token="rsk_test")
        for method in (_method(client, path, name), _method(async_client, path, name)):
            parameters = inspect.signature(method).parameters
            keywords = {n for n, p in parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
            fields = set(params_cls.model_fields) - ({"stream"} if name == "stream" else set())
            assert keywords == fields | OPTIONS
            assert all(parameters[n].default is NOT_GIVEN for n in fields)
            assert all(parameters[n].annotation != "Any" for n in keywords)
        assert inspect.iscoroutinefunction(_method(async_client, path, name)) == (name != "stream")


def test_not_given_keeps_the_params_value_and_none_clears_it(client: MeshAPI, server: ScriptedServer) -> None:
    server.on("POST", "/v1/chat/completions", json_reply(200, COMPLETION))
    params = ChatCompletionParams(model="m", messages=[ChatMessage(role="user", content="hi")], temperature=0.7)
    client.chat.completions.create(params, temperature=NOT_GIVEN, seed=NOT_GIVEN)
    client.chat.completions.create(params, temperature=None, seed=3)
    kept, cleared = (r.json() for r in server.requests)
    assert kept["temperature"] == 0.7 and "seed" not in kept
    assert "temperature" not in cleared and cleared["seed"] == 3
    assert params.temperature == 0.7  # the caller's object is not changed


def test_a_body_field_named_params_is_a_keyword_too(client: MeshAPI, server: ScriptedServer) -> None:
    server.on("POST", "/v1/templates", json_reply(200, {"id": "t1", "name": "t"}))
    client.templates.create(name="t", params={"temperature": 0.1}, timeout=5.0)
    client.templates.create({"name": "t"}, params={"top_p": 0.5})
    assert server.requests[0].json() == {"name": "t", "params": {"temperature": 0.1}}
    assert server.requests[1].json() == {"name": "t", "params": {"top_p": 0.5}}


async def test_async_misspelled_keyword_names_the_right_one(aclient: AsyncMeshAPI) -> None:
    with pytest.raises(TypeError, match=r"create\(\) got an unexpected keyword argument 'max_token'; did you mean"):
        await aclient.chat.completions.create(model="m", messages=[], max_token=5)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"search\(\) .*'querry'; did you mean 'query'"):
        await aclient.web.search(querry="x")  # type: ignore[call-arg]
    await aclient.close()
