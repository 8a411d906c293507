"""A local server speaking Tavily's search API: ``POST /search`` with a bearer key.

Answers in Tavily's documented shape (``query``, ``answer``, ``images``, ``results`` with
``title``/``url``/``content``/``score``/``raw_content``, ``response_time``) and its error
shape ``{"detail": {"error": …}}``. A query starting ``fail-<status>`` gets that status.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

KEY = "tvly-test-key"


def make_tavily_app(requests: list[dict[str, Any]]) -> Starlette:
    async def search(request: Request) -> Response:
        body = await request.json()
        requests.append({"headers": dict(request.headers), "body": body})
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return JSONResponse({"detail": {"error": "Unauthorized: missing or invalid API key."}}, status_code=401)
        query = body.get("query") or ""
        if query.startswith("fail-"):
            status = int(query.split("-")[1])
            headers = {"retry-after": "7"} if status == 429 else {}
            return JSONResponse(
                {"detail": {"error": f"scripted failure {status} at /srv/tavily/app.py"}},
                status_code=status,
                headers=headers,
            )
        count = int(body.get("max_results") or 5)
        results = [
            {
                "title": f"Result {i} for {query}",
                "url": f"https://example.org/{i}",
                "content": f"snippet {i}",
                "score": round(0.9 - i / 10, 2),
                "raw_content": None,
                **({"published_date": "2026-11-30"} if i == 0 else {}),
            }
            for i in range(count + 2)
        ]  # more than asked: the gateway must keep to max_results
        answer = f"An answer about {query}." if body.get("include_answer") else None
        return JSONResponse(
            {
                "query": query,
                "follow_up_questions": None,
                "answer": answer,
                "images": [],
                "results": results,
                "response_time": 0.42,
                "request_id": "tav-123",
            }
        )

    return Starlette(routes=[Route("/search", search, methods=["POST"])])
