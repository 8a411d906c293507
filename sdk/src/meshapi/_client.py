"""``MeshAPI`` and ``AsyncMeshAPI``: configuration plus lazily created resources.

Resource modules (and the pydantic types they pull in) are imported the first
time a resource is touched (``cached_property``: later accesses are a plain
attribute lookup), so ``from meshapi import MeshAPI`` costs little more than
importing httpx.
"""

from __future__ import annotations

from functools import cached_property
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

    @cached_property
    def chat(self) -> Chat:
        from .resources.chat import Chat

        return Chat(self._transport)

    @cached_property
    def responses(self) -> Responses:
        from .resources.responses import Responses

        return Responses(self._transport)

    @cached_property
    def embeddings(self) -> Embeddings:
        from .resources.embeddings import Embeddings

        return Embeddings(self._transport)

    @cached_property
    def compare(self) -> Compare:
        from .resources.compare import Compare

        return Compare(self._transport)

    @cached_property
    def files(self) -> Files:
        from .resources.files import Files

        return Files(self._transport)

    @cached_property
    def batches(self) -> Batches:
        from .resources.batches import Batches

        return Batches(self._transport)

    @cached_property
    def models(self) -> Models:
        from .resources.models import Models

        return Models(self._transport)

    @cached_property
    def templates(self) -> Templates:
        from .resources.templates import Templates

        return Templates(self._transport)

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

    @cached_property
    def chat(self) -> AsyncChat:
        from .resources.chat import AsyncChat

        return AsyncChat(self._transport)

    @cached_property
    def responses(self) -> AsyncResponses:
        from .resources.responses import AsyncResponses

        return AsyncResponses(self._transport)

    @cached_property
    def embeddings(self) -> AsyncEmbeddings:
        from .resources.embeddings import AsyncEmbeddings

        return AsyncEmbeddings(self._transport)

    @cached_property
    def compare(self) -> AsyncCompare:
        from .resources.compare import AsyncCompare

        return AsyncCompare(self._transport)

    @cached_property
    def files(self) -> AsyncFiles:
        from .resources.files import AsyncFiles

        return AsyncFiles(self._transport)

    @cached_property
    def batches(self) -> AsyncBatches:
        from .resources.batches import AsyncBatches

        return AsyncBatches(self._transport)

    @cached_property
    def models(self) -> AsyncModels:
        from .resources.models import AsyncModels

        return AsyncModels(self._transport)

    @cached_property
    def templates(self) -> AsyncTemplates:
        from .resources.templates import AsyncTemplates

        return AsyncTemplates(self._transport)

    async def close(self) -> None:
        """Close the connection pool (an injected ``async_httpx_client`` is left open)."""
        await self._transport.close()

    async def __aenter__(self) -> AsyncMeshAPI:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
