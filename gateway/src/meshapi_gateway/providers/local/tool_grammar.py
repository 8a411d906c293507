"""What the model may write when it has tools: the prompt that shows them and the grammar that binds it.

A call is the JSON ``{"tool_calls": [{"name": ..., "arguments": {...}}]}`` where each
``arguments`` follows its tool's ``parameters`` schema. The grammar is built from that JSON
schema by llama-cpp-python's own converter, so the model cannot write a call that does not
parse or does not match. Under ``tool_choice: "auto"`` the grammar also allows plain text
that does not start with ``{``: the model chooses with its first token, and text answers
still stream.

The converter is the pure-Python ``llama_grammar.py`` of the installed llama-cpp-python,
loaded by path: importing the ``llama_cpp`` package would load the native library into
the gateway process, which only the child needs.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

import orjson

Mode = Literal["text", "call", "either"]

# How many calls one answer may hold at most (and never more than the tools offered).
MAX_PARALLEL_CALLS = 4


@dataclass(frozen=True, slots=True)
class ToolPlan:
    """The tools shown to the model and what it may answer with."""

    mode: Mode
    tools: tuple[dict[str, Any], ...] = ()
    max_calls: int = 1


class ToolChoiceError(ValueError):
    """``tool_choice`` names a function that is not among ``tools``."""


def _function(tool: Any) -> dict[str, Any] | None:
    fn = tool.get("function") if isinstance(tool, dict) else None
    return fn if isinstance(fn, dict) and isinstance(fn.get("name"), str) else None


def plan(body: dict[str, Any]) -> ToolPlan:
    tools = [t for t in body.get("tools") or [] if _function(t) is not None]
    choice = body.get("tool_choice")
    if not tools or choice == "none":
        return ToolPlan("text")
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name") if isinstance(choice.get("function"), dict) else None
        chosen = [t for t in tools if _function(t)["name"] == wanted]  # type: ignore[index]
        if not chosen:
            raise ToolChoiceError(f"tool_choice names '{wanted}', which is not one of the tools")
        return ToolPlan("call", (chosen[0],), 1)
    parallel = body.get("parallel_tool_calls") is not False
    max_calls = min(len(tools), MAX_PARALLEL_CALLS) if parallel else 1
    return ToolPlan("call" if choice == "required" else "either", tuple(tools), max_calls)


def tools_prompt(p: ToolPlan) -> str:
    if p.mode == "text":
        return ""
    lines = []
    for tool in p.tools:
        fn = _function(tool) or {}
        lines.append(
            orjson.dumps(
                {
                    "name": fn.get("name"),
                    "description": fn.get("description") or "",
                    "parameters": fn.get("parameters") or {"type": "object"},
                }
            ).decode()
        )
    how = (
        "To call a function, reply with only this JSON: "
        '{"tool_calls": [{"name": "<function name>", "arguments": {<arguments>}}]}'
    )
    if p.mode == "either":
        how += ". If no function is needed, answer in plain text."
    return "You can call these functions:\n" + "\n".join(lines) + "\n" + how


def calls_schema(p: ToolPlan) -> dict[str, Any]:
    alternatives = []
    for tool in p.tools:
        fn = _function(tool) or {}
        params = fn.get("parameters")
        if not isinstance(params, dict) or not params:
            params = {"type": "object"}
        alternatives.append(
            {
                "type": "object",
                "properties": {"name": {"const": fn["name"]}, "arguments": params},
                "required": ["name", "arguments"],
            }
        )
    items = alternatives[0] if len(alternatives) == 1 else {"anyOf": alternatives}
    return {
        "type": "object",
        "required": ["tool_calls"],
        "properties": {"tool_calls": {"type": "array", "minItems": 1, "maxItems": p.max_calls, "items": items}},
    }


@functools.lru_cache(maxsize=1)
def _converter() -> ModuleType:
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("llama-cpp-python is not installed")
    path = f"{next(iter(spec.submodule_search_locations))}/llama_grammar.py"
    loaded = importlib.util.spec_from_file_location("meshapi_gateway._llama_grammar", path)
    if loaded is None or loaded.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    return module


# JSON strings may not hold raw control characters; the converter's character rule allows them.
_CHAR_RULE = re.compile(r'^char ::= \[\^"\\\\\]', re.MULTILINE)
_SAFE_CHAR = 'char ::= [^"\\\\\\x00-\\x1f]'
# Text (under "auto") is anything that does not open with "{", the start of a call.
_TEXT_RULES = "root ::= call | text\ntext ::= [^{] [^\\x00]*\n"


@functools.lru_cache(maxsize=256)
def _grammar(schema_json: str, with_text: bool) -> str:
    gbnf: str = _converter().json_schema_to_gbnf(schema_json)
    gbnf = _CHAR_RULE.sub(_SAFE_CHAR.replace("\\", "\\\\"), gbnf)
    if with_text:
        gbnf = re.sub(r"^root ::=", "call ::=", gbnf, flags=re.MULTILINE) + "\n" + _TEXT_RULES
    return gbnf


def grammar(p: ToolPlan) -> str | None:
    """The GBNF grammar for the answer, or None when the answer is free text."""
    if p.mode == "text":
        return None
    return _grammar(orjson.dumps(calls_schema(p)).decode(), p.mode == "either")
