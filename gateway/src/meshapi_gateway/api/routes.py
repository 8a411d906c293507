"""The route table. Each feature area adds its routes in its own block."""

from __future__ import annotations

from typing import Any, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from meshapi_gateway.api import chat, health, models, openapi


def _one_route_per_path(table: list[BaseRoute]) -> list[BaseRoute]:
    """Routes of one path (one per method) merged into one, so that a 405's ``Allow`` lists every method.

    Starlette answers 405 from the first route whose path matches, with only that route's methods.
    """
    handlers: dict[str, dict[str, Callable[[Request], Any]]] = {}
    order: list[BaseRoute | str] = []
    for route in table:
        if (
            not isinstance(route, Route)
            or route.methods is None
            or not callable(route.endpoint)
            or isinstance(route.endpoint, type)
            or not hasattr(route.endpoint, "__name__")
        ):
            order.append(route)
            continue
        if route.path not in handlers:
            handlers[route.path] = {}
            order.append(route.path)
        for method in route.methods - {"HEAD"}:
            handlers[route.path][method] = route.endpoint
    out: list[BaseRoute] = []
    for item in order:
        if not isinstance(item, str):
            out.append(item)
            continue
        by_method = handlers[item]
        if len(by_method) == 1:
            method, endpoint = next(iter(by_method.items()))
            out.append(Route(item, endpoint, methods=[method]))
        else:
            out.append(Route(item, _dispatch(by_method), methods=sorted(by_method)))
    return out


def _dispatch(by_method: dict[str, Callable[[Request], Any]]) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        response: Response = await by_method[method](request)
        return response

    return endpoint


def routes() -> list[BaseRoute]:
    table: list[BaseRoute] = [
        # --- core ---
        Route("/health", health.health, methods=["GET"]),
        Route("/ready", health.ready, methods=["GET"]),
        Route("/metrics", health.metrics_endpoint, methods=["GET"]),
        Route("/openapi.json", openapi.openapi_json, methods=["GET"]),
        Route("/v1/chat/completions", chat.ChatRoute(), methods=["POST"]),
        Route("/v1/models", models.list_models, methods=["GET"]),
        Route("/v1/models/free", models.free_models, methods=["GET"]),
        Route("/v1/models/paid", models.paid_models, methods=["GET"]),
        Route("/v1/models/search", models.search_models, methods=["GET"]),  # before the path route that would take it
        Route("/v1/models/{model_id:path}", models.get_model, methods=["GET"]),
    ]
    # --- feature areas append below (accounts, templates, responses, embeddings, compare, files, batches) ---
    # --- responses, embeddings, compare ---
    from meshapi_gateway.api import compare, embeddings, responses

    table += [
        Route("/v1/responses", responses.create_response, methods=["POST"]),
        Route("/v1/embeddings", embeddings.create_embeddings, methods=["POST"]),
        Route("/v1/chat/compare", compare.compare, methods=["POST"]),
    ]
    # --- the auto router's preview ---
    from meshapi_gateway.api import router_select

    table += [Route("/v1/router/select", router_select.router_select, methods=["POST"])]
    # --- web search (a configured search API) ---
    from meshapi_gateway.api import web_search

    table += [Route("/v1/web/search", web_search.web_search, methods=["POST"])]
    # --- files and batches ---
    from meshapi_gateway.api import batches, files

    table += [
        Route("/v1/files", files.upload_file, methods=["POST"]),
        Route("/v1/files", files.list_files, methods=["GET"]),
        Route("/v1/files/{file_id}", files.get_file, methods=["GET"]),
        Route("/v1/files/{file_id}", files.delete_file, methods=["DELETE"]),
        Route("/v1/files/{file_id}/content", files.file_content, methods=["GET"]),
        Route("/v1/batches", batches.create_batch, methods=["POST"]),
        Route("/v1/batches", batches.list_batches, methods=["GET"]),
        Route("/v1/batches/{batch_id}", batches.get_batch, methods=["GET"]),
        Route("/v1/batches/{batch_id}/cancel", batches.cancel_batch, methods=["POST"]),
    ]
    # --- Anthropic's Messages API (docs/anthropic.md) ---
    from meshapi_gateway.api import messages

    table += [
        Route("/v1/messages", messages.MessagesRoute(), methods=["POST"]),
        Route("/v1/messages/count_tokens", messages.CountTokensRoute(), methods=["POST"]),
    ]
    # --- accounts: keys, balance, usage, admin credits, templates ---
    from meshapi_gateway.api import accounts, audit, keys, logs, teams, templates, tokens, usage

    table += [
        Route("/v1/keys", keys.create, methods=["POST"]),
        Route("/v1/keys", keys.list_all, methods=["GET"]),
        Route("/v1/keys/{key_id}", keys.get_one, methods=["GET"]),
        Route("/v1/keys/{key_id}", keys.update, methods=["PATCH"]),
        Route("/v1/keys/{key_id}", keys.revoke, methods=["DELETE"]),
        Route("/v1/keys/{key_id}/suspend", keys.suspend, methods=["POST"]),
        Route("/v1/keys/{key_id}/resume", keys.resume, methods=["POST"]),
        Route("/v1/teams", teams.create, methods=["POST"]),
        Route("/v1/teams", teams.list_all, methods=["GET"]),
        Route("/v1/teams/{team_id}", teams.get_one, methods=["GET"]),
        Route("/v1/teams/{team_id}", teams.update, methods=["PATCH"]),
        Route("/v1/teams/{team_id}", teams.delete, methods=["DELETE"]),
        Route("/v1/balance", usage.balance, methods=["GET"]),
        Route("/v1/usage", usage.list_usage, methods=["GET"]),
        Route("/v1/usage/events", usage.usage_events, methods=["POST"]),
        Route("/v1/logs", logs.list_request_logs, methods=["GET"]),
        Route("/v1/logs/{request_id}", logs.get_request_log, methods=["GET"]),
        Route("/v1/stats", logs.request_stats_view, methods=["GET"]),
        Route("/v1/admin/credits", accounts.credit, methods=["POST"]),
        Route("/v1/admin/accounts/{owner}", accounts.account, methods=["GET"]),
        Route("/v1/admin/tokens/revoke", tokens.revoke_tokens, methods=["POST"]),
        Route("/v1/admin/audit", audit.audit_log, methods=["GET"]),
        Route("/v1/templates", templates.create_template, methods=["POST"]),
        Route("/v1/templates", templates.list_templates, methods=["GET"]),
        Route("/v1/templates/{template_id}", templates.get_template, methods=["GET"]),
        Route("/v1/templates/{template_id}", templates.update_template, methods=["PATCH"]),
        Route("/v1/templates/{template_id}", templates.delete_template, methods=["DELETE"]),
        Route("/v1/templates/{template_id}/versions", templates.list_versions, methods=["GET"]),
        Route("/v1/templates/{template_id}/versions/{version}", templates.get_version, methods=["GET"]),
        Route("/v1/templates/{template_id}/versions/{version}/activate", templates.activate_version, methods=["POST"]),
    ]
    # --- deployments and their breakers ---
    from meshapi_gateway.api import deployments

    table += [Route("/v1/deployments", deployments.list_deployments, methods=["GET"])]
    # --- the web console (static files; every action it takes is one of the routes above) ---
    from meshapi_gateway.api.console import console_routes

    table += console_routes()
    return _one_route_per_path(table)
