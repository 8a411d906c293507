"""``/openapi.json`` describes every route exactly, and a fuzzer driven by it finds no 5xx and no schema violation."""

from __future__ import annotations

import re
from typing import Any, Iterator

import httpx
import pytest
from gwtest.accounts_support import ADMIN
from gwtest.harness import FakeUpstream, Gateway, start_gateway

EXAMPLES = 25  # per operation and generation mode: about half a minute for the whole document


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeUpstream) -> Iterator[Gateway]:
    gw = start_gateway(tmp_path_factory.mktemp("openapi"), fake_openai.url, admin_token=ADMIN)
    yield gw
    gw.server.stop()


@pytest.fixture(scope="module")
def doc(api: Gateway) -> dict[str, Any]:
    with api.client() as c:
        r = c.get("/openapi.json")
    assert r.status_code == 200
    return dict(r.json())


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                yield v
            else:
                yield from _refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _refs(v)


@pytest.mark.parametrize("build", ["first", "again"])  # building the document must not change what it is built from
def test_every_ref_resolves_from_the_document_root(doc: dict[str, Any], build: str) -> None:
    if build == "again":
        from meshapi_gateway.api.openapi import document

        document()
        doc = document()
    refs = set(_refs(doc))
    assert refs
    for ref in refs:
        assert ref.startswith("#/"), ref
        node: Any = doc
        for part in ref[2:].split("/"):
            assert isinstance(node, dict) and part in node, f"unresolvable {ref}"
            node = node[part]


def test_every_path_parameter_is_declared(doc: dict[str, Any]) -> None:
    for path, ops in doc["paths"].items():
        names = set(re.findall(r"\{(\w+)\}", path))
        for method, op in ops.items():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == names, (method, path)
            assert all(p["required"] for p in op.get("parameters", []) if p["in"] == "path")


def test_every_route_is_documented_with_its_methods(api: Gateway, doc: dict[str, Any]) -> None:
    from meshapi_gateway.api.routes import routes

    for route in routes():
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)  # type: ignore[attr-defined]
        assert path in doc["paths"], path
        methods = {m.lower() for m in route.methods - {"HEAD"}}  # type: ignore[attr-defined]
        assert set(doc["paths"][path]) == methods, path
    for path in ("/v1/responses", "/v1/embeddings", "/v1/chat/compare"):
        assert "post" in doc["paths"][path]


@pytest.mark.parametrize(
    "path,method,status",
    [
        ("/v1/keys", "post", "201"),
        ("/v1/templates", "post", "201"),
        ("/v1/keys/{key_id}", "delete", "204"),
        ("/v1/templates/{template_id}", "delete", "204"),
        ("/v1/files/{file_id}", "delete", "204"),
    ],
)
def test_created_and_no_content_are_documented_as_such(
    doc: dict[str, Any], path: str, method: str, status: str
) -> None:
    responses = doc["paths"][path][method]["responses"]
    assert status in responses and "200" not in responses
    if status == "204":
        assert "content" not in responses["204"]


@pytest.mark.parametrize(
    "path,needs",
    [
        ("/v1/chat/completions", {"model", "models", "template"}),
        ("/v1/responses", {"model", "models", "template"}),
        ("/v1/embeddings", {"model", "models"}),
    ],
)
def test_a_model_is_required_where_the_route_needs_one(
    api: Gateway, doc: dict[str, Any], path: str, needs: set[str]
) -> None:
    schema = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    assert {tuple(alt["required"]) for alt in schema["anyOf"]} == {(n,) for n in needs}
    with api.client(api.create_key("openapi-model")) as c:
        r = c.post(path, json={"messages": [{"role": "user", "content": "hi"}], "input": "hi"})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["body", "model"], r.text


@pytest.mark.parametrize(
    "method,path,allowed",
    [
        ("DELETE", "/v1/keys", {"GET", "POST"}),
        ("PUT", "/v1/templates/abc", {"GET", "PATCH", "DELETE"}),
        ("PUT", "/v1/files", {"GET", "POST"}),
        ("POST", "/v1/files/file-x", {"GET", "DELETE"}),
        ("GET", "/v1/chat/completions", {"POST"}),
    ],
)
def test_405_allow_lists_every_method_of_the_path(api: Gateway, method: str, path: str, allowed: set[str]) -> None:
    with api.client() as c:
        r = c.request(method, path)
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    got = {m.strip() for m in r.headers["allow"].split(",")} - {"HEAD"}
    assert got == allowed


def _auth_for(api: Gateway, key: str, token: str, path: str) -> dict[str, str]:
    if path.startswith("/v1/admin"):
        return {"authorization": f"Bearer {ADMIN}"}
    if path.startswith(("/v1/keys", "/v1/templates")):
        return {"authorization": f"Bearer {token}"}
    return {"authorization": f"Bearer {key}"}


def _fuzz(api: Gateway, operation: Any, mode: Any, headers: dict[str, str]) -> None:
    """A bounded number of generated requests for one operation, each checked against the document."""
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    def run(case: Any) -> None:
        case.call_and_validate(
            base_url=api.url,
            headers=headers,
            timeout=30,
            checks=[not_a_server_error, response_schema_conformance, status_code_conformance],
        )

    run()


def test_schemathesis_finds_no_server_error_and_no_schema_violation(api: Gateway) -> None:
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis.errors import Unsatisfiable

    schema = schemathesis.openapi.from_url(api.url + "/openapi.json")
    key, token = api.create_key("fuzz"), api.token("fuzz")
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30
    for operation in operations:
        headers = _auth_for(api, key, token, operation.path)
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            try:
                _fuzz(api, operation, mode, headers)
            except Unsatisfiable:  # nothing to make invalid (an operation without parameters or body)
                continue
            except Exception as exc:  # every operation is tried; all failures are reported together
                failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {exc}"[:1500])
    assert not failures, "\n\n".join(failures)


def test_the_fuzzed_gateway_still_answers(api: Gateway) -> None:
    assert httpx.get(api.url + "/health").status_code == 200
