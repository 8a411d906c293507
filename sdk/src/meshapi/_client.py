"""``MeshAPI`` and ``AsyncMeshAPI``: configuration plus lazily created resources.

Resource modules (and the pydantic types they pull in) are imported the first
time a resource is touched (:class:`_Resource` caches the object in the
instance, so later accesses are a plain attribute lookup), so
``from meshapi import MeshAPI`` costs little more than importing httpx.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Generic, Mapping, Optional, Type, TypeVar, Union, overload

import httpx

from ._base_client import AsyncTransport, SyncTransport
from ._config import Settings, resolve_config

if TYPE_CHECKING:
    from ._config_model import MeshAPIConfig
    from .resources.balance import AsyncBalance, Balance
    from .resources.batches import AsyncBatches, Batches
    from .resources.chat import AsyncChat, Chat
    from .resources.compare import AsyncCompare, Compare
    from .resources.embeddings import AsyncEmbeddings, Embeddings
    from .resources.files import AsyncFiles, Files
    from .resources.keys import AsyncKeys, Keys
    from .resources.logs import AsyncLogs, Logs
    from .resources.models import AsyncModels, Models
    from .resources.responses import AsyncResponses, Responses
    from .resources.router import AsyncRouter, Router
    from .resources.teams import AsyncTeams, Teams
    from .resources.templates import AsyncTemplates, Templates
    from .resources.usage import AsyncUsage, Usage
    from .resources.web import AsyncWeb, Web

__all__ = ["AsyncMeshAPI", "MeshAPI"]

_UNSET: Any = object()
R = TypeVar("R")


class _ClientBase:
    _settings: Settings
    # Narrowed by each client; ``_Resource`` only hands it to the resource class.
    _transport: Any

    @property
    def config(self) -> MeshAPIConfig:
        """The client's settings as a :class:`MeshAPIConfig`."""
        return self._settings.to_public()  # type: ignore[no-any-return]

    @property
    def base_url(self) -> str:
        return self._settings.base_url

    @property
    def max_retries(self) -> int:
        return self._settings.max_retries


class _Resource(Generic[R]):
    """A client attribute holding a resource, built on first access from ``module.name``.

    A non-data descriptor, like ``functools.cached_property``: the first access
    stores the resource in the instance ``__dict__``, which later lookups find
    first. Sync and async clients name their resource classes here only.
    """

    def __init__(self, module: str, name: str) -> None:
        self._module = module
        self._name = name
        self._attr = ""

    def __set_name__(self, owner: Type[Any], attr: str) -> None:
        self._attr = attr

    @overload
    def __get__(self, client: None, owner: Type[Any]) -> _Resource[R]: ...

    @overload
    def __get__(self, client: _ClientBase, owner: Type[Any]) -> R: ...

    def __get__(self, client: Optional[_ClientBase], owner: Type[Any]) -> Union[R, _Resource[R]]:
        if client is None:
            return self
        resource_class = getattr(importlib.import_module(self._module, __package__), self._name)
        resource: R = resource_class(client._transport)
        client.__dict__[self._attr] = resource
        return resource


def _timeout_given(timeout: Any, config: Optional[MeshAPIConfig], base_url: Any) -> bool:
    """Whether the caller chose a timeout (else an injected httpx client keeps its own)."""
    return timeout is not _UNSET or config is not None or not isinstance(base_url, (str, type(None)))


def _resolve(
    base_url: Union[str, MeshAPIConfig, None],
    token: Optional[str],
    timeout: Any,
    max_retries: Optional[int],
    config: Optional[MeshAPIConfig],
) -> Settings:
    if base_url is not None and not isinstance(base_url, str):
        config, base_url = base_url, None
    return resolve_config(base_url, token, None if timeout is _UNSET else timeout, max_retries, config)


