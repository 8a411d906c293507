"""Making upstream chat output look the same whoever produced it.

Non-stream: the public model id, ids and types on tool calls, integer usage.
Stream: content passes through at once; tool-call fragments are held until the call
is complete and then sent whole in one delta (docs/wire.md, Chat completions: the 0.1.0 SDK rejects
fragments, and OpenAI clients accept a one-piece delta); usage is held for the final
``choices: []`` chunk, which carries ``cost``.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from meshapi_gateway.ids import ulid
from meshapi_gateway.providers.chunk_batches import EVENT_SEP, RelayedDelta, RelayedRead
from meshapi_gateway.sse import frame
from meshapi_gateway.wire_json import dumps_ascii, escape_non_ascii


def call_id() -> str:
    return "call_" + ulid().lower()


def normalize_tool_call(tc: dict[str, Any], index: int | None = None) -> dict[str, Any]:
    fn = tc.get("function") or {}
    args = fn.get("arguments")
    out: dict[str, Any] = {
        "id": tc.get("id") or call_id(),
        "type": "function",
        "function": {"name": fn.get("name") or "", "arguments": args if isinstance(args, str) else "{}"},
    }
    if index is not None:
        out["index"] = index
    return out


def normalize_completion(data: dict[str, Any], public_model: str) -> dict[str, Any]:
    data["model"] = public_model
    if "id" not in data:  # not ``setdefault``: that would make an id for every answer that has one
        data["id"] = "chatcmpl-" + ulid()
    data["object"] = "chat.completion"
    if not isinstance(data.get("created"), int):
        data["created"] = int(time.time())
    for i, choice in enumerate(data.get("choices") or []):
        choice.setdefault("index", i)
        msg = choice.get("message") or {}
        msg.setdefault("role", "assistant")
        calls = msg.get("tool_calls")
        if calls:
            msg["tool_calls"] = [normalize_tool_call(tc) for tc in calls]
        elif "tool_calls" in msg:
            del msg["tool_calls"]
        choice["message"] = msg
    usage = data.get("usage")
    if isinstance(usage, dict):
        for k in ("prompt_tokens", "completion_tokens", "total_tokens"):
            usage[k] = int(usage.get(k) or 0)
        if not usage["total_tokens"]:
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    return data


class StreamNormalizer:
    """Feed upstream chunks in, get client chunks out."""

    def __init__(self, public_model: str) -> None:
        self.public_model = public_model
        self.id = ""
        self.created = 0
        self.usage: dict[str, Any] | None = None
        self.finish_reason: str | None = None
        self.content_chunks = 0
        self.text_parts: list[str] = []
        self.pending_calls: dict[int, dict[int, dict[str, Any]]] = {}  # choice index → call index → call
        self.tool_calls: list[dict[str, Any]] = []

    def _stamp(self, chunk: dict[str, Any]) -> dict[str, Any]:
        chunk["id"] = self.id
        chunk["object"] = "chat.completion.chunk"
        chunk["created"] = self.created
        chunk["model"] = self.public_model
        return chunk

    def _merge_calls(self, choice_index: int, fragments: list[dict[str, Any]]) -> None:
        pending = self.pending_calls.setdefault(choice_index, {})
        for pos, frag in enumerate(fragments):
            idx = frag.get("index")
            if not isinstance(idx, int):
                # No index: a new id starts a new call, otherwise it continues the last one.
                if frag.get("id") and all(c.get("id") != frag.get("id") for c in pending.values()):
                    idx = len(pending)
                else:
                    idx = max(pending) if pending else pos
            call = pending.get(idx)
            fn = frag.get("function") or {}
            if call is None:
                call = pending[idx] = {
                    "index": idx,
                    "id": frag.get("id") or "",
                    "type": "function",
                    "function": {"name": fn.get("name") or "", "arguments": ""},
                }
            else:
                if frag.get("id") and not call["id"]:
                    call["id"] = frag["id"]
                if fn.get("name") and not call["function"]["name"]:
                    call["function"]["name"] = fn["name"]
            args = fn.get("arguments")
            if isinstance(args, str):
                call["function"]["arguments"] += args
            elif isinstance(args, dict):
                import orjson

                call["function"]["arguments"] += orjson.dumps(args).decode()

    def _flush_calls(self, choice_index: int) -> list[dict[str, Any]]:
        pending = self.pending_calls.pop(choice_index, None)
        if not pending:
            return []
        out = []
        for idx in sorted(pending):
            call = pending[idx]
            if not call["id"]:
                call["id"] = call_id()
            if not call["function"]["arguments"]:
                call["function"]["arguments"] = "{}"
            self.tool_calls.append(call)
            out.append(
                self._stamp(
                    {"choices": [{"index": choice_index, "delta": {"tool_calls": [call]}, "finish_reason": None}]}
                )
            )
        return out

    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        if not self.id:
            self.id = str(chunk.get("id") or ("chatcmpl-" + ulid()))
            created = chunk.get("created")
            self.created = created if isinstance(created, int) else int(time.time())
        usage = chunk.pop("usage", None)
        if isinstance(usage, dict):
            self.usage = usage
        choices = chunk.get("choices") or []
        if not choices:
            return []
        out: list[dict[str, Any]] = []
        kept = []
        for choice in choices:
            ci = choice.get("index", 0)
            delta = choice.get("delta") or {}
            frags = delta.pop("tool_calls", None)
            if frags:
                self._merge_calls(ci, frags)
            finish = choice.get("finish_reason")
            content = delta.get("content")
            if isinstance(content, str) and content:
                self.content_chunks += 1
                self.text_parts.append(content)
            if finish:
                self.finish_reason = finish
                if delta:
                    out.append(self._stamp({"choices": [{"index": ci, "delta": delta, "finish_reason": None}]}))
                out.extend(self._flush_calls(ci))
                if self.tool_calls and finish == "stop" and not self._forced_named:
                    finish = "tool_calls"
                kept_choice = {"index": ci, "delta": {}, "finish_reason": finish}
                if "logprobs" in choice:
                    kept_choice["logprobs"] = choice["logprobs"]
                stopped_by = choice.get("stop_reason")
                if isinstance(stopped_by, str):  # the stop sequence that ended it (vLLM, the local model)
                    kept_choice["stop_reason"] = stopped_by
                out.append(self._stamp({"choices": [kept_choice]}))
                continue
            if delta or choice.get("logprobs") is not None:
                choice["delta"] = delta
                choice.setdefault("finish_reason", None)
                kept.append(choice)
        if kept:
            chunk["choices"] = kept
            out.insert(0, self._stamp(chunk))
        return out

    def feed_batch(self, chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``feed`` for every chunk of one upstream read, in order.

        Most chunks carry one choice with a piece of text and nothing else; those are stamped
        here directly (what ``feed`` would do with them), the rest go through ``feed``. A
        ``RelayedDelta`` (a run of such chunks left as bytes) gets the stamped members put in front
        of each.
        """
        if len(chunks) == 1:
            one = chunks[0]
            lead = self._relay_lead
            if type(one) is RelayedDelta and lead is not None and len(one.tails) == 1:
                # One text chunk as bytes after the stream's first (a slow stream's usual read): what the
                # loop below does with it, without the loop's setup, once a token.
                texts = one.texts
                if texts:
                    self.content_chunks += 1
                    self.text_parts += texts
                one.encoded = lead + one.tails[0]
                return [one]
        out: list[dict[str, Any]] = []
        if not self.id:
            if not chunks:
                return out
            first = chunks[0]
            if type(first) is RelayedRead:  # what ``feed`` takes from a first chunk
                self.id, self.created = first.cid, first.created
                if first.stamped:
                    # Its id and time stand for themselves in JSON (``TextShape.begin_bytes``): the relayed
                    # lead is their bytes and the public model's member, with no dict encoded a stream.
                    ahead = self._relay_lead = first.stamped + _model_member(self.public_model)
                    if len(chunks) == 1 and first.raw and first.finish is not None and first.first is not None:
                        # A fast stream's usual read, the whole stream recognized: what ``_relay_read`` makes of
                        # it, written at once (no loop, no call, no cached separator for a read that is the last).
                        ending = _ENDINGS.get(first.finish)
                        if ending is not None and _KEPT.get(first.first):
                            texts = first.texts
                            if texts:
                                self.content_chunks += len(texts)
                                self.text_parts += texts
                            before, after = first.before, first.after
                            self.finish_reason = ending[1]
                            if first.usage is not None:
                                self.usage = first.usage
                            relayed = RelayedDelta()
                            relayed.encoded = b"".join(
                                (
                                    ahead,
                                    first.first,
                                    EVENT_SEP,
                                    ahead,
                                    before,
                                    (after + EVENT_SEP + ahead + before).join(first.raw),
                                    after,
                                    EVENT_SEP,
                                    ending[0],
                                    ahead[1:-1],
                                    b"}",
                                )
                            )
                            out.append(relayed)
                            return out
            else:
                out.extend(self.feed(first))  # the first chunk fixes the id and time
                chunks = chunks[1:]
        sid, created, model = self.id, self.created, self.public_model
        for chunk in chunks:
            if type(chunk) is RelayedRead:
                self._relay_read(chunk, out)
                continue
            if type(chunk) is RelayedDelta:  # text chunks whose id and created are the first's
                texts = chunk.texts
                if texts:
                    self.content_chunks += len(texts)
                    self.text_parts += texts
                lead = self._relay_lead
                if lead is None:
                    lead = self._make_relay_lead()
                tails = chunk.tails
                if len(tails) == 1:
                    chunk.encoded = lead + tails[0]
                else:
                    sep = self._relay_sep or self._make_relay_sep(lead)
                    chunk.encoded = lead + sep.join(tails)
                out.append(chunk)
                continue
            choices = chunk.get("choices")
            if type(choices) is list and len(choices) == 1 and "usage" not in chunk:
                choice = choices[0]
                if type(choice) is dict and not choice.get("finish_reason"):
                    delta = choice.get("delta")
                    if type(delta) is dict and delta and "tool_calls" not in delta:
                        content = delta.get("content")
                        if type(content) is str and content:
                            self.content_chunks += 1
                            self.text_parts.append(content)
                        if "finish_reason" not in choice:
                            choice["finish_reason"] = None
                        chunk["id"] = sid
                        chunk["object"] = "chat.completion.chunk"
                        chunk["created"] = created
                        chunk["model"] = model
                        out.append(chunk)
                        continue
            out.extend(self.feed(chunk))
        return out

    def _relay_read(self, read: RelayedRead, out: list[dict[str, Any]]) -> None:
        """A read recognized by its bytes: what ``feed`` makes of its chunks, written as bytes."""
        lead = self._relay_lead
        if lead is None:
            lead = self._make_relay_lead()
        parts: list[bytes] = []
        if read.first is not None:
            # The dicts looked up here, ``_kept`` called only for a chunk not seen yet: one call less a stream.
            kept = _KEPT.get(read.first) or _kept(read.first)
            if kept is None:
                out.extend(self.feed(orjson.loads(_PROBE_LEAD + read.first)))
            else:
                parts.append(lead + read.first)
        raw = read.raw
        if raw:
            texts = read.texts
            if texts:
                self.content_chunks += len(texts)
                self.text_parts += texts
            before, after = read.before, read.after
            if self._run_around != (before, after):
                self._run_around = (before, after)
                self._run_sep = after + EVENT_SEP + lead + before
            parts.append(lead + before + (raw[0] if len(raw) == 1 else self._run_sep.join(raw)) + after)
        finish = read.finish
        late: list[dict[str, Any]] = []
        if finish is not None:
            ending = _ENDINGS[finish] if finish in _ENDINGS else _ending(finish)
            if ending is None or self.pending_calls or self.tool_calls:
                late = self.feed(orjson.loads(read.finish_data))  # calls held, or a shape of its own
            else:
                self.finish_reason = ending[1]
                parts.append(ending[0] + lead[1:-1] + b"}")
        if read.usage is not None:
            self.usage = read.usage
        if parts:
            relayed = RelayedDelta()
            relayed.encoded = parts[0] if len(parts) == 1 else EVENT_SEP.join(parts)
            out.append(relayed)
        if late:
            out.extend(late)

    def _make_relay_lead(self) -> bytes:
        """The stamped members as chunks relayed as bytes begin with (``_stamp`` of an empty chunk, encoded)."""
        lead = self._relay_lead = dumps_ascii(self._stamp({}))[:-1] + b","
        return lead

    def _make_relay_sep(self, lead: bytes) -> bytes:
        sep = self._relay_sep = EVENT_SEP + lead
        return sep

    _forced_named = False
    _run_around: tuple[bytes, bytes] | None = None  # the text chunk shape ``_run_sep`` was made for
    _run_sep = b""  # between the texts of a relayed run: the end of one chunk, the start of the next
    # The stamped id, object, created and model, encoded, for chunks relayed as bytes (made once).
    _relay_lead: bytes | None = None
    _relay_sep = b""  # what goes between two of them: the SSE separator, then the members

    def force_named_tool(self) -> None:
        """With ``tool_choice`` naming a function, ``stop`` stays ``stop`` (OpenAI's behaviour)."""
        self._forced_named = True

    def finish(self) -> list[dict[str, Any]]:
        """Calls still held when the upstream ended without a finish_reason."""
        out: list[dict[str, Any]] = []
        for ci in list(self.pending_calls):
            out.extend(self._flush_calls(ci))
        return out

    def usage_chunk(self, usage: dict[str, Any], cost: str | None) -> dict[str, Any]:
        chunk: dict[str, Any] = {"choices": [], "usage": usage}
        if cost is not None:
            chunk["cost"] = cost
        return self._stamp(chunk)

    def usage_frame(self, usage: dict[str, Any], cost: str | None) -> bytes:
        """``usage_chunk`` as its SSE frame (the same bytes as ``sse.frame`` of it); ``cost`` as ``money`` writes it.

        A stream whose chunks were relayed as bytes has its stamped members encoded already: the
        chunk is written around them instead of stamped into a dict and encoded whole, and the cost
        (digits, a sign, a point: it stands for itself in JSON) without an encoder call.
        """
        lead = self._relay_lead
        if lead is None:
            return frame(self.usage_chunk(usage, cost))
        raw = orjson.dumps(usage)
        if not raw.isascii():
            raw = escape_non_ascii(raw)
        cost_member = b',"cost":"' + cost.encode() + b'"' if cost is not None else b""
        return b"".join((b'data: {"choices":[],"usage":', raw, cost_member, b",", lead[1:-1], b"}\n\n"))


