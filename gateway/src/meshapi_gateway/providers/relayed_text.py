"""A stream's plain text chunks recognized by their bytes, so the relay need not decode them.

An OpenAI-compatible upstream writes every piece of text of a stream in one shape, with the same
``id``, ``created`` and ``model`` throughout::

    {"id":…,"object":"chat.completion.chunk","created":…,"model":…,…,"choices":[{"index":0,
     "delta":{"content":"<text>"},"logprobs":null,"finish_reason":null}]}

Once one such chunk has been decoded and found to be byte for byte what orjson writes for it
(so decoding and encoding it again gives back the same bytes), a later chunk made of the same
bytes around other text is that chunk with the other text. The bytes after the leading members
are kept per upstream model name, so the next stream of that model starts from them (its own
leading members written by orjson from its first chunk). A read's run of such chunks is handed
out as one ``RelayedDelta``: their bytes, and their text. The text must be printable
ASCII without a quote or a backslash, so that it stands for itself in JSON and would be written
back unchanged; any other chunk is decoded as before. What the client receives is the same.
"""

from __future__ import annotations

import sys
from typing import Any

import orjson

TEXT_OPEN = b'"delta":{"content":"'
TEXT_CLOSE = b'"}'
# Decoded chunks looked at for the shape after the first one: a stream whose first text chunks do
# not give it (tool calls, several choices, another JSON writer) is not looked at further.
TRIES = 4


def plain_text(text: str) -> bool:
    """Whether ``text`` is written in JSON as itself (what orjson writes, ASCII-escaped or not)."""
    return text.isascii() and text.isprintable() and '"' not in text and "\\" not in text


class TextShape:
    """The text chunk shape of one stream: learned from its decoded chunks, then matched on bytes."""

    __slots__ = ("_cut", "_first", "_head", "_least", "_post", "_text_at", "_text_end", "_tries", "learning")

    def __init__(self) -> None:
        self.learning = True  # False once the shape is known, or given up on
        self._first: tuple[str, int] | None = None  # the first chunk's id and created, as every chunk is stamped
        self._tries = 0
        self._head = b""  # a text chunk's bytes up to its text
        self._post = b""  # and after it
        self._least = sys.maxsize  # len(head) + len(post): no chunk is that long before the shape is known
        self._text_at = 0  # len(head)
        self._text_end = 0  # -len(post)
        self._cut = 0  # where the members after id, object, created and model begin

    def match(self, data: bytes) -> str | None:
        """The text of ``data`` when it is a text chunk of the known shape (its leading members
        ``cut`` bytes long), else None."""
        # Slices compared rather than ``startswith``/``endswith``: those parse their arguments as a
        # tuple on every call, which cost more than the copies of a chunk's few hundred bytes.
        at, end = self._text_at, self._text_end
        if len(data) < self._least or data[:at] != self._head or data[end:] != self._post:
            return None
        raw = data[at:end]
        if not raw.isascii():
            return None
        text = raw.decode()
        if not text.isprintable() or '"' in text or "\\" in text:
            return None
        self.learning = False  # a shape known from an earlier stream holds for this one
        return text

    @property
    def cut(self) -> int:
        return self._cut

    def learn(self, data: bytes, chunk: Any) -> None:
        """Look at a decoded chunk (``data`` its bytes) while the shape is not known."""
        if self._first is None:  # the stream's first chunk: its id and created are every chunk's
            self._begin(chunk)
            return
        self._tries += 1
        if self._tries > TRIES:
            self.learning = False
            return
        if type(chunk) is not dict or "usage" in chunk or list(chunk)[:4] != ["id", "object", "created", "model"]:
            return
        model = chunk["model"]
        if (chunk["id"], chunk["created"]) != self._first or type(chunk["created"]) is not int:
            return
        if chunk["object"] != "chat.completion.chunk" or type(model) is not str:
            return
        choices = chunk.get("choices")
        if type(choices) is not list or len(choices) != 1:
            return
        choice = choices[0]
        if type(choice) is not dict or "finish_reason" not in choice or choice["finish_reason"] is not None:
            return
        delta = choice.get("delta")
        if type(delta) is not dict or len(delta) != 1 or type(delta.get("content")) is not str:
            return
        text = delta["content"]
        if not plain_text(text) or not data.isascii() or orjson.dumps(chunk) != data:
            return
        cut = len(_lead(chunk["id"], chunk["created"], model))
        needle = TEXT_OPEN + text.encode() + TEXT_CLOSE
        at = data.find(needle)
        if at < cut or data.find(needle, at + 1) >= 0:
            return
        rest = (data[cut : at + len(TEXT_OPEN)], data[at + len(needle) - len(TEXT_CLOSE) :])
        if len(_KNOWN) >= KNOWN_MAX:
            _KNOWN.clear()
        _KNOWN[model] = rest
        self._use(data[:cut], *rest)
        self.learning = False

    def _begin(self, chunk: Any) -> None:
        """The first chunk: its id and created, and the shape an earlier stream of its model showed."""
        if type(chunk) is not dict:
            self.learning = False
            return
        cid, created, model = chunk.get("id"), chunk.get("created"), chunk.get("model")
        if type(cid) is not str or not cid or type(created) is not int:
            self.learning = False
            return
        self._first = (cid, created)
        if type(model) is str:
            known = _KNOWN.get(model)
            if known is not None:  # tried on this stream's chunks; a decoded text chunk still teaches its own
                self._use(_lead(cid, created, model), *known)

    def _use(self, lead: bytes, before: bytes, after: bytes) -> None:
        """Match text chunks made of ``lead``, ``before``, the text and ``after``."""
        self._head = lead + before
        self._post = after
        self._least = len(self._head) + len(after)
        self._text_at, self._text_end = len(self._head), -len(after)
        self._cut = len(lead)


def _lead(cid: str, created: int, model: str) -> bytes:
    """A chunk's leading members as orjson writes them, up to the comma that follows them."""
    return orjson.dumps({"id": cid, "object": "chat.completion.chunk", "created": created, "model": model})[:-1] + b","


# The text chunk shape last seen for each upstream model name: the bytes between the leading members
# and the text, and after the text. A stream of a known model relays its text chunks from the first.
# What they hold was checked to be orjson's writing when learned; a stream whose chunks look otherwise
# does not match and is decoded (and teaches its own shape).
_KNOWN: dict[str, tuple[bytes, bytes]] = {}
KNOWN_MAX = 256
