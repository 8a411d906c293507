"""The chat body hook: a request naming a ``template`` gets it rendered before routing.

Installed on ``ChatPipeline.body_hooks`` at start, so chat, compare and the Responses
API (which all call ``ChatPipeline.prepare``) render templates the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from meshapi_gateway.templates.cache import TemplateCache
from meshapi_gateway.templates.checks import check_rendered
from meshapi_gateway.templates.render import apply
from meshapi_gateway.templates.store import GLOBAL, Viewer, not_found

if TYPE_CHECKING:
    from meshapi_gateway.auth.principal import Principal
    from meshapi_gateway.state import GatewayState


def viewer_of(state: "GatewayState", principal: "Principal") -> Viewer:
    """The principal as templates see it: its owner (the admin: the global templates) and its teams."""
    if principal.realm == "admin":
        return Viewer(GLOBAL)
    teams = state.team_cache
    if teams is None:
        return Viewer(principal.owner)
    member, admin = teams.memberships(principal.owner)
    return Viewer(principal.owner, member, admin)


class TemplateHook:
    def __init__(self, state: "GatewayState", cache: TemplateCache) -> None:
        self.state = state
        self.cache = cache

    async def __call__(self, principal: "Principal", body: dict[str, Any]) -> dict[str, Any]:
        ref = body.get("template")
        if not ref:
            return body
        if not isinstance(ref, str):
            raise not_found(str(ref))
        template = await self.cache.resolve(viewer_of(self.state, principal), ref)
        if template is None:
            raise not_found(ref)
        rendered = apply(template, body)
        check_rendered(template.name, rendered)
        return rendered


def install(state: "GatewayState") -> TemplateCache:
    """Attach the template cache and the rendering hook to a freshly built state."""
    cache = TemplateCache(state.sessions, state.settings.template_cache_seconds)
    state.templates = cache
    state.chat.body_hooks.append(TemplateHook(state, cache))
    return cache
