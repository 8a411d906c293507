"""``serve --ssl-certfile/--ssl-keyfile``: the gateway speaks HTTPS itself.

A certificate authority made by the test signs the server's certificate; the SDK, the
openai client and httpx trust it through ``verify=`` and get answers over TLS, a client that
does not trust it is refused by its own TLS check, and plain HTTP to the TLS port gets no
answer. One of the two files alone is a configuration error at start, named.
"""

from __future__ import annotations

import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import httpx
import openai
import pytest
from gwtest.gateway_process import GatewayProcess
from gwtest.harness import FakeUpstream
from gwtest.tls import TLSFiles, make_tls_files
from meshapi import ChatCompletionParams, ChatMessage, MeshAPI

ADMIN = "admin-" + "t" * 40


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_gateway(
    tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeUpstream, tls_files: TLSFiles
) -> Iterator[tuple[GatewayProcess, str]]:
    gp = GatewayProcess(
        tmp_path_factory.mktemp("gw"),
        fake_openai.url,
        admin_token=ADMIN,
        ssl_certfile=str(tls_files.cert),
        ssl_keyfile=str(tls_files.key),
    )
    gp.verify = ssl.create_default_context(cafile=str(tls_files.ca_cert))
    gp.start()
    try:
        r = httpx.post(
            gp.url + "/v1/keys",
            headers={"authorization": f"Bearer {ADMIN}"},
            json={"owner": "alice", "name": "tls"},
            verify=gp.verify,
        )
        assert r.status_code == 201, r.text
        yield gp, str(r.json()["key"])
    finally:
        gp.stop()


def test_the_sdk_talks_to_the_gateway_over_https(tls_gateway: tuple[GatewayProcess, str]) -> None:
    gp, key = tls_gateway
    assert gp.url.startswith("https://")
    with httpx.Client(verify=gp.verify) as http, MeshAPI(base_url=gp.url, token=key, httpx_client=http) as client:
        reply = client.chat.completions.create(
            ChatCompletionParams(model="fake/echo", messages=[ChatMessage(role="user", content="over tls")])
        )
        assert reply.choices[0].message.content is not None
        assert "over tls" in reply.choices[0].message.content
        with client.chat.completions.stream(
            ChatCompletionParams(model="fake/echo", messages=[ChatMessage(role="user", content="streamed over tls")])
        ) as stream:
            streamed = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
        assert "streamed over tls" in streamed


def test_the_openai_client_talks_to_the_gateway_over_https(tls_gateway: tuple[GatewayProcess, str]) -> None:
    gp, key = tls_gateway
    with httpx.Client(verify=gp.verify) as http:
        client = openai.OpenAI(base_url=gp.url + "/v1", api_key=key, http_client=http, max_retries=0)
        reply = client.chat.completions.create(model="fake/echo", messages=[{"role": "user", "content": "hello tls"}])
        assert "hello tls" in (reply.choices[0].message.content or "")
        assert [m.id for m in client.models.list() if m.id == "fake/echo"] == ["fake/echo"]


def test_a_client_that_does_not_trust_the_certificate_is_refused(tls_gateway: tuple[GatewayProcess, str]) -> None:
    gp, key = tls_gateway
    client = openai.OpenAI(base_url=gp.url + "/v1", api_key=key, max_retries=0)  # the system's trust store only
    with pytest.raises(openai.APIConnectionError) as caught:
        client.models.list()
    cause: Any = caught.value.__cause__
    while cause is not None and not isinstance(cause, ssl.SSLCertVerificationError):
        cause = cause.__cause__ or cause.__context__
    assert isinstance(cause, ssl.SSLCertVerificationError)


def test_plain_http_to_the_tls_port_gets_no_answer(tls_gateway: tuple[GatewayProcess, str]) -> None:
    gp, _ = tls_gateway
    with pytest.raises(httpx.HTTPError):
        httpx.get(gp.url.replace("https://", "http://") + "/health", timeout=5)


@pytest.mark.parametrize("given", ["ssl_certfile", "ssl_keyfile"])
def test_one_tls_file_without_the_other_is_refused_at_start(tmp_path: Path, tls_files: TLSFiles, given: str) -> None:
    path = {"ssl_certfile": tls_files.cert, "ssl_keyfile": tls_files.key}[given]
    flag = "--" + given.replace("_", "-")
    proc = subprocess.run(
        [sys.executable, "-m", "meshapi_gateway", "serve", "--data-dir", str(tmp_path), flag, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert proc.returncode == 2, proc.stderr
    assert "ssl_certfile and ssl_keyfile go together" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_missing_certificate_file_is_named_at_start(tmp_path: Path, tls_files: TLSFiles) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "meshapi_gateway",
            "serve",
            "--data-dir",
            str(tmp_path),
            "--ssl-certfile",
            str(tmp_path / "nope.pem"),
            "--ssl-keyfile",
            str(tls_files.key),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert proc.returncode == 2, proc.stderr
    assert f"ssl_certfile {tmp_path / 'nope.pem'} is not a readable file" in proc.stderr
