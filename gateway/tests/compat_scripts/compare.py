"""The README's compare examples: ``compare.create`` and the stream loop that prints
``event.data`` for every ``delta`` event (what that loop prints is captured and reported)."""

from __future__ import annotations

import contextlib
import io
from typing import Any

from compat_common import client, report, step
from meshapi import ChatMessage, CompareParams

MODELS = ["openai/gpt-4o-mini", "anthropic/claude-sonnet-4.5", "google/gemini-2.5-flash"]
PROMPT = "Summarize this paragraph in one sentence: ..."


def create() -> dict[str, Any]:
    reply = client().compare.create(CompareParams(models=MODELS, messages=[ChatMessage(role="user", content=PROMPT)]))
    return {
        "models": reply.models,
        "results": [{"model": r.model, "content": r.content, "error": r.error} for r in reply.results],
        "comparison": reply.comparison,
        "comparison_model": reply.comparison_model,
        "partial": reply.partial,
        "comparison_id": reply.comparison_id,
    }


def stream() -> dict[str, Any]:
    names, pieces = [], []
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        stream = client().compare.stream(
            CompareParams(
                models=MODELS,
                messages=[ChatMessage(role="user", content=PROMPT)],
                stream=True,
            )
        )

        for event in stream:
            names.append(event.event)
            if event.event == "delta":
                print(event.data)
                pieces.append(event.data)
    return {"event_names": names, "printed": printed.getvalue(), "delta_data": pieces}


def stream_with_a_failing_model() -> dict[str, Any]:
    """One model fails: the stream goes on and reports it as data, never as a fatal error frame."""
    names, failures, texts = [], [], {}
    params = CompareParams(
        models=["openai/gpt-4o-mini", "fake/fail-400"],
        messages=[ChatMessage(role="user", content="hi")],
        skip_comparison=True,
    )
    for event in client().compare.stream(params):
        names.append(event.event)
        data = event.data or {}
        if event.event == "delta":
            texts[data["model"]] = texts.get(data["model"], "") + data["delta"]
        if event.event == "model_done" and data.get("error_code"):
            failures.append({"model": data.get("model"), "error_code": data.get("error_code")})
    return {"event_names": sorted(set(names)), "last_event": names[-1], "failures": failures, "texts": texts}


step("create", create)
step("stream", stream)
step("stream_with_a_failing_model", stream_with_a_failing_model)
report()
