"""Pieces every adapter that rewrites the OpenAI chat shape into another wire format needs.

Anthropic and Gemini both take an OpenAI body apart (content parts, data URLs, tool-call
arguments) and both have to say which request fields they could not carry; keeping those
rules here means the two translations agree on them.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
from dataclasses import dataclass, field
from typing import Any, Iterator

import orjson

from meshapi_gateway.providers.base import GATEWAY_ONLY_FIELDS, CallContext, UpstreamError

WARNING_HEADER = "x-meshapi-warning"

# Fields that shape the call itself (handled by every adapter) and are never "dropped".
ALWAYS_HANDLED = frozenset({"model", "messages", "stream", "stream_options"}) | GATEWAY_ONLY_FIELDS

_AUDIO_MIME = {
    "wav": "audio/wav",
    "mp3": "audio/mp3",
    "aiff": "audio/aiff",
    "aac": "audio/aac",
    "ogg": "audio/ogg",
    "flac": "audio/flac",
    "m4a": "audio/mp4",
    "pcm16": "audio/pcm",
    "pcm24": "audio/pcm",
}


@dataclass
class TranslatedRequest:
    """A provider request body plus what the client asked for that it could not carry."""

    body: dict[str, Any]
    dropped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def invalid_request(message: str) -> UpstreamError:
    """A request the provider could never accept: the client's fault, not worth another deployment."""
    return UpstreamError("validation_error", message, status=422, retryable=False)


def not_capable(provider: str, what: str) -> UpstreamError:
    """The model cannot take this input. Not retryable: it says nothing about the upstream's health."""
    return UpstreamError(
        "model_capability_not_supported", f"{provider} models do not accept {what}", status=400, retryable=False
    )


def chat_messages(body: dict[str, Any]) -> list[Any]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid_request("messages must be a non-empty list")
    return messages


# A tuple, not a set: a client may send an unhashable role, which must be a 422 too.
_ROLES = ("system", "developer", "user", "assistant", "tool")


def checked_messages(messages: list[Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each message with its role, once both are known to be OpenAI chat ones."""
    for message in messages:
        if not isinstance(message, dict):
            raise invalid_request("every message must be an object")
        role = message.get("role")
        if role not in _ROLES:
            raise invalid_request(f"unsupported message role {role!r}")
        yield role, message


def append_turn(turns: list[dict[str, Any]], role: str, items: list[dict[str, Any]], key: str) -> None:
    """Add a turn's ``key`` items, merged into the previous turn of the same role (both providers want
    alternating turns)."""
    if turns and turns[-1]["role"] == role:
        turns[-1][key].extend(items)
    else:
        turns.append({"role": role, key: items})


def named_messages_note(messages: list[Any], provider: str) -> list[str]:
    """Message ``name`` fields have no counterpart in the provider's format."""
    if any(isinstance(m, dict) and m.get("name") and m.get("role") != "tool" for m in messages):
        return [f"message name fields dropped ({provider} has no equivalent)"]
    return []


def parse_data_url(url: str) -> tuple[str, str] | None:
    """``data:<mime>;base64,<data>`` → (mime, base64 data); None when ``url`` is not a base64 data URL."""
    if not url.startswith("data:"):
        return None
    header, sep, data = url[5:].partition(",")
    if not sep or not header.endswith(";base64"):
        raise invalid_request("image data URLs must be base64 encoded (data:<mime>;base64,<data>)")
    mime = header[: -len(";base64")] or "application/octet-stream"
    try:
        base64.b64decode(data[:64] + "=" * (-len(data[:64]) % 4), validate=False)
    except (binascii.Error, ValueError) as exc:
        raise invalid_request("image data URL is not valid base64") from exc
    return mime, data


def guess_mime(url: str, default: str = "image/jpeg") -> str:
    guessed, _ = mimetypes.guess_type(url.split("?", 1)[0])
    return guessed or default


def audio_mime(fmt: str | None) -> str:
    return _AUDIO_MIME.get(str(fmt or "wav").lower(), f"audio/{fmt}")


def content_parts(content: Any) -> list[dict[str, Any]]:
    """Message content as a list of OpenAI parts (a plain string becomes one text part)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if isinstance(content, list):
        return [p for p in content if isinstance(p, dict)]
    raise invalid_request("message content must be a string or a list of content parts")


def part_text(part: dict[str, Any]) -> str:
    """A text part's text (may be empty)."""
    text = part.get("text")
    if not isinstance(text, str):
        raise invalid_request("text parts need a text string")
    return text


def part_image_url(part: dict[str, Any]) -> str:
    """An ``image_url`` part's URL (``image_url`` may be an object or, loosely, the URL itself)."""
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        raise invalid_request("image_url parts need an image_url.url")
    return url


def content_text(content: Any) -> str:
    """The text of a message's content, parts joined (non-text parts are ignored)."""
    if isinstance(content, str):
        return content
    return "".join(str(p.get("text") or "") for p in content_parts(content) if p.get("type") == "text")


def parse_arguments(arguments: Any) -> dict[str, Any]:
    """An OpenAI tool call's JSON-string arguments as the object both providers want."""
    if isinstance(arguments, dict):
        return arguments
    if not arguments:
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError as exc:
        raise invalid_request(f"tool call arguments are not valid JSON: {str(arguments)[:200]}") from exc
    return value if isinstance(value, dict) else {"value": value}


def dump_arguments(value: Any) -> str:
    return orjson.dumps(value if value is not None else {}).decode()


def function_tools(tools: Any) -> Iterator[dict[str, Any]]:
    """The ``function`` object of each OpenAI tool, each checked to be a named function tool."""
    for tool in tools or []:
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise invalid_request("only function tools are supported")
        fn = tool.get("function") or {}
        if not fn.get("name"):
            raise invalid_request("every tool needs function.name")
        yield fn


def stop_list(stop: Any) -> list[str]:
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop] if stop else []
    if isinstance(stop, list):
        return [s for s in stop if isinstance(s, str) and s]
    raise invalid_request("stop must be a string or a list of strings")


def _is_default(name: str, value: Any) -> bool:
    """Values that ask for nothing beyond what every provider does anyway."""
    if name == "parallel_tool_calls":
        return value is None or value is True  # turning parallel calls off is a real request
    if value is None or value is False:
        return True
    if name == "n":
        return bool(value == 1)
    if name == "response_format":
        return isinstance(value, dict) and value.get("type") == "text"
    if name == "modalities":
        return bool(value == ["text"])
    return False


def unsupported_fields(body: dict[str, Any], handled: frozenset[str] | set[str]) -> list[str]:
    """Request fields with a value that the adapter neither translated nor knows to be harmless."""
    return sorted(k for k, v in body.items() if k not in handled and k not in ALWAYS_HANDLED and not _is_default(k, v))


def warn_dropped(ctx: CallContext, dropped: list[str], notes: list[str] | None = None) -> None:
    """Tell the client, in a response header, what did not reach the provider."""
    parts = []
    if dropped:
        # Field names come from the client: keep the header value plain ASCII.
        names = ["".join(c if 32 <= ord(c) < 127 else "?" for c in name[:64]) for name in dropped]
        parts.append("dropped unsupported parameter(s): " + ", ".join(names))
    parts.extend(notes or [])
    if parts:
        ctx.response_headers[WARNING_HEADER] = "; ".join(parts)
    else:
        ctx.response_headers.pop(WARNING_HEADER, None)
