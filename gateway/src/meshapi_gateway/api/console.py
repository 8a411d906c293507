"""``GET /ui`` and ``/ui/static/*``: the console's page and files, or 404 when the console is turned off."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from meshapi_gateway.api.common import gw
from meshapi_gateway.api.openapi import EXTRA_PATHS
from meshapi_gateway.errors import GatewayError

if TYPE_CHECKING:
    from meshapi_gateway.console.assets import Asset

_ERROR = {
    "description": "Error envelope (404 when the console is turned off or the file does not exist)",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _file_op(summary: str, media_type: str) -> dict[str, object]:
    ok = {"description": "OK", "content": {media_type: {"schema": {"type": "string"}}}}
    return {"summary": summary, "responses": {"200": ok, "304": {"description": "Not modified"}, "default": _ERROR}}


EXTRA_PATHS.update(
    {
        "/ui": {
            "get": {
                "summary": "The web console: to /ui/",
                "responses": {"308": {"description": "To /ui/"}, "default": _ERROR},
            }
        },
        "/ui/": {"get": _file_op("The web console's page (docs/console.md)", "text/html")},
        "/ui/static/{name}": {"get": _file_op("A file of the web console (script, style, icon)", "text/javascript")},
    }
)


@lru_cache(maxsize=1)
def _assets() -> dict[str, Asset]:
    # Imported at the console's first request: a gateway nobody opens the console on does not load it.
    from meshapi_gateway.console.assets import load_assets

    return load_assets()


def _serve(request: Request, name: str, cache: str) -> Response:
    if not gw(request).settings.console:
        raise GatewayError("not_found", "The web console is turned off (setting console).")
    asset = _assets().get(name)
    if asset is None:
        raise GatewayError("not_found", "No such console file.")
    from meshapi_gateway.console.assets import SECURITY_HEADERS  # loaded by ``_assets`` already

    headers = {**SECURITY_HEADERS, "etag": asset.etag, "cache-control": cache}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


async def page(request: Request) -> Response:
    # The page itself is revalidated every time, so a new gateway version is picked up at once.
    return _serve(request, "index.html", "no-cache")


async def static(request: Request) -> Response:
    return _serve(request, request.path_params["name"], "no-cache")


async def to_page(request: Request) -> Response:
    if not gw(request).settings.console:
        raise GatewayError("not_found", "The web console is turned off (setting console).")
    return RedirectResponse("/ui/", status_code=308)


def console_routes() -> list[BaseRoute]:
    return [
        Route("/ui", to_page, methods=["GET"]),
        Route("/ui/", page, methods=["GET"]),
        Route("/ui/static/{name}", static, methods=["GET"]),
    ]
