"""The semantic cache: the nearest earlier prompt of the same owner and model answers, when it is close enough.

A prompt is the conversation's last user turn with its context (the system instructions),
embedded with the configured embeddings model (the in-process all-MiniLM-L6-v2 by default).
Vectors are unit length, so the cosine similarity is a dot product: a lookup is one matrix
product over the scope's rows. The index keeps only vectors and exact-cache keys (the
answers stay in the answer store), and every addition is appended to a file in the data
folder, read back at start, so the index survives a restart.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import time
from typing import TYPE_CHECKING, Any, cast

import orjson

from meshapi_gateway.errors import GatewayError
from meshapi_gateway.routing import Attempted
from meshapi_gateway.store.private_files import FILE_MODE, private_dir

if TYPE_CHECKING:
    from pathlib import Path

    from meshapi_gateway.cache.service import Lookup
    from meshapi_gateway.cache.stores import AnswerStore
    from meshapi_gateway.providers.local_embeddings.provider import LocalEmbeddingsProvider
    from meshapi_gateway.state import GatewayState

log = logging.getLogger("meshapi_gateway.cache")

INDEX_FILE = "semantic-index.jsonl"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text") or "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def prompt_text(body: dict[str, Any]) -> str | None:
    """The system instructions and the last user turn; None when there is no user turn."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return None
    last = next((m for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"), None)
    if last is None:
        return None
    system = [
        _text(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") in ("system", "developer")
    ]
    turn = _text(last.get("content"))
    return "\n".join([*system, turn]) if turn else None


_blas: Any = None


def _one_blas_thread() -> Any:
    """Hold BLAS to one thread for a search: a matrix-vector product is memory-bound, and OpenBLAS's
    spinning helper threads made a 10,000-row search ten times dearer in CPU on a busy two-core
    machine (6.6 ms against 0.6 ms). Without threadpoolctl, BLAS keeps its own default."""
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]
        except ImportError:
            _blas = False
        else:
            _blas = ThreadpoolController().select(user_api="blas")
    return _blas.limit(limits=1) if _blas else contextlib.nullcontext()


class _Scope:
    """One owner's prompts to one model: a row per prompt."""

    __slots__ = ("expires", "keys", "matrix", "rows")

    def __init__(self, dim: int) -> None:
        import numpy as np

        self.matrix = np.zeros((16, dim), dtype=np.float32)
        self.expires = np.zeros(16, dtype=np.float64)
        self.keys: list[str] = []
        self.rows: dict[str, int] = {}

    def add(self, key: str, vector: Any, expires: float) -> bool:
        import numpy as np

        row = self.rows.get(key)
        if row is None:
            row = len(self.keys)
            if row == len(self.matrix):
                self.matrix = np.concatenate([self.matrix, np.zeros_like(self.matrix)])
                self.expires = np.concatenate([self.expires, np.zeros_like(self.expires)])
            self.keys.append(key)
            self.rows[key] = row
        self.matrix[row] = vector
        self.expires[row] = expires
        return row == len(self.keys) - 1

    def nearest(self, vector: Any, now: float) -> tuple[float, str] | None:
        n = len(self.keys)
        if not n:
            return None
        sims = self.matrix[:n] @ vector
        sims[self.expires[:n] <= now] = -2.0
        best = int(sims.argmax())
        score = float(sims[best])
        return (score, self.keys[best]) if score > -2.0 else None


class SemanticIndex:
    """Scopes of unit vectors, kept in memory and appended to ``path``."""

    def __init__(self, path: Path | None, max_entries: int) -> None:
        self.path = path
        self.max_entries = max_entries
        self.size = 0
        self.scopes: dict[str, _Scope] = {}
        self._fd: int | None = None
        if path is not None:
            self._load(path)
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)

    def _load(self, path: Path) -> None:
        if not path.is_file():
            return
        # Not before the check: the index starts with every enabled cache, and numpy (≈ 10 MiB
        # resident) is only needed once a semantic entry exists.
        import numpy as np

        now = time.time()
        with open(path, "rb") as handle:
            for line in handle:
                try:
                    rec = orjson.loads(line)
                    if rec["e"] <= now:
                        continue
                    vector = np.frombuffer(base64.b64decode(rec["v"]), dtype="<f4")
                    self._put(rec["s"], rec["k"], vector, rec["e"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a crash

    def _put(self, scope: str, key: str, vector: Any, expires: float) -> bool:
        group = self.scopes.get(scope)
        if group is None:
            if self.size >= self.max_entries:
                return False
            group = self.scopes[scope] = _Scope(len(vector))
        elif len(vector) != group.matrix.shape[1]:
            return False  # another embeddings model was configured since
        if key not in group.rows and self.size >= self.max_entries:
            return False
        if group.add(key, vector, expires):
            self.size += 1
        return True

    def add(self, scope: str, key: str, vector: Any, expires: float) -> None:
        if not self._put(scope, key, vector, expires) or self._fd is None:
            return
        line = (
            orjson.dumps(
                {
                    "s": scope,
                    "k": key,
                    "e": expires,
                    "v": base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii"),
                }
            )
            + b"\n"
        )
        os.write(self._fd, line)  # one write with O_APPEND: processes sharing the folder do not interleave

    def nearest(self, scope: str, vector: Any) -> tuple[float, str] | None:
        group = self.scopes.get(scope)
        if group is None:
            return None
        with _one_blas_thread():
            return group.nearest(vector, time.time())

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class SemanticCache:
    """The index, and the embeddings model that fills it."""

    def __init__(self, state: GatewayState) -> None:
        self.state = state
        settings = state.settings
        folder = settings.data_dir / "cache"
        private_dir(folder)
        self.index = SemanticIndex(folder / INDEX_FILE, settings.cache.semantic_max_entries)

    def prompt_text(self, body: dict[str, Any], kind: str) -> str | None:
        return prompt_text(body) if kind == "chat" else None

    async def embed(self, text: str) -> Any:
        """The unit vector of ``text`` from the configured embeddings model (through the router: its fallbacks,
        retries and breakers apply; the gateway's own call is not billed)."""
        import numpy as np

        state = self.state
        model = state.settings.cache.semantic_model
        entries = state.router.candidates(model, None)
        if not entries or entries[0].model_type != "embedding":
            raise GatewayError(
                "provider_not_available",
                f"The semantic cache's embeddings model '{model}' is not in the catalog.",
                status=503,
            )
        if entries[0].provider == "local_embeddings":
            # In-process: straight to the model's worker thread, skipping the request body and JSON floats.
            local = cast("LocalEmbeddingsProvider", state.router.providers.get("local_embeddings"))
            return await local.embed_prompt(text, state.settings.cache.semantic_int8)
        body = {"model": model, "input": [text]}
        _, data = await state.router.embeddings(entries[:1], body, state.call_context("cache"), Attempted())
        vector = np.asarray(data["data"][0]["embedding"], dtype=np.float32)
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm > 0 else vector

    async def nearest(self, store: AnswerStore, found: Lookup, threshold: float) -> bytes | None:
        assert found.text is not None
        try:
            found.vector = await self.embed(found.text)
        except Exception as exc:  # no semantic answer; the request still goes upstream
            log.warning("semantic cache lookup failed: %s", exc)
            return None
        near = self.index.nearest(found.scope, found.vector)
        if near is None or near[0] < threshold:
            return None
        raw = await store.get(near[1])
        if raw is not None:
            found.similarity = round(near[0], 4)
        return raw

    async def add(self, found: Lookup) -> None:
        if found.vector is None:
            assert found.text is not None
            found.vector = await self.embed(found.text)
        self.index.add(found.scope, found.key, found.vector, time.time() + found.policy.ttl)

    def close(self) -> None:
        self.index.close()
