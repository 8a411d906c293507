"""The ``local`` provider: the gateway prompts the child's model itself and builds OpenAI's answers.

What differs from a remote OpenAI-compatible upstream:

- the conversation is rendered here (``conversation.py``) and sent to the child's plain
  completion endpoint, so every message shape clients send is accepted, and tool calling
  is the gateway's: the tools are shown in the prompt and the output is bound by a grammar
  built from their schemas (``tool_grammar.py``); the answer is built here
  (``tool_answer.py``), the same way streamed or not;
- the model is shared: each owner holds a bounded number of places, and a prompt that cannot
  fit the context is refused before the child spends time on it (``admission.py``);
- while the child is loading (start-up or a restart) a request waits for it, bounded,
  instead of failing; a child that cannot become ready is 503 ``provider_not_available``;
  a request that finds the child just died waits for the restarted one and is sent once more;
- the child only answers requests carrying its API key, which only the gateway knows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable, TypeVar

import orjson

from meshapi_gateway.http_client import TransportError
from meshapi_gateway.ids import ulid
from meshapi_gateway.providers.base import CallContext, Target, UpstreamError
from meshapi_gateway.providers.local import admission, conversation, tool_answer, tool_grammar
from meshapi_gateway.providers.local.stops import StopMatcher
from meshapi_gateway.providers.local.supervisor import ModelServer
from meshapi_gateway.providers.openai_compat import OpenAICompatProvider
from meshapi_gateway.providers.openai_compat.chunk_reads import SSEChunkReads

log = logging.getLogger("meshapi_gateway.local_model")

T = TypeVar("T")

# A call needs room to finish its JSON even when the client asked for very few tokens.
CALL_MIN_TOKENS = 512
_SAMPLING = ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty")


def not_available(message: str) -> UpstreamError:
    # Retryable: a request that names fallbacks moves on to them.
    return UpstreamError("provider_not_available", message, status=503, retryable=True)


def _found_no_server(exc: UpstreamError) -> bool:
    """A refused or dropped connection (not an HTTP answer): the child may have died."""
    return exc.upstream_status is None and exc.code in ("upstream_error", "stream_interrupted")


@dataclass(slots=True)
class Prepared:
    """One request made ready for the child: its prompt, what it may answer, and its bounds."""

    plan: tool_grammar.ToolPlan
    payload: dict[str, Any]
    prompt_tokens: int
    # Text answers stop here (the client's max_tokens), even when a call was given more room.
    text_limit: int | None
    stops: list[str] = field(default_factory=list)  # the client's stop sequences, matched here (stops.py)


@dataclass(slots=True)
class Answer:
    """What one generation produced."""

    text: str = ""
    calls: list[dict[str, Any]] | None = None
    finish: str = "stop"
    tokens: int = 0
    stop_sequence: str | None = None  # the client's stop sequence that ended the text


class LocalProvider(OpenAICompatProvider):
    name = "local"
    # A chat is a read of the child's stream: the router's watchdog bounds the whole call.
    applies_call_timeouts = False

    def __init__(
        self, supervisor: ModelServer, ready_timeout: float = 60.0, n_ctx: int = 8192, max_concurrent_per_owner: int = 2
    ) -> None:
        self.supervisor = supervisor
        self.ready_timeout = ready_timeout
        self.n_ctx = n_ctx
        self.shares = admission.OwnerShares(max_concurrent_per_owner)

    def _headers(self, target: Target, ctx: CallContext) -> dict[str, str]:
        headers = super()._headers(target, ctx)
        # llama.cpp's server rejects (400, empty body) an X-Request-Id that is not a UUID; ours are not.
        headers.pop("x-request-id", None)
        headers.update(self.supervisor.auth_headers)
        return headers

    async def _when_ready(self, call: Callable[[], Awaitable[T]]) -> T:
        sup = self.supervisor
        if not await sup.wait_ready(self.ready_timeout):
            raise not_available(f"The local model did not become ready within {self.ready_timeout:g}s.")
        generation = sup.generation
        try:
            return await call()
        except UpstreamError as exc:
            if not _found_no_server(exc) or not await sup.wait_for_restart(generation, self.ready_timeout):
                raise
            log.info("local model server was restarted; sending the request again")
            return await call()

    # -- preparing -------------------------------------------------------------
    async def _prepare(self, body: dict[str, Any], ctx: CallContext) -> Prepared:
        try:
            plan = tool_grammar.plan(body)
        except tool_grammar.ToolChoiceError as exc:
            raise UpstreamError("validation_error", str(exc), status=422) from None
        messages = body.get("messages") or []
        admission.check_chars(self.n_ctx, conversation.prompt_chars(messages, plan.tools))
        prompt = conversation.render(messages, tool_grammar.tools_prompt(plan))
        if not await self.supervisor.wait_ready(self.ready_timeout):
            raise not_available(f"The local model did not become ready within {self.ready_timeout:g}s.")
        prompt_tokens = await self._count_tokens(prompt, ctx)
        asked = body.get("max_completion_tokens") or body.get("max_tokens")
        max_tokens = asked if isinstance(asked, int) and asked > 0 else None
        admission.check_tokens(self.n_ctx, prompt_tokens, max_tokens)
        room = self.n_ctx - prompt_tokens
        budget = min(room, max(max_tokens or room, CALL_MIN_TOKENS)) if plan.mode != "text" else (max_tokens or room)
        stop = body.get("stop")
        stops = [s for s in ([stop] if isinstance(stop, str) else list(stop or [])) if isinstance(s, str) and s]
        payload: dict[str, Any] = {"prompt": prompt, "max_tokens": budget, "stop": [conversation.END], "stream": True}
        payload.update({k: body[k] for k in _SAMPLING if body.get(k) is not None})
        grammar = tool_grammar.grammar(plan)
        if grammar is not None:
            payload["grammar"] = grammar
        return Prepared(plan, payload, prompt_tokens, max_tokens, stops)

    # -- generating ------------------------------------------------------------
    async def _open(self, prep: Prepared, target: Target, ctx: CallContext) -> AsyncIterator[dict[str, Any]]:
        async def post() -> AsyncIterator[dict[str, Any]]:
            resp = await self._post(self.supervisor.url + "/v1/completions", prep.payload, target, ctx, total=None)
            return SSEChunkReads(resp, self.name)

        return await self._when_ready(post)

    async def _generate(
        self, prep: Prepared, chunks: AsyncIterator[dict[str, Any]], answer: Answer
    ) -> AsyncIterator[str]:
        """Text pieces as they come (none for a call); ``answer`` holds the outcome at the end."""
        kind = {"text": "text", "call": "call"}.get(prep.plan.mode)  # "either": decided by the first text
        held: list[str] = []
        matcher = StopMatcher(prep.stops) if prep.stops else None
        try:
            async for chunk in chunks:
                for choice in chunk.get("choices") or []:
                    piece = choice.get("text") or ""
                    if choice.get("finish_reason"):
                        answer.finish = str(choice["finish_reason"])
                    if not piece:
                        continue
                    answer.tokens += 1
                    if kind is None:
                        held.append(piece)
                        start = "".join(held).lstrip()
                        if not start:
                            continue
                        kind = "call" if start.startswith("{") else "text"
                        if kind == "call":
                            continue
                        piece = "".join(held)
                        held.clear()
                    if kind == "call":
                        held.append(piece)
                        continue
                    if matcher is not None:
                        piece = matcher.feed(piece)
                        if matcher.hit is not None:  # a stop sequence: the answer ends before it
                            answer.finish, answer.stop_sequence = "stop", matcher.hit
                            if piece:
                                answer.text += piece
                                yield piece
                            return
                    if piece:
                        answer.text += piece
                        yield piece
                    if prep.text_limit is not None and answer.tokens >= prep.text_limit:
                        answer.finish = "length"
                        break
        finally:
            close = getattr(chunks, "aclose", None)
            if close is not None:
                await close()
        if matcher is not None and kind == "text":
            rest = matcher.rest()
            if rest:
                answer.text += rest
                yield rest
        if kind == "call":
            answer.calls = tool_answer.parse_calls("".join(held))
            if answer.calls is None:
                raise UpstreamError(
                    "upstream_error",
                    f"The local model did not finish its tool call within {prep.payload['max_tokens']} tokens.",
                    status=500,
                )
        elif held:
            answer.text += "".join(held)
            yield "".join(held)

    def _usage(self, prep: Prepared, answer: Answer) -> dict[str, int]:
        return {
            "prompt_tokens": prep.prompt_tokens,
            "completion_tokens": answer.tokens,
            "total_tokens": prep.prompt_tokens + answer.tokens,
        }

    # -- the provider interface ------------------------------------------------
    async def chat(self, body: dict[str, Any], target: Target, ctx: CallContext) -> dict[str, Any]:
        with self.shares.hold(ctx.owner):
            prep = await self._prepare(body, ctx)
            chunks = await self._open(prep, target, ctx)
            answer = Answer()
            async for _ in self._generate(prep, chunks, answer):
                pass
        return tool_answer.completion(
            "chatcmpl-" + ulid(),
            target.upstream_model,
            answer.text,
            answer.calls,
            answer.finish,
            self._usage(prep, answer),
            answer.stop_sequence,
        )

    async def open_chat_stream(
        self, body: dict[str, Any], target: Target, ctx: CallContext
    ) -> AsyncIterator[dict[str, Any]]:
        hold = self.shares.hold(ctx.owner)
        hold.__enter__()
        try:
            prep = await self._prepare(body, ctx)
            chunks = await self._open(prep, target, ctx)
        except BaseException:
            hold.__exit__(None, None, None)
            raise
        return self._stream(prep, chunks, target, hold)

    async def _stream(
        self, prep: Prepared, chunks: AsyncIterator[dict[str, Any]], target: Target, hold: Any
    ) -> AsyncIterator[dict[str, Any]]:
        completion_id, model = "chatcmpl-" + ulid(), target.upstream_model
        answer = Answer()
        try:
            first = True
            async for piece in self._generate(prep, chunks, answer):
                delta = {"role": "assistant", "content": piece} if first else {"content": piece}
                first = False
                yield tool_answer.chunk(completion_id, model, delta)
            if answer.calls:
                for out in tool_answer.call_chunks(completion_id, model, answer.calls):
                    yield out
            else:
                yield tool_answer.chunk(
                    completion_id,
                    model,
                    {} if not first else {"role": "assistant", "content": ""},
                    answer.finish,
                    answer.stop_sequence,
                )
            yield {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "model": model,
                "choices": [],
                "usage": self._usage(prep, answer),
            }
        finally:
            hold.__exit__(None, None, None)

    async def embeddings(self, body: dict[str, Any], target: Target, ctx: CallContext) -> dict[str, Any]:
        return await self._when_ready(lambda: super(LocalProvider, self).embeddings(body, target, ctx))

    async def count_prompt_tokens(self, body: dict[str, Any], ctx: CallContext) -> int:
        """The tokens ``body``'s prompt (conversation and tools, rendered as for an answer) takes, by the model's
        own tokenizer; used by Anthropic's count_tokens."""
        try:
            plan = tool_grammar.plan(body)
        except tool_grammar.ToolChoiceError as exc:
            raise UpstreamError("validation_error", str(exc), status=422) from None
        prompt = conversation.render(body.get("messages") or [], tool_grammar.tools_prompt(plan))
        return await self._when_ready(lambda: self._count_tokens(prompt, ctx))

    async def _count_tokens(self, text: str, ctx: CallContext) -> int:
        try:
            resp = await ctx.session.post(
                self.supervisor.url + "/extras/tokenize/count",
                orjson.dumps({"input": text}),
                {"content-type": "application/json", **self.supervisor.auth_headers},
                connect_timeout=10,
                read_timeout=30,
                total_timeout=30,
            )
            async with resp:
                if resp.status == 200:
                    return int(orjson.loads(await resp.read())["count"])
        except (TransportError, TimeoutError, KeyError, ValueError, TypeError):
            log.debug("counting prompt tokens failed", exc_info=True)
        return max(1, len(text) // 4)
