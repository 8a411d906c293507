"""A stream's plain text chunks recognized by their bytes, so the relay need not decode them.

An OpenAI-compatible upstream writes every piece of text of a stream in one shape, with the same
``id``, ``created`` and ``model`` throughout::

    {"id":…,"object":"chat.completion.chunk","created":…,"model":…,…,"choices":[{"index":0,
     "delta":{"content":"<text>"},"logprobs":null,"finish_reason":null}]}

Once one such chunk has been decoded and found to be byte for byte what orjson writes for it
(so decoding and encoding it again gives back the same bytes), a later chunk made of the same
bytes around other text is that chunk with the other text. It is handed out as a
``RelayedDelta``: its bytes after the leading members, and its text. The text must be printable
ASCII without a quote or a backslash, so that it stands for itself in JSON and would be written
back unchanged; any other chunk is decoded as before. What the client receives is the same.
"""

from __future__ import annotations

import sys
from typing import Any

import orjson

from meshapi_gateway.providers.chunk_batches import RelayedDelta

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

    def match(self, data: bytes) -> RelayedDelta | None:
        """``data`` as a ``RelayedDelta`` when it is a text chunk of the known shape, else None."""
        if len(data) < self._least or not data.startswith(self._head) or not data.endswith(self._post):
            return None
        raw = data[self._text_at : self._text_end]
        if not raw.isascii():
            return None
        text = raw.decode()
        if not text.isprintable() or '"' in text or "\\" in text:
            return None
        relayed = RelayedDelta()
        relayed.tail = data[self._cut :]
        relayed.text = text
        return relayed

    def learn(self, data: bytes, chunk: Any) -> None:
        """Look at a decoded chunk (``data`` its bytes) while the shape is not known."""
        if self._first is None:  # the stream's first chunk: its id and created are every chunk's
            cid = chunk.get("id") if type(chunk) is dict else None
            created = chunk.get("created") if type(chunk) is dict else None
            if type(cid) is not str or not cid or type(created) is not int:
                self.learning = False
            else:
                self._first = (cid, created)
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
        lead = orjson.dumps({"id": chunk["id"], "object": chunk["object"], "created": chunk["created"], "model": model})
        cut = len(lead)
        needle = TEXT_OPEN + text.encode() + TEXT_CLOSE
        at = data.find(needle)
        if data[: cut - 1] != lead[:-1] or data[cut - 1 : cut] != b"," or at < cut or data.find(needle, at + 1) >= 0:
            return
        self._head = data[: at + len(TEXT_OPEN)]
        self._post = data[at + len(needle) - len(TEXT_CLOSE) :]
        self._least = len(self._head) + len(self._post)
        self._text_at, self._text_end = len(self._head), -len(self._post)
        self._cut = cut
        self.learning = False
