"""Our SDK's ``router.select``, ``web.search``, ``models.get`` and ``models.search`` against a real gateway."""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Iterator

import pytest

from gwtest.harness import FakeUpstream, Gateway
from gwtest.server_thread import ServerThread
from gwtest.tavily_upstream import KEY, make_tavily_app
from meshapi import AsyncMeshAPI, BadRequestError, MeshAPI, NotFoundError, RouterSelectParams, ValidationError

USER = [{"role": "user", "content": "hi"}]
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}


def _catalog(base_url: str) -> list[dict[str, Any]]:
    common = {"provider": "openai_compat", "base_url": base_url, "api_key": "sk-fake", "upstream_model": "echo"}
    return [
        {
            "id": "s/cheap",
            "name": "Cheap",
            "prompt_usd_per_1m": "0.1",
            "completion_usd_per_1m": "0.1",
            "supports_tools": False,
            **common,
        },
        {
            "id": "s/tools",
            "name": "Tools",
            "prompt_usd_per_1m": "1",
            "completion_usd_per_1m": "1",
            "input_modalities": ["text", "image"],
            "context_length": 100000,
            **common,
        },
        {"id": "t/free", "name": "Free", "is_free": True, "supports_tools": False, "context_length": 1000, **common},
    ]


@pytest.fixture(scope="module")
def tavily_url() -> Iterator[str]:
    server = ServerThread(make_tavily_app([])).start()
    yield server.url
    server.stop()


@pytest.fixture
def gw(gateway_factory: Callable[..., Gateway], fake_openai: FakeUpstream, tavily_url: str) -> Gateway:
    return gateway_factory(
        models=_catalog(fake_openai.url),
        local_embeddings=False,
        web_search={"provider": "tavily", "base_url": tavily_url, "api_key": KEY},
    )


@pytest.fixture
def client(gw: Gateway) -> Iterator[MeshAPI]:
    with MeshAPI(base_url=gw.url, token=gw.create_key("sdk-extras"), max_retries=0) as c:
        yield c


def test_router_select_typed(client: MeshAPI) -> None:
    picked = client.router.select(messages=USER)
    assert picked.model == picked.resolved_model_id == "t/free"
    assert picked.auto_router.fallback_used is False
    with_tools = client.router.select(messages=USER, tools=[TOOL], exclude_models=["t/free"])
    assert with_tools.model == "s/tools"
    fates = {c.model: c.dropped for c in with_tools.candidates}
    assert fates == {"s/cheap": "no_tools", "s/tools": None, "t/free": "excluded"}
    # The 0.1.11 calling style (a params object) works too, keywords winning over it.
    legacy = client.router.select(RouterSelectParams(messages=USER), exclude_models=["t/free", "s/cheap"])
    assert legacy.model == "s/tools"
    with pytest.raises(TypeError):
        client.router.select(messages=USER, exclude=["t/free"])  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        client.router.select(messages=[])


def test_web_search_typed(client: MeshAPI, gateway: Gateway, key: str) -> None:
    found = client.web.search(query="meshapi", max_results=2, include_answer=True)
    assert found.provider == "tavily" and found.answer == "An answer about meshapi."
    assert [r.url for r in found.results] == ["https://example.org/0", "https://example.org/1"]
    assert found.results[0].score == 0.9 and found.request_id
    # A gateway without a search provider: a clean 400 the caller can tell apart.
    with MeshAPI(base_url=gateway.url, token=key, max_retries=0) as bare:
        with pytest.raises(BadRequestError) as err:
            bare.web.search(query="meshapi")
    assert err.value.error_code == "not_configured" and err.value.status == 400


def test_models_get_and_search_typed(client: MeshAPI) -> None:
    one = client.models.get("s/tools")
    assert one.id == "s/tools" and one.brand == "s" and one.supports_tools is True
    with pytest.raises(NotFoundError):
        client.models.get("s/none")
    page = client.models.search(input_modality=["text", "image"])
    assert [m.id for m in page.items] == ["s/tools"] and page.total == 1
    page = client.models.search(brand=["s", "t"], sort="context_length", order="desc", limit=2, offset=0)
    assert [m.id for m in page.items] == ["s/tools", "s/cheap"] and page.total == 3 and page.brands == ["s", "t"]
    assert [m.id for m in client.models.search(free=True).items] == ["t/free"]
    assert client.models.search(q="nothing-matches").total == 0


def test_async_client_has_the_same_calls(gw: Gateway) -> None:
    token = gw.create_key("sdk-async")

    async def run() -> tuple[str, int, str, str]:
        async with AsyncMeshAPI(base_url=gw.url, token=token, max_retries=0) as c:
            picked = await c.router.select(messages=USER, tools=[TOOL])
            found = await c.web.search(query="x", max_results=1)
            page = await c.models.search(q="cheap")
            one = await c.models.get("t/free")
            return picked.model, len(found.results), page.items[0].id, one.id

    assert asyncio.run(run()) == ("s/tools", 1, "s/cheap", "t/free")