_MODEL_MEMBERS: dict[str, bytes] = {}


def _model_member(model: str) -> bytes:
    """The stamped ``model`` member as a relayed lead ends: ``,"model":…,`` (kept per public model)."""
    member = _MODEL_MEMBERS.get(model)
    if member is None:
        member = b',"model":' + dumps_ascii(model) + b","
        if len(_MODEL_MEMBERS) >= _PROBED_MAX:
            _MODEL_MEMBERS.clear()
        _MODEL_MEMBERS[model] = member
    return member


# What a first or finish chunk recognized by its bytes becomes (``RelayedRead``), worked out once per
# kind of chunk by ``feed`` itself on the chunk decoded, with leading members of its own.
_PROBE_LEAD = b'{"id":"x","object":"chat.completion.chunk","created":0,"model":"m",'
_PROBE_INNER = _PROBE_LEAD[1:-1]
_KEPT: dict[bytes, bool] = {}
_ENDINGS: dict[bytes, tuple[bytes, str] | None] = {}
_PROBED_MAX = 256


def _kept(first: bytes) -> bool | None:
    """True when ``feed`` hands a first chunk ending in ``first`` back as it is, but for its stamp."""
    kept = _KEPT.get(first)
    if kept is None:
        probe = StreamNormalizer("m")
        got = probe.feed(orjson.loads(_PROBE_LEAD + first))
        kept = (
            len(got) == 1
            and orjson.dumps(got[0]) == _PROBE_LEAD + first
            and not (probe.content_chunks or probe.finish_reason or probe.usage or probe.pending_calls)
        )
        if len(_KEPT) >= _PROBED_MAX:
            _KEPT.clear()
        _KEPT[first] = kept
    return kept or None


def _ending(finish: bytes) -> tuple[bytes, str] | None:
    """What ``feed`` writes for a finish chunk ending in ``finish`` before the stamped members it puts last,
    and its finish reason (when nothing is held: no tool calls)."""
    if finish in _ENDINGS:
        return _ENDINGS[finish]
    probe = StreamNormalizer("m")
    got = probe.feed(orjson.loads(_PROBE_LEAD + finish))
    ending = None
    if len(got) == 1 and probe.finish_reason and not (probe.content_chunks or probe.usage or probe.tool_calls):
        encoded = orjson.dumps(got[0])
        if encoded.endswith(b"," + _PROBE_INNER + b"}"):
            ending = (encoded[: -len(_PROBE_INNER) - 1], probe.finish_reason)
    if len(_ENDINGS) >= _PROBED_MAX:
        _ENDINGS.clear()
    _ENDINGS[finish] = ending
    return ending
