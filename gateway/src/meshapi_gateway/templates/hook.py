"""The chat body hook: a request naming a ``template`` gets it rendered before routing.

Installed on ``ChatPipeline.body_hooks`` at start, so chat, compare and the Responses
API (which all call ``ChatPipeline.prepare``) render templates the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from meshapi_gateway.templates.cache import TemplateCache
from meshapi_gateway.templates.checks import check_rendered
from meshapi_gateway.templates.render import apply
from meshapi_gateway.templates.store import not_found

if TYPE_CHECKING:
    from meshapi_gateway.auth.principal import Principal
    from meshapi_gateway.state import GatewayState


class TemplateHook:
    def __init__(self, cache: TemplateCache) -> None:
        self.cache = cache

    async def __call__(self, principal: "Principal", body: dict[str, Any]) -> dict[str, Any]:
        ref = body.get("template")
        if not ref:
            return body
        if not isinstance(ref, str):
            raise not_found(str(ref))
        template = await self.cache.resolve(principal.owner, ref)
        if template is None:
            raise not_found(ref)
        rendered = apply(template, body)
        check_rendered(template.name, rendered)
        return rendered


def install(state: "GatewayState") -> TemplateCache:
    """Attach the template cache and the rendering hook to a freshly built state."""
    cache = TemplateCache(state.sessions, state.settings.template_cache_seconds)
    state.services["templates"] = cache
    state.services["chat"].body_hooks.append(TemplateHook(cache))
    return cache
