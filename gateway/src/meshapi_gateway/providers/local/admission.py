"""Sharing the one local model between owners: a bounded share each, and no oversized prompt let in.

The child answers one request at a time, so a request holds the model for as long as it
runs and everyone else waits. Each owner may have at most ``max_concurrent_per_owner``
requests in (queued or running); more are refused with 429 at once. A prompt that cannot fit
the context window is refused before it reaches the child: first by its size in characters
(no tokenizer can make a prompt of more than ``MAX_CHARS_PER_TOKEN`` characters a token fit),
then by the child's exact token count.
"""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from typing import Iterator

from meshapi_gateway.providers.base import UpstreamError
from meshapi_gateway.providers.upstream_errors import ContextLengthExceeded

# SmolLM2's tokenizer averages about 4 characters a token on text; its longest tokens (runs of
# spaces or punctuation) are 16 characters. Above this bound a prompt is refused without counting.
MAX_CHARS_PER_TOKEN = 16


class OwnerShares:
    """In-flight requests per owner, bounded."""

    def __init__(self, per_owner: int) -> None:
        self.per_owner = per_owner
        self._in_flight: Counter[str] = Counter()

    def in_flight(self, owner: str) -> int:
        return self._in_flight[owner]

    @contextmanager
    def hold(self, owner: str) -> Iterator[None]:
        if self._in_flight[owner] >= self.per_owner:
            # Not retryable and not the model's fault: the breaker and the fallbacks leave it alone.
            raise UpstreamError(
                "rate_limit_exceeded",
                f"This owner already has {self.per_owner} requests on the local model "
                "(local_model.max_concurrent_per_owner); wait for one to finish.",
                status=429,
                retryable=False,
                retry_after=1.0,
            )
        self._in_flight[owner] += 1
        try:
            yield
        finally:
            self._in_flight[owner] -= 1
            if self._in_flight[owner] <= 0:
                del self._in_flight[owner]


def too_long(n_ctx: int, what: str) -> ContextLengthExceeded:
    return ContextLengthExceeded(
        "context_length_exceeded",
        f"This model's maximum context length is {n_ctx} tokens; the request has {what}. "
        "Shorten the messages or the tools, or lower max_tokens.",
        status=422,
        retryable=False,
    )


def check_chars(n_ctx: int, chars: int) -> None:
    if chars > n_ctx * MAX_CHARS_PER_TOKEN:
        raise too_long(n_ctx, f"{chars} characters of prompt (more than {n_ctx * MAX_CHARS_PER_TOKEN})")


def check_tokens(n_ctx: int, prompt_tokens: int, max_tokens: int | None) -> None:
    wanted = prompt_tokens + (max_tokens or 1)
    if wanted > n_ctx:
        detail = f"{prompt_tokens} prompt tokens" + (f" + {max_tokens} max_tokens" if max_tokens else "")
        raise too_long(n_ctx, detail)
