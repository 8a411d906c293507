"""``MeshAPI`` and ``AsyncMeshAPI``: configuration plus lazily created resources.

Resource modules (and the pydantic types they pull in) are imported the first
time a resource is touched, so ``from meshapi import MeshAPI`` costs little
more than importing httpx and pydantic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Optional, Union

import httpx

from ._base_client import AsyncTransport, SyncTransport
from ._config import Settings, resolve_config

if TYPE_CHECKING:
    from ._config_model import MeshAPIConfig
    from .resources.batches import AsyncBatches, Batches
    from .resources.chat import AsyncChat, Chat
    from .resources.compare import AsyncCompare, Compare
    from .resources.embeddings import AsyncEmbeddings, Embeddings
    from .resources.files import AsyncFiles, Files
    from .resources.models import AsyncModels, Models
    from .resources.responses import AsyncResponses, Responses
    from .resources.templates import AsyncTemplates, Templates

__all__ = ["AsyncMeshAPI", "MeshAPI"]

_UNSET: Any = object()


class _ClientBase:
    _settings: Settings

    def _lazy(self, name: str, factory: Any) -> Any:
        # Cache in the instance dict; the property is only hit the first time
        # because instance attributes do not shadow properties, so keep it cheap.
        cache = self.__dict__.setdefault("_resources", {})
        resource = cache.get(name)
        if resource is None:
            resource = cache[name] = factory(self._transport)  # type: ignore[attr-defined]
        return resource

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
            timeout_given=timeout is not _UNSET or config is not None or not isinstance(base_url, (str, type(None))),
            default_headers=default_headers,
        )

    @property
    def chat(self) -> Chat:
        from .resources.chat import Chat

        return self._lazy("chat", Chat)  # type: ignore[no-any-return]

    @property
    def responses(self) -> Responses:
        from .resources.responses import Responses

        return self._lazy("responses", Responses)  # type: ignore[no-any-return]

    @property
    def embeddings(self) -> Embeddings:
        from .resources.embeddings import Embeddings

        return self._lazy("embeddings", Embeddings)  # type: ignore[no-any-return]

    @property
    def compare(self) -> Compare:
        from .resources.compare import Compare

        return self._lazy("compare", Compare)  # type: ignore[no-any-return]

    @property
    def files(self) -> Files:
        from .resources.files import Files

        return self._lazy("files", Files)  # type: ignore[no-any-return]

    @property
    def batches(self) -> Batches:
        from .resources.batches import Batches

        return self._lazy("batches", Batches)  # type: ignore[no-any-return]

    @property
    def models(self) -> Models:
        from .resources.models import Models

        return self._lazy("models", Models)  # type: ignore[no-any-return]

    @property
    def templates(self) -> Templates:
        from .resources.templates import Templates

        return self._lazy("templates", Templates)  # type: ignore[no-any-return]

    def close(self) -> None:
        """Close the connection pool (an injected ``httpx_client`` is left open)."""
        self._transport.close()

    def __enter__(self) -> MeshAPI:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncMeshAPI(_ClientBase):
    """Asynchronous client; same surface as :class:`MeshAPI`, methods are awaited."""

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
            timeout_given=timeout is not _UNSET or config is not None or not isinstance(base_url, (str, type(None))),
            default_headers=default_headers,
        )

    @property
    def chat(self) -> AsyncChat:
        from .resources.chat import AsyncChat

        return self._lazy("chat", AsyncChat)  # type: ignore[no-any-return]

    @property
    def responses(self) -> AsyncResponses:
        from .resources.responses import AsyncResponses

        return self._lazy("responses", AsyncResponses)  # type: ignore[no-any-return]

    @property
    def embeddings(self) -> AsyncEmbeddings:
        from .resources.embeddings import AsyncEmbeddings

        return self._lazy("embeddings", AsyncEmbeddings)  # type: ignore[no-any-return]

    @property
    def compare(self) -> AsyncCompare:
        from .resources.compare import AsyncCompare

        return self._lazy("compare", AsyncCompare)  # type: ignore[no-any-return]

    @property
    def files(self) -> AsyncFiles:
        from .resources.files import AsyncFiles

        return self._lazy("files", AsyncFiles)  # type: ignore[no-any-return]

    @property
    def batches(self) -> AsyncBatches:
        from .resources.batches import AsyncBatches

        return self._lazy("batches", AsyncBatches)  # type: ignore[no-any-return]

    @property
    def models(self) -> AsyncModels:
        from .resources.models import AsyncModels

        return self._lazy("models", AsyncModels)  # type: ignore[no-any-return]

    @property
    def templates(self) -> AsyncTemplates:
        from .resources.templates import AsyncTemplates

        return self._lazy("templates", AsyncTemplates)  # type: ignore[no-any-return]

    async def close(self) -> None:
        """Close the connection pool (an injected ``async_httpx_client`` is left open)."""
        await self._transport.close()

    async def __aenter__(self) -> AsyncMeshAPI:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
