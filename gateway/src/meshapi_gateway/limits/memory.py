"""The in-process limiter (the default): exact sliding windows kept in dictionaries.

Right for one process only; several workers would each count separately, which is why
``serve --workers N`` insists on Redis.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from meshapi_gateway.auth.principal import Principal
from meshapi_gateway.limits.base import Limiter
from meshapi_gateway.limits.current import remember
from meshapi_gateway.limits.verdict import DAY, MINUTE, Verdict, Window, raise_if_blocked


@dataclass(slots=True)
class _KeyState:
    minute: deque[float] = field(default_factory=deque)
    day: deque[float] = field(default_factory=deque)
    # [second, tokens] buckets of the last minute, oldest first, and their sum.
    tokens: deque[list[int]] = field(default_factory=deque)
    token_sum: int = 0


def _window(log: deque[float], name: str, limit: int, length: float, now: float) -> tuple[Window, float]:
    horizon = now - length
    while log and log[0] <= horizon:
        log.popleft()
    used = len(log)
    frees_in = (log[0] + length - now) if log else length
    blocked = 0.0
    if used >= limit:
        # The (used - limit + 1)-th oldest entry has to leave before one more fits.
        blocked = log[used - limit] + length - now
    return Window(name, limit, used, frees_in), blocked


def _prune_tokens(state: _KeyState, now_second: int) -> None:
    while state.tokens and state.tokens[0][0] <= now_second - 60:
        state.token_sum -= state.tokens.popleft()[1]


class MemoryLimiter(Limiter):
    def __init__(self) -> None:
        self._keys: dict[str, _KeyState] = {}

    async def check(self, principal: Principal) -> dict[str, str]:
        if principal.key_id is None or (principal.rpm is None and principal.rpd is None and principal.tpm is None):
            return {}
        now = time.time()
        state = self._keys.get(principal.key_id)
        if state is None:
            state = self._keys[principal.key_id] = _KeyState()
        verdict = Verdict(windows=[])
        admitted: list[tuple[Window, deque[float]]] = []
        for log, name, limit, length in (
            (state.minute, "minute", principal.rpm, MINUTE),
            (state.day, "day", principal.rpd, DAY),
        ):
            if not limit or limit < 0:  # 0 means "no limit", as in the CLI and the Redis limiter
                log.clear()
                continue
            window, blocked = _window(log, name, limit, length, now)
            verdict.windows.append(window)
            admitted.append((window, log))
            if blocked > verdict.blocked_for:
                verdict.blocked_for, verdict.blocked_by = blocked, name
        if principal.tpm:
            _prune_tokens(state, int(now))
            verdict.tpm, verdict.tokens_used = principal.tpm, state.token_sum
            if state.token_sum >= principal.tpm:
                freed, blocked = state.token_sum, 0.0
                for second, tokens in state.tokens:
                    freed -= tokens
                    if freed < principal.tpm:
                        blocked = second + 60 - now
                        break
                if blocked > verdict.blocked_for:
                    verdict.blocked_for, verdict.blocked_by = blocked, "tokens"
        if verdict.blocked_for <= 0:
            for window, log in admitted:
                log.append(now)
                window.used += 1
                window.frees_in = log[0] + (MINUTE if window.name == "minute" else DAY) - now
        return remember(raise_if_blocked(verdict))

    async def add_tokens(self, principal: Principal, tokens: int) -> None:
        if principal.key_id is None or not principal.tpm or tokens <= 0:
            return
        state = self._keys.get(principal.key_id)
        if state is None:
            state = self._keys[principal.key_id] = _KeyState()
        second = int(time.time())
        _prune_tokens(state, second)
        if state.tokens and state.tokens[-1][0] == second:
            state.tokens[-1][1] += tokens
        else:
            state.tokens.append([second, tokens])
        state.token_sum += tokens
