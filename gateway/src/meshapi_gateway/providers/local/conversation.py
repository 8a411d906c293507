"""The conversation as the ChatML text SmolLM2 reads, rendered by the gateway.

The gateway prompts the model itself (through the child's plain completion endpoint), so
every turn clients send is accepted the same way: content as a string or a list of parts,
assistant turns whose ``content`` is null, ``""`` or text beside ``tool_calls``, and ``tool``
results. Calls the assistant made are shown in the same JSON the model is asked to write,
and each result names the function it answers, so several rounds read naturally.
"""

from __future__ import annotations

from typing import Any

import orjson

# SmolLM2's own chat template uses this system turn when the conversation has none.
DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
END = "<|im_end|>"


def text_of(content: Any) -> str:
    """A message's text: the string itself, or its text parts joined (images are not seen by this model)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
    return ""


def _arguments(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw
    return raw if raw is not None else {}


def calls_json(tool_calls: list[Any]) -> str:
    """Calls the assistant made, written the way the model is asked to write them."""
    calls = []
    for tc in tool_calls:
        fn = tc.get("function") if isinstance(tc, dict) else None
        if isinstance(fn, dict):
            calls.append({"name": fn.get("name") or "", "arguments": _arguments(fn.get("arguments"))})
    return orjson.dumps({"tool_calls": calls}).decode()


def _turn(role: str, text: str) -> str:
    # The end marker inside a message would end the turn early and let the text speak as another role.
    return f"<|im_start|>{role}\n{text.replace(END, '')}{END}\n"


def render(messages: list[Any], tools_text: str = "") -> str:
    """The ChatML prompt, ending where the assistant's answer starts."""
    names: dict[str, str] = {}
    turns: list[str] = []
    system_parts: list[str] = []
    leading = True
    for m in messages:
        if not isinstance(m, dict):
            continue
        role = m.get("role")
        text = text_of(m.get("content"))
        if role in ("system", "developer"):
            if leading:
                system_parts.append(text)
            else:
                turns.append(_turn("system", text))
            continue
        leading = False
        if role == "assistant":
            calls = m.get("tool_calls") or []
            for tc in calls:
                if isinstance(tc, dict) and isinstance(tc.get("function"), dict):
                    names[str(tc.get("id") or "")] = str(tc["function"].get("name") or "")
            if calls:
                text = f"{text}\n{calls_json(calls)}" if text else calls_json(calls)
            turns.append(_turn("assistant", text))
        elif role == "tool":
            name = names.get(str(m.get("tool_call_id") or ""), "") or str(m.get("name") or "the function")
            turns.append(_turn("user", f"Result of {name}: {text}"))
        else:
            turns.append(_turn("user", text))
    system = "\n\n".join(p for p in system_parts if p) or DEFAULT_SYSTEM
    if tools_text:
        system = f"{system}\n\n{tools_text}"
    return _turn("system", system) + "".join(turns) + "<|im_start|>assistant\n"


def prompt_chars(messages: list[Any], tools: Any) -> int:
    """A cheap upper bound on the prompt's size in characters, before anything is rendered."""
    total = 0
    for m in messages:
        if isinstance(m, dict):
            total += len(text_of(m.get("content"))) + 16
            if m.get("tool_calls"):
                total += len(orjson.dumps(m["tool_calls"]))
    if tools:
        total += len(orjson.dumps(tools))
    return total
