"""What every provider adapter implements, and the upstream error it raises (``errors.UpstreamError``).

Inside the gateway a chat request is an OpenAI chat-completions body (a dict) and the
answer is an OpenAI ``chat.completion`` dict or a stream of ``chat.completion.chunk``
dicts. Each adapter translates that to and from its provider's wire format, so routes,
billing and fallbacks never see a provider's own shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncIterator

from meshapi_gateway.errors import UpstreamError as UpstreamError  # adapters raise it; re-exported

if TYPE_CHECKING:
    from meshapi_gateway.catalog.catalog import Deployment, ModelEntry
    from meshapi_gateway.http_client import HTTPClient

# Request fields that are MeshAPI's own and never go upstream.
GATEWAY_ONLY_FIELDS = frozenset(
    {
        "template",
        "variables",
        "session_id",
        "models",
        "transforms",
        "modality",
        "image",
        "async_mode",
        "provider",
        "route",
        "cache",
        "timeout",
    }
)


@dataclass(slots=True)
class Target:
    """Where one attempt goes: the catalog entry and the chosen deployment."""

    entry: "ModelEntry"
    deployment: "Deployment"
    api_key: str
    # The model name the upstream knows: read on every call, so worked out once (targets are cached per slot).
    upstream_model: str = field(init=False, compare=False)
    # Where the upstream is, as the adapters join it (the deployment's, else the entry's, no trailing
    # slash): read on every call, and a pydantic field read costs more than a slot's.
    base_url: str = field(init=False, compare=False, repr=False)
    # The catalog's header dicts themselves (not copies), for the same reason: ``upstream_head`` compares
    # a stored head against them on every call, which still sees a change made to them in place.
    entry_headers: dict[str, str] = field(init=False, compare=False, repr=False)
    deployment_headers: dict[str, str] = field(init=False, compare=False, repr=False)
    # The adapter's request heads for this deployment, by URL (``upstream_head``): made once, not per call.
    heads: dict[str, Any] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.upstream_model = self.deployment.upstream_model or self.entry.upstream_model
        self.base_url = (self.deployment.base_url or self.entry.base_url).rstrip("/")
        self.entry_headers = self.entry.headers
        self.deployment_headers = self.deployment.headers
        self.heads = {}


@dataclass(slots=True)
class CallContext:
    request_id: str
    session: "HTTPClient"
    # Whose request this is (the principal's owner), for adapters that share a resource between owners.
    owner: str = ""
    connect_timeout: float = 10.0
    read_timeout: float = 300.0
    # Headers the route should add to the client response (e.g. dropped-parameter warnings).
    response_headers: dict[str, str] = field(default_factory=dict)


class Provider:
    """Base adapter; subclasses override what their wire format supports."""

    name = "base"

    async def chat(self, body: dict[str, Any], target: Target, ctx: CallContext) -> dict[str, Any]:
        raise UpstreamError("not_implemented", f"{self.name} does not serve chat completions", status=501)

    async def open_chat_stream(
        self, body: dict[str, Any], target: Target, ctx: CallContext
    ) -> AsyncIterator[dict[str, Any]]:
        """Connect and check the upstream status, then return the chunk iterator.

        Failing before the first chunk raises here, which is what lets the router fall
        back to another deployment before any byte reaches the client.
        """
        raise UpstreamError("not_implemented", f"{self.name} does not stream chat completions", status=501)

    async def embeddings(self, body: dict[str, Any], target: Target, ctx: CallContext) -> dict[str, Any]:
        raise UpstreamError("not_implemented", f"{self.name} does not serve embeddings", status=501)

    async def aclose(self) -> None:
        return None
