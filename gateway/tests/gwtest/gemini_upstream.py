"""A local server that speaks the Gemini API (generateContent, streamGenerateContent with
``alt=sse``, embedContent, batchEmbedContents), scripted by model name.

It checks requests against the documented rules (``x-goog-api-key``, known fields only,
``user``/``model`` turns with non-empty parts, function responses answering the previous
turn's calls, thought signatures for Gemini 3, batch requests naming their model) and
answers Google RPC error bodies like the real API. Answers follow the documentation's
examples. Models:

``gemini-doc`` the documentation's text example; ``gemini-echo`` "echo: <last user text>";
``gemini-tools`` one function call; ``gemini-3-tools`` one call with a thought signature
(and a history check that signatures come back); ``gemini-parallel`` the documentation's
parallel calls; ``gemini-stop``/``gemini-length`` stop sequence and ``MAX_TOKENS``;
``gemini-safety`` a candidate cut by ``SAFETY``; ``gemini-blocked`` a blocked prompt;
``gemini-thinking`` thought summary parts; ``gemini-cached`` cached-token usage;
``gemini-two`` one candidate per ``candidateCount``; ``gemini-error-<status>`` that error;
``gemini-error-event`` an error event mid-stream; ``gemini-error-first`` an error as first
event; ``gemini-cut`` a dropped connection; ``gemini-eof`` a stream without finishReason;
``gemini-embedding-001`` embeddings.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gwtest.openai_upstream import Recorder

TOP_LEVEL = {
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "generationConfig",
    "safetySettings",
    "cachedContent",
}
GENERATION_CONFIG = {
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "candidateCount",
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseLogprobs",
    "logprobs",
    "thinkingConfig",
    "responseModalities",
    "speechConfig",
    "mediaResolution",
}
PART_DATA = {
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
}
PART_META = {"thought", "thoughtSignature", "videoMetadata"}

# --- documented examples ------------------------------------------------------------------

DOC_TEXT = "AI learns patterns from data to make predictions or decisions."
DOC_RESPONSE = {
    "candidates": [{"content": {"parts": [{"text": DOC_TEXT}], "role": "model"}, "finishReason": "STOP", "index": 0}],
    "usageMetadata": {
        "promptTokenCount": 8,
        "candidatesTokenCount": 12,
        "totalTokenCount": 20,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 8}],
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "mAitaLmkHPPlz7IPvtfUqQ4",
}
DOC_STREAM_PIECES = ["AI learns patterns", " from data to make", " predictions or decisions."]
DOC_CALL = {"name": "get_current_temperature", "args": {"location": "London"}}
DOC_SIGNATURE = "CiQB0e2Kb6ZKOH6UEsD0ThYq+Kh5CDcyC2mvKDD3Ex0SOqqVeVMSQQHR7Ypv"
DOC_PARALLEL = [
    {"name": "power_disco_ball", "args": {"power": True}},
    {"name": "start_music", "args": {"energetic": True, "loud": True}},
    {"name": "dim_lights", "args": {"brightness": 0.5}},
]
DOC_THOUGHT = "**Calculating the sum**\n\nI add the two numbers step by step."
DOC_THOUGHT_ANSWER = "The sum is 42."

RPC = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
DOC_ERROR_MESSAGES = {
    400: "Request contains an invalid argument.",
    403: "Method doesn't allow unregistered callers (callers without established identity). Please use API Key "
    "or other form of API consumer identity to call this API.",
    404: "models/nope is not found for API version v1beta, or is not supported for generateContent.",
    429: "You exceeded your current quota, please check your plan and billing details.",
    500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
}


def error_body(status: int, message: str | None = None, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {
        "code": status,
        "message": message or DOC_ERROR_MESSAGES.get(status, "error"),
        "status": RPC.get(status, "UNKNOWN"),
    }
    if status == 429 and details is None:
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                    }
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"},
        ]
    if details:
        err["details"] = details
    return {"error": err}


API_KEY_INVALID = error_body(
    400,
    "API key not valid. Please pass a valid API key.",
    [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"},
        }
    ],
)


def _error(status: int, message: str | None = None) -> Response:
    return JSONResponse(error_body(status, message), status_code=status)


# --- request checks -----------------------------------------------------------------------


def check_request(model: str, headers: dict[str, str], body: Any) -> tuple[int, dict[str, Any]] | None:
    key = headers.get("x-goog-api-key")
    if not key:
        return 403, error_body(403)
    if key == "bad-key":
        return 400, API_KEY_INVALID
    if not isinstance(body, dict):
        return 400, error_body(400, "Invalid JSON payload received.")
    unknown = set(body) - TOP_LEVEL
    if unknown:
        name = sorted(unknown)[0]
        return 400, error_body(400, f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.')
    unknown = set(body.get("generationConfig") or {}) - GENERATION_CONFIG
    if unknown:
        name = sorted(unknown)[0]
        return 400, error_body(
            400, f"Invalid JSON payload received. Unknown name \"{name}\" at 'generation_config': Cannot find field."
        )
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return 400, error_body(400, "* GenerateContentRequest.contents: contents is not specified")
    previous_calls: list[str] = []
    for i, content in enumerate(contents):
        if content.get("role") not in ("user", "model"):
            return 400, error_body(400, f"Please use a valid role: user, model. (contents[{i}])")
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            return 400, error_body(
                400, f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty."
            )
        calls = []
        for part in parts:
            data = set(part) & PART_DATA
            if len(data) != 1 or set(part) - PART_DATA - PART_META:
                return 400, error_body(400, f"contents[{i}]: each part must hold exactly one kind of data")
            if "text" in part and not part["text"]:
                return 400, error_body(400, f"contents[{i}]: text parts must not be empty")
            if "functionCall" in part:
                if content["role"] != "model" or not isinstance(part["functionCall"].get("args", {}), dict):
                    return 400, error_body(400, f"contents[{i}]: function calls belong to model turns")
                if model.startswith("gemini-3") and not part.get("thoughtSignature"):
                    return 400, error_body(
                        400,
                        f"Function call `{part['functionCall'].get('name')}` in the "
                        f"{i}. content block is missing a `thought_signature`.",
                    )
                calls.append(part["functionCall"]["name"])
            if "functionResponse" in part:
                fr = part["functionResponse"]
                if fr.get("name") not in previous_calls or not isinstance(fr.get("response"), dict):
                    return 400, error_body(
                        400,
                        f"contents[{i}]: function response {fr.get('name')!r} answers no "
                        "function call of the previous turn",
                    )
        previous_calls = calls
    for tool in body.get("tools") or []:
        for decl in tool.get("functionDeclarations") or []:
            if not decl.get("name") or ("parameters" in decl and "parametersJsonSchema" in decl):
                return 400, error_body(400, "function declarations need a name and one parameters schema")
    mode = ((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("mode")
    if mode is not None and mode not in ("AUTO", "ANY", "NONE", "VALIDATED"):
        return 400, error_body(400, f"Invalid value at 'tool_config.function_calling_config.mode' ({mode})")
    return None


# --- answers ------------------------------------------------------------------------------


def _last_user_text(contents: list[dict[str, Any]]) -> str:
    for c in reversed(contents):
        if c["role"] == "user":
            texts = [p["text"] for p in c["parts"] if "text" in p]
            if texts:
                return " ".join(texts)
    return ""


def _declared(body: dict[str, Any]) -> list[str]:
    return [d["name"] for t in body.get("tools") or [] for d in t.get("functionDeclarations") or []]


def _usage(prompt: int, out: int, **extra: int) -> dict[str, Any]:
    return {
        "promptTokenCount": prompt,
        "candidatesTokenCount": out,
        "totalTokenCount": prompt + out + extra.get("thoughtsTokenCount", 0),
        **extra,
    }


def _response(
    parts: list[dict[str, Any]] | None, finish: str, usage: dict[str, Any], model: str, n: int = 1
) -> dict[str, Any]:
    candidates = []
    for i in range(n):
        cand: dict[str, Any] = {"finishReason": finish, "index": i}
        if parts is not None:
            cand["content"] = {"parts": parts if i == 0 else [{"text": f"candidate {i}"}], "role": "model"}
        if finish == "SAFETY":
            cand["safetyRatings"] = [
                {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}
            ]
        candidates.append(cand)
    return {"candidates": candidates, "usageMetadata": usage, "modelVersion": model, "responseId": f"resp-{model}"}


def answer(model: str, body: dict[str, Any]) -> dict[str, Any]:
    config = body.get("generationConfig") or {}
    names = _declared(body)
    if model == "gemini-doc":
        return DOC_RESPONSE
    if model in ("gemini-tools", "gemini-3-tools"):
        part: dict[str, Any] = {
            "functionCall": {"name": names[0] if names else DOC_CALL["name"], "args": DOC_CALL["args"]}
        }
        if model == "gemini-3-tools":
            part["thoughtSignature"] = DOC_SIGNATURE
        return _response([part], "STOP", _usage(70, 16), model)
    if model == "gemini-parallel":
        parts = [
            {"functionCall": {"name": names[i] if i < len(names) else c["name"], "args": c["args"]}}
            for i, c in enumerate(DOC_PARALLEL)
        ]
        return _response(parts, "STOP", _usage(120, 40), model)
    if model == "gemini-safety":
        return _response(None, "SAFETY", _usage(10, 0), model)
    if model == "gemini-blocked":
        return {
            "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []},
            "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
            "modelVersion": model,
        }
    if model == "gemini-thinking":
        return _response(
            [{"text": DOC_THOUGHT, "thought": True}, {"text": DOC_THOUGHT_ANSWER}],
            "STOP",
            _usage(20, 6, thoughtsTokenCount=150),
            model,
        )
    if model == "gemini-cached":
        return _response(
            [{"text": "From the cached document."}], "STOP", _usage(4200, 5, cachedContentTokenCount=4096), model
        )
    text = "echo: " + _last_user_text(body["contents"])
    if model == "gemini-stop" and config.get("stopSequences"):
        return _response([{"text": "one two"}], "STOP", _usage(10, 2), model)
    if model == "gemini-length":
        words = text.split(" ")[: config.get("maxOutputTokens", 100)]
        return _response([{"text": " ".join(words)}], "MAX_TOKENS", _usage(10, len(words)), model)
    n = int(config.get("candidateCount") or 1) if model == "gemini-two" else 1
    return _response([{"text": text}], "STOP", _usage(10, len(text.split())), model, n)


def stream_events(model: str, response: dict[str, Any]) -> list[dict[str, Any]]:
    """The response cut into streamed pieces: text a few words at a time, the finish reason and
    full usage on the last piece (earlier pieces carry the prompt count only, as the API does)."""
    if "candidates" not in response:
        return [response]
    usage = response["usageMetadata"]
    partial = {"promptTokenCount": usage["promptTokenCount"], "totalTokenCount": usage["promptTokenCount"]}
    head = {"modelVersion": response["modelVersion"], "responseId": response.get("responseId")}
    cand = response["candidates"][0]
    parts = (cand.get("content") or {}).get("parts") or []
    pieces: list[list[dict[str, Any]]] = []
    for part in parts:
        if "text" in part and not part.get("thought"):
            words = (
                DOC_STREAM_PIECES
                if model == "gemini-doc"
                else [w if i == 0 else " " + w for i, w in enumerate(part["text"].split(" "))]
            )
            pieces.extend([[{"text": w}] for w in words])
        else:
            pieces.append([part])
    events = []
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        c: dict[str, Any] = {"content": {"parts": piece, "role": "model"}, "index": 0}
        if last:
            c["finishReason"] = cand["finishReason"]
        events.append({"candidates": [c], "usageMetadata": usage if last else partial, **head})
    if not pieces:
        events.append(
            {"candidates": [{k: v for k, v in cand.items() if k != "content"}], "usageMetadata": usage, **head}
        )
    for extra in response["candidates"][1:]:
        events.insert(
            -1,
            {"candidates": [{k: v for k, v in extra.items() if k != "finishReason"}], "usageMetadata": partial, **head},
        )
        events[-1]["candidates"].append(
            {
                "index": extra["index"],
                "finishReason": extra["finishReason"],
                "content": {"parts": [{"text": "."}], "role": "model"},
            }
        )
    return events


def _frame(data: dict[str, Any]) -> bytes:
    # The API frames events with CRLF line ends.
    return b"data: " + json.dumps(data).encode() + b"\r\n\r\n"


async def _stream(model: str, events: list[dict[str, Any]]) -> AsyncIterator[bytes]:
    if model == "gemini-error-first":
        yield _frame(error_body(503))
        return
    for n, event in enumerate(events):
        if model == "gemini-cut" and n == 2:
            raise ConnectionResetError("scripted cut")
        if model == "gemini-eof" and n == len(events) - 1:
            return
        if model == "gemini-error-event" and n == len(events) - 1:
            yield _frame(error_body(503))
            return
        yield _frame(event)
        await asyncio.sleep(0)


def _embedding(text: str, dims: int) -> list[float]:
    return [round(((len(text) * (j + 1)) % 17) / 17, 6) for j in range(dims)]


def make_app(recorder: Recorder) -> Starlette:
    async def models(request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        path = request.url.path
        headers = dict(request.headers)
        recorder.requests.append({"path": path, "query": str(request.url.query), "headers": headers, "body": body})
        model, _, method = path[len("/v1beta/models/") :].partition(":")
        if method in ("embedContent", "batchEmbedContents"):
            return embed(model, method, headers, body)
        if method not in ("generateContent", "streamGenerateContent"):
            return _error(404, f"Method {method} not found.")
        problem = check_request(model, headers, body)
        if problem is not None:
            return JSONResponse(problem[1], status_code=problem[0])
        if model.startswith("gemini-error-") and model[len("gemini-error-") :].isdigit():
            return _error(int(model[len("gemini-error-") :]))
        response = answer(model, body)
        if method == "generateContent":
            return JSONResponse(response)
        if request.query_params.get("alt") != "sse":
            return _error(400, "this test server only streams with alt=sse")
        return StreamingResponse(_stream(model, stream_events(model, response)), media_type="text/event-stream")

    def embed(model: str, method: str, headers: dict[str, str], body: Any) -> Response:
        if not headers.get("x-goog-api-key"):
            return _error(403)
        if method == "embedContent":
            requests = [body]
        else:
            requests = body.get("requests") or []
            if any(r.get("model") != f"models/{model}" for r in requests):
                return _error(400, "Model in the request must match the model in the URL.")
        out = []
        for r in requests:
            parts = (r.get("content") or {}).get("parts") or []
            if not parts or "text" not in parts[0]:
                return _error(400, "* EmbedContentRequest.content: contents must not be empty.")
            out.append({"values": _embedding(parts[0]["text"], int(r.get("outputDimensionality") or 8))})
        return JSONResponse({"embedding": out[0]} if method == "embedContent" else {"embeddings": out})

    return Starlette(routes=[Route("/v1beta/models/{rest:path}", models, methods=["POST"])])
