"""Rendering a template into a chat body (docs/wire.md, Templates).

``{{ name }}`` slots (``\\w+`` names, whitespace allowed) are filled in ``system`` and in
string message contents; the rendered system message and template messages go before
the request's own messages; the template's ``model`` and ``params`` only fill what the
request left unset. A slot with no value is a 422 naming the variable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from meshapi_gateway.errors import GatewayError

SLOT = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass(slots=True)
class Template:
    id: str
    owner: str  # "" for global templates
    name: str
    description: str | None = None
    system: str | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    variables: list[str] = field(default_factory=list)
    created_at: int = 0  # Unix milliseconds
    updated_at: int = 0
    version: int = 1  # the version these fields are
    latest_version: int = 1
    team_id: str | None = None


def slots_in(template: Template) -> list[str]:
    """Every variable the template uses, in order of first appearance."""
    seen: dict[str, None] = {}
    texts = [template.system or ""]
    texts += [str(m["content"]) for m in template.messages if isinstance(m.get("content"), str)]
    for text in texts:
        for name in SLOT.findall(text):
            seen.setdefault(name, None)
    return list(seen)


def _fill(text: str, values: dict[str, str]) -> str:
    return SLOT.sub(lambda m: values[m.group(1)], text)


def render(template: Template, variables: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The messages the template contributes, with every slot filled."""
    values = {k: v if isinstance(v, str) else str(v) for k, v in (variables or {}).items()}
    missing = [name for name in slots_in(template) if name not in values]
    if missing:
        raise GatewayError(
            "unprocessable_entity",
            f"Template '{template.name}' needs variable(s) {', '.join(repr(n) for n in missing)}.",
            details=[
                {
                    "type": "missing",
                    "loc": ["body", "variables", name],
                    "msg": f"Template variable '{name}' is missing",
                    "variable": name,
                }
                for name in missing
            ],
        )
    out: list[dict[str, Any]] = []
    if template.system:
        out.append({"role": "system", "content": _fill(template.system, values)})
    for message in template.messages:
        rendered = dict(message)
        if isinstance(rendered.get("content"), str):
            rendered["content"] = _fill(rendered["content"], values)
        out.append(rendered)
    return out


def apply(template: Template, body: dict[str, Any]) -> dict[str, Any]:
    """A new body: template messages first, template model/params under the request's own values."""
    out = dict(body)
    out["messages"] = [*render(template, body.get("variables")), *(body.get("messages") or [])]
    if out.get("model") is None and template.model and not out.get("models"):
        out["model"] = template.model
    for name, value in template.params.items():
        if out.get(name) is None and name not in ("messages", "model", "stream", "template", "variables"):
            out[name] = value
    out.pop("template", None)
    out.pop("variables", None)
    return out
