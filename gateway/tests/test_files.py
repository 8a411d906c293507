"""Files: the seed's JSON upload, OpenAI's multipart upload, line checks, limits, listing and isolation."""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest
from gwtest.harness import FakeUpstream, Gateway, fake_models, start_gateway


def chat_line(custom_id: str, text: str = "hi", model: str = "fake/echo") -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": model, "messages": [{"role": "user", "content": text}]},
    }


def jsonl(lines: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(x).encode() + b"\n" for x in lines)


@pytest.fixture(scope="module", params=["local", "database"])
def files_gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeUpstream
) -> Iterator[Gateway]:
    gw = start_gateway(
        tmp_path_factory.mktemp("files"),
        fake_openai.url,
        file_storage=request.param,
        max_file_bytes=64 * 1024,
        models=fake_models(fake_openai.url),
    )
    yield gw
    gw.server.stop()


@pytest.fixture(scope="module")
def alice(files_gateway: Gateway) -> str:
    return files_gateway.create_key("alice")


def test_json_upload_roundtrip(files_gateway: Gateway, alice: str) -> None:
    requests = [
        {"custom_id": "req-1", "body": {"model": "fake/echo", "messages": [{"role": "user", "content": "a"}]}},
        {"custom_id": "req-2", "body": {"model": "fake/echo", "messages": [{"role": "user", "content": "b"}]}},
    ]
    with files_gateway.client(alice) as c:
        r = c.post("/v1/files", json={"purpose": "batch", "requests": requests})
        assert r.status_code == 200, r.text
        f = r.json()
        assert f["object"] == "file" and f["purpose"] == "batch" and f["id"].startswith("file-")
        assert f["bytes"] > 0 and isinstance(f["created_at"], int)
        got = c.get(f"/v1/files/{f['id']}")
        assert got.status_code == 200 and got.json()["id"] == f["id"]
        content = c.get(f"/v1/files/{f['id']}/content", headers={"accept": "application/json"})
        assert content.status_code == 200
        lines = [json.loads(x) for x in content.content.splitlines()]
        assert [x["custom_id"] for x in lines] == ["req-1", "req-2"]
        assert lines[0]["url"] == "/v1/chat/completions" and lines[0]["method"] == "POST"
        assert len(content.content) == f["bytes"]
        d = c.delete(f"/v1/files/{f['id']}")
        assert d.status_code == 204 and d.content == b""
        gone = c.get(f"/v1/files/{f['id']}")
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "file_not_found"


def test_multipart_upload_with_openai_client(files_gateway: Gateway, alice: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=files_gateway.url + "/v1", api_key=alice, max_retries=0)
    data = jsonl([chat_line(f"q{i}", f"text {i}") for i in range(50)])
    f = client.files.create(file=("input.jsonl", data), purpose="batch")
    assert f.filename == "input.jsonl" and f.bytes == len(data)
    assert client.files.retrieve(f.id).id == f.id
    assert client.files.content(f.id).content == data
    listed = [x.id for x in client.files.list()]
    assert f.id in listed
    client.files.delete(f.id)
    assert f.id not in [x.id for x in client.files.list()]


