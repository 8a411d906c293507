"""Provider name (as written in the catalog) → adapter instance, created once per process."""

from __future__ import annotations

from meshapi_gateway.providers.base import Provider, UpstreamError


def _builtin(name: str) -> Provider | None:
    """The adapter for ``name``, imported only now: a process loads only the adapters its catalog uses."""
    if name in ("openai_compat", "local"):
        from meshapi_gateway.providers.openai_compat import OpenAICompatProvider

        return OpenAICompatProvider()
    if name == "anthropic":
        from meshapi_gateway.providers.anthropic import AnthropicProvider

        return AnthropicProvider()
    if name == "gemini":
        from meshapi_gateway.providers.gemini import GeminiProvider

        return GeminiProvider()
    if name == "local_embeddings":
        from meshapi_gateway.providers.local_embeddings.provider import LocalEmbeddingsProvider

        return LocalEmbeddingsProvider()
    return None


class ProviderRegistry:
    def __init__(self) -> None:
        self._instances: dict[str, Provider] = {}

    def get(self, name: str) -> Provider:
        inst = self._instances.get(name)
        if inst is None:
            try:
                inst = _builtin(name)
            except ImportError as exc:  # an adapter's optional dependency (the local extras: numpy, …)
                raise UpstreamError(
                    "provider_not_available", f"provider {name!r} is not installed: {exc}", status=503
                ) from exc
            if inst is None:
                raise UpstreamError("provider_not_available", f"provider {name!r} is not available", status=503)
            self._instances[name] = inst
        return inst

    def install(self, name: str, provider: Provider) -> None:
        """Use this instance for ``name`` in this gateway (a provider bound to a per-process service)."""
        self._instances[name] = provider

    async def aclose(self) -> None:
        for inst in self._instances.values():
            await inst.aclose()
