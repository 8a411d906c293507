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

A model's first (role) chunk, finish chunk and the bytes of its usage chunk up to the usage are
kept the same way, each once one of them has been decoded and found to be orjson's writing. A
read made of nothing but such chunks of its stream (its first chunk, a run of text chunks, its
finish chunk, its usage chunk, ``[DONE]``, each there or not, in that order) is recognized in one
pass over its events (``scan``) and handed out as one ``RelayedRead``; any other read is taken
event by event as before. What a first or finish chunk becomes for the client is the normalizer's
to say (``chat/normalize.py``), which works it out once from the chunk decoded.
"""

from __future__ import annotations

import re
import sys
from typing import Any

import orjson

from meshapi_gateway.providers.chunk_batches import EVENT_SEP, RelayedRead

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

    # Defaults on the class, no ``__init__``: a stream makes one shape, and a Python call setting twenty-odd
    # slots cost more than the attributes a stream of a known model then sets (``begin_bytes``, ``_ready``).
    learning = True  # False when the first chunk is not one to learn from, or all is known
    # The first chunk's id and created, as every chunk is stamped (None: the first chunk is not read yet;
    # an attribute, not a property: the reader asks once a stream, and a property is a Python call).
    stamp: tuple[str, int] | None = None
    _tries = 0
    # What a text chunk of the shape begins with (empty until a shape is known); an attribute, not a
    # property, as ``cut`` below: the reader asks once a read.
    head = b""
    _post = b""  # and after it
    _least = sys.maxsize  # len(head) + len(post): no chunk is that long before the shape is known
    _text_at = 0  # len(head)
    _text_end = 0  # -len(post)
    cut = 0  # where the members after id, object, created and model begin
    _cid = ""  # the first chunk's id, as decoded
    _model = ""  # and its model
    _matched = False  # a text chunk of this stream was matched (or taught the shape)
    _lead = b""  # the first chunk's leading members as its bytes hold them
    _stamped = b""  # and its id, object and created members, when read from its bytes (``begin_bytes``)
    # What is known of the stream's model, once its lead is: then its reads are tried whole (``scan``).
    known: _Known | None = None
    _lr = _lf = _lu = _run_in = b""  # its chunks' bytes, set by ``_ready``
    _first_tail: bytes | None = None  # and what they were made from
    _finish_tail: bytes | None = None
    _text: tuple[bytes, bytes] | None = None

    def match(self, data: bytes) -> str | None:
        """The text of ``data`` when it is a text chunk of the known shape (its leading members
        ``cut`` bytes long), else None."""
        # Slices compared rather than ``startswith``/``endswith``: those parse their arguments as a
        # tuple on every call, which cost more than the copies of a chunk's few hundred bytes.
        at, end = self._text_at, self._text_end
        if len(data) < self._least or data[:at] != self.head or data[end:] != self._post:
            return None
        raw = data[at:end]
        if not raw.isascii():
            return None
        text = raw.decode()
        if not text.isprintable() or '"' in text or "\\" in text:
            return None
        self._matched = True  # a shape known from an earlier stream holds for this one
        return text

    def learn(self, data: bytes, chunk: Any) -> None:
        """Look at a decoded chunk (``data`` its bytes): what it shows of its model's chunks is kept."""
        if self.stamp is None:  # the stream's first chunk: its id and created are every chunk's
            self._begin(data, chunk)
            return
        if type(chunk) is not dict or list(chunk)[:4] != ["id", "object", "created", "model"]:
            return
        model = chunk["model"]
        if (chunk["id"], chunk["created"]) != self.stamp or type(chunk["created"]) is not int:
            return
        if chunk["object"] != "chat.completion.chunk" or type(model) is not str:
            return
        known = _KNOWN.get(model)
        if "usage" in chunk:
            if known is None or known.usage is None:
                self._learn_usage(data, chunk, model)
            return
        choices = chunk.get("choices")
        if type(choices) is not list or len(choices) != 1:
            return
        choice = choices[0]
        if type(choice) is not dict or "finish_reason" not in choice:
            return
        if choice["finish_reason"] is not None:
            if (known is None or known.finish is None) and choice.get("delta") == {}:
                self._keep(data, chunk, model, "finish")
            return
        if self._matched or self._tries >= TRIES:
            if known is not None and known.first is not None and known.finish is not None and known.usage is not None:
                self.learning = False  # nothing left to learn: the stream's further chunks are not looked at
            return
        self._tries += 1
        delta = choice.get("delta")
        if type(delta) is not dict or len(delta) != 1 or type(delta.get("content")) is not str:
            if type(delta) is dict and "tool_calls" in delta:
                # A tool-call stream has no text chunks to learn from: its next chunks need not be tried.
                self._tries = TRIES
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
        self._use(data[:cut], *rest)
        self._matched = True  # learned from this stream: its further text chunks are matched or not plain
        self._learned(model, "text", rest)

    def _begin(self, data: bytes, chunk: Any) -> None:
        """The first chunk: its id and created, and what an earlier stream of its model showed."""
        if type(chunk) is not dict:
            self.learning = False
            return
        cid, created, model = chunk.get("id"), chunk.get("created"), chunk.get("model")
        if type(cid) is not str or not cid or type(created) is not int:
            self.learning = False
            return
        self.stamp = (cid, created)
        if type(model) is not str:
            return
        self._cid, self._model = cid, model
        self._lead = _lead(cid, created, model)
        known = _KNOWN.get(model)
        if known is not None:  # tried on this stream's chunks; a decoded text chunk still teaches its own
            self.known = known
            self._ready()
        if (known is None or known.first is None) and list(chunk)[:4] == ["id", "object", "created", "model"]:
            choices = chunk.get("choices")
            choice = choices[0] if type(choices) is list and len(choices) == 1 else None
            delta = choice.get("delta") if type(choice) is dict else None
            # A first chunk with text in it (no role chunk) would never repeat: not kept.
            if type(delta) is dict and not delta.get("content") and "tool_calls" not in delta and "usage" not in chunk:
                self._keep(data, chunk, model, "first")

    def _learned(self, model: str, which: str, value: Any) -> None:
        """Keep ``value`` as ``which`` of ``model``'s chunks (and scan this stream's next reads with it)."""
        known = _KNOWN.get(model)
        if known is None:
            if len(_KNOWN) >= KNOWN_MAX:
                _KNOWN.clear()
            known = _KNOWN[model] = _Known()
        setattr(known, which, value)
        if which == "text":
            known.run_out = value[1] + EVENT_SEP
        if model == self._model and self._lead:
            self.known = known
            self._ready()

    def begin_bytes(self, data: bytes) -> bool:
        """The first chunk read from its bytes when its model's chunks are known (else False: decode it).

        Its leading members must be what orjson writes for a plain id, an integer time and a plain model name.
        """
        # One match in C (the lead's fixed bytes, the digits, the id and the model name printable ASCII
        # without a quote or a backslash, so that they stand for themselves) rather than a dozen calls.
        found = _LEAD_BYTES.match(data)
        if found is None:
            return False
        cid_b, digits, model_b = found.groups()
        model = model_b.decode()
        known = _KNOWN.get(model)
        if known is None:
            return False
        cid = cid_b.decode()
        self.stamp = (cid, int(digits))
        self._cid, self._model = cid, model
        self._lead = data[: found.end()]
        self._stamped = data[: found.end(2)]
        self.known = known
        self._ready()
        return True

    def _ready(self) -> None:
        """The stream's chunks as bytes, for ``scan``, from its lead and what is known of its model."""
        known = self.known
        assert known is not None
        lead = self._lead
        # Taken now: another stream of the model may learn other shapes while this one is read.
        text = self._text = known.text
        self._first_tail, self._finish_tail = known.first, known.finish
        if text is not None:  # what ``_use`` sets, with the model's tuple and its text end kept
            before, after = text
            head = self.head = lead + before
            self._post = after
            # Between two text chunks of a run: the end of one, the event boundary, the start of the next.
            self._run_in = known.run_out + head
            self._least = len(head) + len(after)
            self._text_at, self._text_end = len(head), -len(after)
            self.cut = len(lead)
        else:
            self._run_in = b""
        self._lr = lead + known.first if known.first is not None else b""
        self._lf = lead + known.finish if known.finish is not None else b""
        self._lu = lead + known.usage if known.usage is not None else b""

    def scan(self, events: list[bytes]) -> tuple[RelayedRead | None, bool]:
        """A read's events as one ``RelayedRead`` (None when it has none to relay) and whether it ends
        the stream; ``(None, False)`` when an event is not one of the shapes known (decode them)."""
        if self.known is None or not events:
            return None, False
        j = len(events)
        done = events[-1] == b"[DONE]"
        if done:
            j -= 1
        usage = None
        lu = self._lu
        usage_data: bytes | None = None
        if j and lu:
            data = events[j - 1]
            if data[: len(lu)] == lu:
                # No line break in it either: the reader leaves the events of a read it may relay whole
                # unlooked at (``SSEDataParser.read_events``), and every other event here is matched byte
                # for byte against chunks orjson wrote, or has its text checked printable.
                if data[-1:] != b"}" or data.find(b"\n") >= 0:
                    return None, False
                usage_data = data[len(lu) : -1]  # decoded once the rest of the read is known to match
                j -= 1
        finish = None
        finish_data = b""
        if j and self._lf and events[j - 1] == self._lf:
            j -= 1
            finish = self._finish_tail
            finish_data = events[j]
        i = 0
        if j and self._lr and events[0] == self._lr:
            i = 1
        raw: list[bytes] = []
        texts: list[str] = []
        if i < j:
            if self._text is None:
                return None, False
            at, end = self._text_at, self._text_end
            run = events[i:j]
            # A read with other chunks (tool calls, say) is most often told by its first or last one.
            if run[0][:at] != self.head or run[-1][end:] != self._post:
                return None, False
            raw = [data[at:end] for data in run]
            # One comparison for the whole run: every event is a text chunk of the shape around its text.
            if self.head + self._run_in.join(raw) + self._post != EVENT_SEP.join(run):
                return None, False
            # The texts checked together, a quote between them (no plain text holds one).
            joined = b'"'.join(raw)
            if not joined.isascii():
                return None, False
            decoded = joined.decode()
            if not decoded.isprintable() or "\\" in decoded:
                return None, False
            texts = decoded.split('"')
            if len(texts) != len(raw):
                return None, False
            if "" in texts:
                texts = [text for text in texts if text]
        elif i == 0 and finish is None and usage_data is None:
            return None, done  # nothing but [DONE] (or nothing)
        if usage_data is not None:
            try:
                usage = orjson.loads(usage_data)
            except orjson.JSONDecodeError:
                return None, False
            if type(usage) is not dict:
                return None, False
        got = RelayedRead()
        got.cid, got.created = self._cid, self.stamp[1]  # type: ignore[index]
        got.stamped = self._stamped
        got.first = self._first_tail if i else None
        got.raw, got.texts = raw, texts
        got.before, got.after = self._text if self._text is not None else (b"", b"")
        got.finish, got.finish_data = finish, finish_data
        got.usage = usage
        return got, done

    def _keep(self, data: bytes, chunk: dict[str, Any], model: str, which: str) -> None:
        """Keep the bytes after the leading members of a first or finish chunk that orjson wrote."""
        if not data.isascii() or orjson.dumps(chunk) != data:
            return
        self._learned(model, which, data[len(_lead(chunk["id"], chunk["created"], model)) :])

    def _learn_usage(self, data: bytes, chunk: dict[str, Any], model: str) -> None:
        """Keep a usage chunk's bytes up to its usage, when the usage is its last member and it has no choices."""
        usage = chunk["usage"]
        if type(usage) is not dict or list(chunk)[-1] != "usage" or chunk.get("choices"):
            return
        if not data.isascii() or orjson.dumps(chunk) != data:
            return
        upto = data[len(_lead(chunk["id"], chunk["created"], model)) : len(data) - len(orjson.dumps(usage)) - 1]
        if upto.endswith(b'"usage":'):
            self._learned(model, "usage", upto)

    def _use(self, lead: bytes, before: bytes, after: bytes) -> None:
        """Match text chunks made of ``lead``, ``before``, the text and ``after``.

        ``scan`` writes a run's texts between the same ``before`` and ``after`` it matched them with:
        a text chunk may teach a shape of another model than the stream's first chunk names.
        """
        self.head = lead + before
        self._post = after
        self._text = (before, after)
        self._run_in = after + EVENT_SEP + self.head
        self._least = len(self.head) + len(after)
        self._text_at, self._text_end = len(self.head), -len(after)
        self.cut = len(lead)