def test_bad_lines_are_listed_and_nothing_is_stored(files_gateway: Gateway, alice: str) -> None:
    lines = [
        json.dumps(chat_line("ok-1")).encode(),
        b"{not json",
        json.dumps(
            {
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": "fake/echo", "messages": [{"role": "user", "content": "x"}]},
            }
        ).encode(),
        json.dumps(chat_line("ok-1")).encode(),
        json.dumps({**chat_line("u"), "url": "/v1/images/generations"}).encode(),
        json.dumps({"custom_id": "m", "url": "/v1/chat/completions", "body": {"messages": []}}).encode(),
        json.dumps(chat_line("unk", model="nope/unknown")).encode(),
        json.dumps({**chat_line("hot"), "body": {**chat_line("hot")["body"], "temperature": 5}}).encode(),
    ]
    with files_gateway.client(alice) as c:
        before = c.get("/v1/files").json()["data"]
        r = c.post("/v1/files", files={"file": ("bad.jsonl", b"\n".join(lines))}, data={"purpose": "batch"})
        assert r.status_code == 400, r.text
        err = r.json()["error"]
        assert err["code"] == "invalid_batch_file"
        by_line = {d["line"]: d["type"] for d in err["details"]}
        assert by_line == {
            2: "invalid_json",
            3: "missing_custom_id",
            4: "duplicate_custom_id",
            5: "unsupported_url",
            6: "missing_model",
            7: "model_not_found",
            8: "invalid_body",
        }
        assert err["details"][-1]["field"] == "body.temperature"  # the live endpoint's own field rules
        after = c.get("/v1/files").json()["data"]
        assert after == before
        # The seed's JSON form is checked the same way (line = position in ``requests``).
        r = c.post(
            "/v1/files",
            json={
                "purpose": "batch",
                "requests": [
                    {"custom_id": "a", "body": {"model": "fake/echo", "messages": [{"role": "user", "content": "x"}]}},
                    {"custom_id": "a", "body": {"messages": [{"role": "user", "content": "x"}]}},
                ],
            },
        )
        assert r.status_code == 400
        assert [(d["line"], d["type"]) for d in r.json()["error"]["details"]] == [
            (2, "duplicate_custom_id"),
            (2, "missing_model"),
        ]
        empty = c.post("/v1/files", json={"purpose": "batch", "requests": []})
        assert empty.status_code == 400 and empty.json()["error"]["code"] == "invalid_batch_file"


def test_size_limit_is_413(files_gateway: Gateway, alice: str) -> None:
    big = jsonl([chat_line(f"id-{i}", "x" * 500) for i in range(200)])  # > 64 KiB
    with files_gateway.client(alice) as c:
        r = c.post("/v1/files", files={"file": ("big.jsonl", big)}, data={"purpose": "batch"})
        assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"

        def chunked() -> Iterator[bytes]:  # no Content-Length: the limit still holds while reading
            for i in range(0, len(big), 4096):
                yield big[i : i + 4096]

        r = c.post("/v1/files", content=chunked(), headers={"content-type": "application/json"})
        assert r.status_code == 413


def test_rag_upload_shape_is_not_implemented(files_gateway: Gateway, alice: str) -> None:
    with files_gateway.client(alice) as c:
        r = c.post("/v1/files", json={"file_name": "doc.pdf", "mime_type": "application/pdf"})
    assert r.status_code == 501 and r.json()["error"]["code"] == "not_implemented"


def test_files_are_owner_scoped_and_paginated(files_gateway: Gateway, alice: str) -> None:
    bob = files_gateway.create_key("bob")
    with files_gateway.client(alice) as a, files_gateway.client(bob) as b:
        ids = []
        for i in range(3):
            r = a.post("/v1/files", json={"purpose": "batch", "requests": [chat_line(f"p{i}")]})
            ids.append(r.json()["id"])
        for path in (f"/v1/files/{ids[0]}", f"/v1/files/{ids[0]}/content"):
            r = b.get(path)
            assert r.status_code == 404 and r.json()["error"]["code"] == "file_not_found"
        assert b.delete(f"/v1/files/{ids[0]}").status_code == 404
        assert all(f["id"] not in ids for f in b.get("/v1/files").json()["data"])
        page = a.get("/v1/files", params={"limit": 2}).json()
        assert page["has_more"] is True and len(page["data"]) == 2
        assert page["data"][0]["id"] == ids[2] and page["first_id"] == ids[2] and page["last_id"] == ids[1]
        rest = a.get("/v1/files", params={"limit": 2, "after": page["last_id"]}).json()
        assert rest["data"][0]["id"] == ids[0]
        assert a.get("/v1/files", headers={"authorization": "Bearer rsk_bad"}).status_code == 401


def test_missing_bytes_are_a_clean_404(files_gateway: Gateway, alice: str) -> None:
    with files_gateway.client(alice) as c:
        f = c.post("/v1/files", json={"purpose": "batch", "requests": [chat_line("gone")]}).json()
        if files_gateway.settings.file_storage != "local":
            pytest.skip("only a local folder can lose a file behind the gateway's back")
        (files_gateway.settings.data_dir / "files" / f["id"]).unlink()
        r = c.get(f"/v1/files/{f['id']}/content")
        assert r.status_code == 404 and r.json()["error"]["code"] == "file_not_found"
