"""JWKS-verified control-plane tokens (RS256, ES256), and vision content parts passed through untouched."""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Iterator

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from gwtest.harness import FakeUpstream, Gateway
from gwtest.server_thread import ServerThread


@pytest.fixture(scope="module")
def signing_keys() -> dict[str, Any]:
    return {
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec": ec.generate_private_key(ec.SECP256R1()),
    }


@pytest.fixture(scope="module")
def jwks_url(signing_keys: dict[str, Any]) -> Iterator[str]:
    keys = []
    for kid, key, alg in (
        ("rsa-1", signing_keys["rsa"], jwt.algorithms.RSAAlgorithm),
        ("ec-1", signing_keys["ec"], jwt.algorithms.ECAlgorithm),
    ):
        jwk = json.loads(alg.to_jwk(key.public_key()))
        jwk.update({"kid": kid, "use": "sig"})
        keys.append(jwk)

    async def jwks(request: Any) -> JSONResponse:
        return JSONResponse({"keys": keys})

    server = ServerThread(Starlette(routes=[Route("/.well-known/jwks.json", jwks)])).start()
    yield server.url + "/.well-known/jwks.json"
    server.stop()


def _claims(owner: str) -> dict[str, Any]:
    return {"sub": owner, "aud": "authenticated", "exp": int(time.time()) + 300}


def test_rs256_and_es256_tokens_from_jwks(
    gateway_factory: Callable[..., Gateway], jwks_url: str, signing_keys: dict[str, Any]
) -> None:
    gw = gateway_factory(jwks_url=jwks_url)
    rs = jwt.encode(_claims("org-rs"), signing_keys["rsa"], algorithm="RS256", headers={"kid": "rsa-1"})
    es = jwt.encode(_claims("org-es"), signing_keys["ec"], algorithm="ES256", headers={"kid": "ec-1"})
    for token in (rs, es):
        with gw.client(token) as c:
            assert c.get("/v1/models").status_code == 200
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(_claims("org-rs"), stranger, algorithm="RS256", headers={"kid": "rsa-1"})
    with gw.client(forged) as c:
        r = c.get("/v1/models")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


def test_rs256_rejected_without_jwks(gateway: Gateway, signing_keys: dict[str, Any]) -> None:
    token = jwt.encode(_claims("x"), signing_keys["rsa"], algorithm="RS256", headers={"kid": "rsa-1"})
    with gateway.client(token) as c:
        assert c.get("/v1/models").status_code == 401


def test_vision_parts_reach_the_upstream_untouched(gateway: Gateway, key: str, fake_openai: FakeUpstream) -> None:
    content = [
        {"type": "text", "text": "What is in this image?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
    ]
    with gateway.client(key) as c:
        r = c.post(
            "/v1/chat/completions", json={"model": "fake/echo", "messages": [{"role": "user", "content": content}]}
        )
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["content"] == "echo: What is in this image?"
    assert fake_openai.recorder.last()["body"]["messages"][0]["content"] == content