# A first chunk's leading members as orjson writes them for a plain id and model name and an integer time
# (``begin_bytes``): the id, the time's digits and the model name.
_PLAIN = rb"[ !#-\[\]-~]"  # printable ASCII but a quote and a backslash
_LEAD_BYTES = re.compile(
    rb'\{"id":"('
    + _PLAIN
    + rb'+)","object":"chat\.completion\.chunk","created":(0|[1-9][0-9]*),"model":"('
    + _PLAIN
    + rb'*)",'
)


def _lead(cid: str, created: int, model: str) -> bytes:
    """A chunk's leading members as orjson writes them, up to the comma that follows them."""
    return orjson.dumps({"id": cid, "object": "chat.completion.chunk", "created": created, "model": model})[:-1] + b","


class _Known:
    """What is known of one upstream model's chunks: the bytes after their leading members."""

    __slots__ = ("finish", "first", "run_out", "text", "usage")

    def __init__(self) -> None:
        self.text: tuple[bytes, bytes] | None = None  # a text chunk's, before and after its text
        self.run_out = b""  # and after it the event boundary, the same for every stream of the model
        self.first: bytes | None = None  # a first chunk's without text (the role chunk)
        self.finish: bytes | None = None  # a finish chunk's without text
        self.usage: bytes | None = None  # a usage chunk's, up to its usage


# What is known of each upstream model's chunks (at most ``KNOWN_MAX`` names). A stream of a known
# model relays its chunks from the first. What they hold was checked to be orjson's writing when
# learned; a stream whose chunks look otherwise does not match and is decoded (and teaches its own).
_KNOWN: dict[str, _Known] = {}
KNOWN_MAX = 256
