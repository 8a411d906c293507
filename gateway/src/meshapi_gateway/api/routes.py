"""The route table. Each feature area adds its routes in its own block."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from meshapi_gateway.api import chat, health, models, openapi


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
        Route("/v1/models/{model_id:path}", models.get_model, methods=["GET"]),
    ]
    # --- feature areas append below (accounts, templates, responses, embeddings, compare, files, batches) ---
    return table
