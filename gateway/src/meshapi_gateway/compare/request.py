"""A compare request, checked, and the chat body each model gets.

Models are de-duplicated in request order and capped (``compare_max_models``); templates
are rendered once through the chat pipeline's hooks; ``model_overrides`` adjust one
model's temperature, max_tokens or system prompt.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from meshapi_gateway.chat.pipeline import not_a_chat_model
from meshapi_gateway.errors import field_error
from meshapi_gateway.request_schemas import Message, Temperature, TokenCount

if TYPE_CHECKING:
    from meshapi_gateway.auth.principal import Principal
    from meshapi_gateway.chat.pipeline import ChatPipeline


class ModelOverride(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str
    temperature: Temperature = None
    max_tokens: TokenCount = None
    system_prompt: Optional[str] = None


class CompareRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    models: list[str] = Field(min_length=1)
    messages: list[Message] = Field(default_factory=list)
    model_overrides: Optional[list[ModelOverride]] = None
    comparison_model: Optional[str] = None
    comparison_instructions: Optional[str] = None
    temperature: Temperature = None
    max_tokens: TokenCount = None
    stream: Optional[StrictBool] = None
    template: Optional[str] = None
    variables: Optional[dict[str, str]] = None
    skip_comparison: Optional[StrictBool] = False


# Fields of the compare body that are not chat parameters for the models.
_COMPARE_ONLY = {
    "models",
    "model_overrides",
    "comparison_model",
    "comparison_instructions",
    "stream",
    "skip_comparison",
    "template",
    "variables",
    "cache",
    "model",
    "messages",
}


@dataclass
class ComparePlan:
    models: list[str]
    messages: list[dict[str, Any]]  # the conversation after the template, as every model sees it
    bodies: dict[str, dict[str, Any]]  # model → chat body
    judges: list[str]  # judge model, then its fallbacks (empty: no judge)
    instructions: str | None
    skip_comparison: bool
    extra: dict[str, Any] = field(default_factory=dict)


def dedupe(models: list[str]) -> list[str]:
    return list(dict.fromkeys(m for m in models if isinstance(m, str) and m))


def _with_system(messages: list[dict[str, Any]], system: str) -> list[dict[str, Any]]:
    if messages and messages[0].get("role") == "system":
        return [{"role": "system", "content": system}, *messages[1:]]
    return [{"role": "system", "content": system}, *messages]


async def plan(
    pipeline: "ChatPipeline",
    principal: "Principal",
    body: dict[str, Any],
    max_models: int,
    default_judge: str,
    judge_fallbacks: list[str],
) -> ComparePlan:
    models = dedupe(body.get("models") or [])
    if not models:
        raise field_error("models", "List should have at least 1 item", type_="too_short")
    if len(models) > max_models:
        raise field_error(
            "models", f"At most {max_models} distinct models per comparison", type_="too_long", value=len(models)
        )
    for i, model in enumerate(models):
        entry = pipeline.state.catalog.get(model)
        if entry is not None and entry.model_type == "embedding":
            raise not_a_chat_model(model, "models", i)
    rendered = {"messages": body.get("messages") or []}
    if body.get("template"):
        rendered = await pipeline.prepare(
            principal,
            {"messages": rendered["messages"], "template": body["template"], "variables": body.get("variables")},
        )
    messages = list(rendered.get("messages") or [])
    if not messages:
        raise field_error("messages", "Field required", type_="missing")
    # Chat parameters: the request's own, then the template's defaults.
    params = {k: v for k, v in body.items() if k not in _COMPARE_ONLY and v is not None}
    for name, value in rendered.items():
        if name not in _COMPARE_ONLY and params.get(name) is None and value is not None:
            params[name] = value
    overrides = {o.get("model"): o for o in body.get("model_overrides") or [] if isinstance(o, dict)}
    bodies: dict[str, dict[str, Any]] = {}
    for model in models:
        chat = {**params, "model": model, "messages": messages}
        override = overrides.get(model) or {}
        for name in ("temperature", "max_tokens"):
            if override.get(name) is not None:
                chat[name] = override[name]
        if override.get("system_prompt"):
            chat["messages"] = _with_system(messages, override["system_prompt"])
        bodies[model] = chat
    judges: list[str] = []
    if not body.get("skip_comparison"):
        judges = dedupe([body.get("comparison_model") or default_judge, *judge_fallbacks])
    return ComparePlan(
        models, messages, bodies, judges, body.get("comparison_instructions"), bool(body.get("skip_comparison"))
    )


def resolve_models(plan: ComparePlan, resolve: Callable[[dict[str, Any]], dict[str, Any]]) -> ComparePlan:
    """The plan with ``auto`` replaced by the model each body resolves to (a model compared once)."""
    models: list[str] = []
    bodies: dict[str, dict[str, Any]] = {}
    for model in plan.models:
        body = resolve(plan.bodies[model])
        concrete = body["model"]
        if concrete not in bodies:
            models.append(concrete)
            bodies[concrete] = body
    return replace(plan, models=models, bodies=bodies)