class MeshAPI(_ClientBase):
    """Synchronous client.

    ``base_url`` (no ``/v1``) and ``token`` come from the arguments or from
    ``MESHAPI_BASE_URL`` / ``MESHAPI_API_KEY``.
    """

    chat: _Resource[Chat] = _Resource(".resources.chat", "Chat")
    responses: _Resource[Responses] = _Resource(".resources.responses", "Responses")
    embeddings: _Resource[Embeddings] = _Resource(".resources.embeddings", "Embeddings")
    compare: _Resource[Compare] = _Resource(".resources.compare", "Compare")
    files: _Resource[Files] = _Resource(".resources.files", "Files")
    batches: _Resource[Batches] = _Resource(".resources.batches", "Batches")
    models: _Resource[Models] = _Resource(".resources.models", "Models")
    templates: _Resource[Templates] = _Resource(".resources.templates", "Templates")
    router: _Resource[Router] = _Resource(".resources.router", "Router")
    web: _Resource[Web] = _Resource(".resources.web", "Web")
    logs: _Resource[Logs] = _Resource(".resources.logs", "Logs")
    keys: _Resource[Keys] = _Resource(".resources.keys", "Keys")
    teams: _Resource[Teams] = _Resource(".resources.teams", "Teams")
    usage: _Resource[Usage] = _Resource(".resources.usage", "Usage")
    balance: _Resource[Balance] = _Resource(".resources.balance", "Balance")

    def __init__(
        self,
        base_url: Union[str, MeshAPIConfig, None] = None,
        token: Optional[str] = None,
        timeout: Union[float, httpx.Timeout] = _UNSET,
        max_retries: Optional[int] = None,
        httpx_client: Optional[httpx.Client] = None,
        *,
        config: Optional[MeshAPIConfig] = None,
        default_headers: Optional[Mapping[str, str]] = None,
    ) -> None:
        self._settings = _resolve(base_url, token, timeout, max_retries, config)
        self._transport = SyncTransport(
            self._settings,
            httpx_client,
            timeout_given=_timeout_given(timeout, config, base_url),
            default_headers=default_headers,
        )

    def close(self) -> None:
        """Close the connection pool (an injected ``httpx_client`` is left open)."""
        self._transport.close()

    def __enter__(self) -> MeshAPI:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncMeshAPI(_ClientBase):
    """Asynchronous client; same surface as :class:`MeshAPI`, methods are awaited."""

    chat: _Resource[AsyncChat] = _Resource(".resources.chat", "AsyncChat")
    responses: _Resource[AsyncResponses] = _Resource(".resources.responses", "AsyncResponses")
    embeddings: _Resource[AsyncEmbeddings] = _Resource(".resources.embeddings", "AsyncEmbeddings")
    compare: _Resource[AsyncCompare] = _Resource(".resources.compare", "AsyncCompare")
    files: _Resource[AsyncFiles] = _Resource(".resources.files", "AsyncFiles")
    batches: _Resource[AsyncBatches] = _Resource(".resources.batches", "AsyncBatches")
    models: _Resource[AsyncModels] = _Resource(".resources.models", "AsyncModels")
    templates: _Resource[AsyncTemplates] = _Resource(".resources.templates", "AsyncTemplates")
    router: _Resource[AsyncRouter] = _Resource(".resources.router", "AsyncRouter")
    web: _Resource[AsyncWeb] = _Resource(".resources.web", "AsyncWeb")
    logs: _Resource[AsyncLogs] = _Resource(".resources.logs", "AsyncLogs")
    keys: _Resource[AsyncKeys] = _Resource(".resources.keys", "AsyncKeys")
    teams: _Resource[AsyncTeams] = _Resource(".resources.teams", "AsyncTeams")
    usage: _Resource[AsyncUsage] = _Resource(".resources.usage", "AsyncUsage")
    balance: _Resource[AsyncBalance] = _Resource(".resources.balance", "AsyncBalance")

    def __init__(
        self,
        base_url: Union[str, MeshAPIConfig, None] = None,
        token: Optional[str] = None,
        timeout: Union[float, httpx.Timeout] = _UNSET,
        max_retries: Optional[int] = None,
        async_httpx_client: Optional[httpx.AsyncClient] = None,
        *,
        config: Optional[MeshAPIConfig] = None,
        default_headers: Optional[Mapping[str, str]] = None,
    ) -> None:
        self._settings = _resolve(base_url, token, timeout, max_retries, config)
        self._transport = AsyncTransport(
            self._settings,
            async_httpx_client,
            timeout_given=_timeout_given(timeout, config, base_url),
            default_headers=default_headers,
        )

    async def close(self) -> None:
        """Close the connection pool (an injected ``async_httpx_client`` is left open)."""
        await self._transport.close()

    async def __aenter__(self) -> AsyncMeshAPI:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
