"""The README's prompt-template examples: CRUD with a control-plane token, chat with
``template``/``variables`` from a data-plane key of the same owner."""

from __future__ import annotations

from typing import Any

from compat_common import JWT, VERSION, client, report, step
from meshapi import ChatCompletionParams, ChatMessage, CreateTemplateParams, UpdateTemplateParams

NAME = f"support-agent-{VERSION}"
state: dict[str, Any] = {}


def create() -> dict[str, Any]:
    ctrl = client(JWT)
    t = ctrl.templates.create(
        CreateTemplateParams(
            name=NAME,
            system="You are a support agent for {{company}}. Be concise and friendly.",
            model="openai/gpt-4o-mini",
            variables=["company"],
        )
    )
    state["id"] = t.id
    return t.model_dump()


def chat() -> dict[str, Any]:
    reply = client().chat.completions.create(
        ChatCompletionParams(
            messages=[ChatMessage(role="user", content="How do I reset my password?")],
            template=NAME,
            variables={"company": "Acme Corp"},
        )
    )
    return {"content": reply.choices[0].message.content}


def crud() -> dict[str, Any]:
    ctrl = client(JWT)
    template_id = state["id"]
    templates = ctrl.templates.list()
    # Later SDKs manage templates with the data-plane key too (docs/wire.md, Auth realms): same owner, same list.
    with_key = client().templates.list()
    t = ctrl.templates.get(template_id)
    updated = ctrl.templates.update(template_id, UpdateTemplateParams(model="openai/gpt-4o"))
    deleted = ctrl.templates.delete(template_id)
    return {
        "listed": [x.name for x in templates if x.id == template_id],
        "listed_with_key": [x.name for x in with_key if x.id == template_id],
        "got": t.name,
        "updated_model": updated.model,
        "updated_system": updated.system,
        "deleted": deleted,
        "after_delete": [x.id for x in ctrl.templates.list() if x.id == template_id],
    }


step("create", create)
step("chat", chat)
step("crud", crud)
report()
