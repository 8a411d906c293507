"""Compare, streamed: every model's tokens as ``delta`` events, interleaved as they arrive.

Each model streams through the chat pipeline in its own task and hands its pieces to one
bounded queue, which the response drains (so a slow client slows the upstreams instead
of filling memory). The response starts once one model has produced its first token; if
every model fails before that, the client gets a real HTTP 502 instead of a stream.
After the models come the judge's ``comparison_delta`` events, then ``done`` and ``[DONE]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AsyncGenerator, AsyncIterator

from meshapi_gateway.calls import Call
from meshapi_gateway.compare import results as res
from meshapi_gateway.compare.events import compare_frame, model_done_data
from meshapi_gateway.compare.judge import judge_body
from meshapi_gateway.compare.request import ComparePlan
from meshapi_gateway.errors import GatewayError, mid_stream_code
from meshapi_gateway.money import money
from meshapi_gateway.running_loop import running_loop
from meshapi_gateway.sse import DONE_FRAME, error_frame

if TYPE_CHECKING:
    from meshapi_gateway.chat.pipeline import ChatStream

QUEUE_SIZE = 256


@dataclass(slots=True)
class _Delta:
    model: str
    text: str


@dataclass(slots=True)
class _Done:
    result: dict[str, Any]


def _chunk_text(chunk: dict[str, Any]) -> tuple[str, str | None]:
    text, finish = "", None
    for choice in chunk.get("choices") or []:
        if choice.get("index", 0) != 0:
            continue
        content = (choice.get("delta") or {}).get("content")
        if isinstance(content, str):
            text += content
        finish = choice.get("finish_reason") or finish
    return text, finish


class CompareStream:
    def __init__(self, call: Call, plan: ComparePlan) -> None:
        self.pipeline = call.state.chat
        self.call = call
        self.plan = plan
        self.request_id = call.request_id
        self.comparison_id = res.comparison_id()
        self.started = time.perf_counter()
        self.queue: asyncio.Queue[_Delta | _Done] = asyncio.Queue(QUEUE_SIZE)
        self.tasks: list[asyncio.Task[None]] = []
        self.opened: dict[str, asyncio.Future[bool]] = {}

    # -- one model ---------------------------------------------------------------------------------
    async def _pump(self, model: str) -> None:
        started = time.perf_counter()
        opened = self.opened[model]
        try:
            call = self.call.part(res.model_request_id(self.request_id, model))
            stream = await self.pipeline.stream(call, {**self.plan.bodies[model], "stream": True})
        except GatewayError as exc:
            opened.set_result(False)
            await self.queue.put(_Done(res.failure(model, self.request_id, _ms(started), exc.code, exc.message)))
            return
        except BaseException:
            opened.set_result(False)
            raise
        opened.set_result(True)
        pieces: list[str] = []
        finish: str | None = None
        try:
            async for chunk in stream.chunks:
                text, chunk_finish = _chunk_text(chunk)
                finish = chunk_finish or finish
                if text:
                    pieces.append(text)
                    await self.queue.put(_Delta(model, text))
        finally:
            await stream.aclose()  # bills the call, also when cancelled
        await self.queue.put(_Done(self._result(model, stream, started, "".join(pieces), finish)))

    def _result(
        self, model: str, stream: "ChatStream", started: float, text: str, finish: str | None
    ) -> dict[str, Any]:
        if stream.error is not None:
            code = mid_stream_code(stream.error)
            return res.failure(model, self.request_id, _ms(started), code, stream.error.message, text or None)
        cost = money(stream.cost) if stream.cost is not None else None
        return res.success(model, self.request_id, _ms(started), text, stream.normalizer.usage, cost, finish, None)

    # -- the whole comparison --------------------------------------------------------------------------
    async def open(self) -> None:
        """Start every model; return once one is streaming, or raise 502 when all failed first."""
        # ``asyncio.create_task`` would ask for the running loop each time, a getpid system call on CPython 3.11.
        loop = running_loop()
        for model in self.plan.models:
            self.opened[model] = loop.create_future()
            self.tasks.append(loop.create_task(self._pump(model)))
        pending = set(self.opened.values())
        try:
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if any(f.result() for f in done):
                    return
        except BaseException:
            await self.aclose()
            raise
        failures = []
        while not self.queue.empty():
            item = self.queue.get_nowait()
            if isinstance(item, _Done):
                failures.append(item.result)
        await self.aclose()
        order = {m: i for i, m in enumerate(self.plan.models)}
        raise res.all_failed(sorted(failures, key=lambda r: order[r["model"]]))

    async def aclose(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(BaseException):
                await task

    async def frames(self) -> AsyncIterator[bytes]:
        plan = self.plan
        try:
            yield compare_frame(
                "meta",
                {
                    "comparison_id": self.comparison_id,
                    "models": plan.models,
                    "comparison_model": plan.judges[0] if plan.judges else None,
                    "skip_comparison": plan.skip_comparison,
                },
            )
            finished: dict[str, dict[str, Any]] = {}
            while len(finished) < len(plan.models):
                item = await self.queue.get()
                if isinstance(item, _Delta):
                    yield compare_frame("delta", {"model": item.model, "delta": item.text})
                else:
                    finished[item.result["model"]] = item.result
                    yield compare_frame("model_done", model_done_data(item.result))
            results = [finished[m] for m in plan.models]
            if all(r["error_code"] for r in results):
                err = res.all_failed(results)
                yield error_frame(err.code, err.message, details=err.details, request_id=self.request_id)
                yield DONE_FRAME
                return
            judged: dict[str, Any] = {}
            if not plan.skip_comparison:
                # aclosing: a client leaving mid-judge closes (and bills) the judge's stream at once.
                async with contextlib.aclosing(self._judge(results, judged)) as judge_frames:
                    async for out in judge_frames:
                        yield out
            envelope = res.envelope(
                self.comparison_id, self.started, plan.models, results, judged, plan.skip_comparison
            )
            done = {
                k: envelope[k]
                for k in (
                    "comparison_id",
                    "total_latency_ms",
                    "partial",
                    "skip_comparison",
                    "comparison_model",
                    "comparison_fallback_used",
                    "comparison",
                )
            }
            done["results"] = [model_done_data(r) for r in results]
            yield compare_frame("done", done)
            yield DONE_FRAME
        finally:
            await self.aclose()

    async def _judge(self, results: list[dict[str, Any]], judged: dict[str, Any]) -> AsyncGenerator[bytes, None]:
        plan = self.plan
        answers = [(r["model"], r["content"] or "") for r in results if not r["error_code"]]
        if not plan.judges or len(answers) < 2:
            return
        request_id = res.model_request_id(self.request_id, "judge")
        last: GatewayError | None = None
        for position, model in enumerate(plan.judges):
            body = judge_body(model, plan.messages, answers, plan.instructions, stream=True)
            try:
                stream = await self.pipeline.stream(self.call.part(request_id), body)
            except GatewayError as exc:
                last = exc
                continue
            used = stream.target.entry.id
            judged.update(comparison_model=used, comparison_fallback_used=position > 0 or used != model)
            pieces: list[str] = []
            try:
                async for chunk in stream.chunks:
                    text = _chunk_text(chunk)[0]
                    if text:
                        pieces.append(text)
                        yield compare_frame("comparison_delta", {"comparison_model": used, "delta": text})
            finally:
                await stream.aclose()
            judged["comparison"] = "".join(pieces)
            judged["comparison_usage"] = stream.normalizer.usage
            judged["comparison_cost"] = money(stream.cost) if stream.cost is not None else None
            data = {
                "comparison_model": used,
                "comparison": judged["comparison"],
                "usage": judged["comparison_usage"],
                "comparison_fallback_used": judged["comparison_fallback_used"],
                "error_code": None,
                "error_message": None,
            }
            if stream.error is not None:
                judged["comparison_error"] = stream.error.message
                judged["comparison_error_code"] = data["error_code"] = "upstream_error"
                data["error_message"] = stream.error.message
            yield compare_frame("comparison_done", data)
            return
        assert last is not None
        judged.update(
            comparison_error=last.message,
            comparison_error_code=last.code,
            comparison_fallback_used=len(plan.judges) > 1,
        )
        yield compare_frame(
            "comparison_done",
            {
                "comparison_model": None,
                "comparison": None,
                "usage": None,
                "comparison_fallback_used": len(plan.judges) > 1,
                "error_code": last.code,
                "error_message": last.message,
            },
        )


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
