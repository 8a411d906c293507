"""A template's ``params`` and ``messages`` obey the same rules as a chat request.

They are checked when a template is created or changed, and the rendered body is checked
again before routing: a template stored before these checks (or a combination that only
exists after merging) must end as a 422 naming the field, never as an upstream 500.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from meshapi_gateway.errors import GatewayError, validation_error
from meshapi_gateway.request_schemas import ChatRequestWithTemplate, Message, plainly_valid_chat

_MESSAGES = TypeAdapter(list[Message])


def _details(exc: PydanticValidationError, prefix: list[Any], note: str = "") -> list[dict[str, Any]]:
    out = []
    for err in exc.errors(include_url=False, include_context=False):
        item: dict[str, Any] = {"type": err["type"], "loc": [*prefix, *err["loc"]], "msg": note + err["msg"]}
        value = err.get("input")
        if value is None or isinstance(value, (str, int, float, bool)):
            item["input"] = value[:200] if isinstance(value, str) else value
        out.append(item)
    return out


def check_definition(params: dict[str, Any] | None, messages: list[Any] | None) -> None:
    """Refuse a template whose ``params`` or ``messages`` a chat request could not carry."""
    details: list[dict[str, Any]] = []
    if params:
        try:
            ChatRequestWithTemplate.model_validate({k: v for k, v in params.items() if k != "messages"})
        except PydanticValidationError as exc:
            details += _details(exc, ["body", "params"])
        if "messages" in params:
            details.append(
                {
                    "type": "extra_forbidden",
                    "loc": ["body", "params", "messages"],
                    "msg": "Template messages go in 'messages', not in 'params'",
                }
            )
    if messages:
        try:
            _MESSAGES.validate_python(messages)
        except PydanticValidationError as exc:
            details += _details(exc, ["body", "messages"])
    if details:
        raise validation_error(details)


def check_rendered(name: str, body: dict[str, Any]) -> None:
    """Refuse a rendered chat body that breaks the chat request's rules (messages may still be empty)."""
    if plainly_valid_chat(body):
        return
    try:
        ChatRequestWithTemplate.model_validate(body)
    except PydanticValidationError as exc:
        raise GatewayError(
            "validation_error",
            f"The request rendered from template '{name}' is not valid.",
            details=_details(exc, ["body"], f"from template '{name}': "),
        ) from None
