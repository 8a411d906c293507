"""The Redis limiter: the same sliding windows, shared by every gateway process.

Each check is one Lua script, so counting and admitting happen atomically on the Redis
server, and the server's clock is the only clock (gateway hosts may drift). Keys of one
API key share a hash tag, so the script also runs on Redis Cluster.

If Redis is unreachable the request is let through and a warning is logged: a limiter
outage should not become a gateway outage (docs/accounts.md).
"""

from __future__ import annotations

import logging
import secrets

from redis.exceptions import RedisError

from meshapi_gateway.auth.principal import Principal
from meshapi_gateway.limits.base import Limiter
from meshapi_gateway.limits.current import remember
from meshapi_gateway.limits.verdict import Verdict, Window, raise_if_blocked
from meshapi_gateway.shared_redis import open_redis

log = logging.getLogger("meshapi_gateway.limits")

# KEYS: minute zset, day zset, token hash. ARGV: rpm, rpd, tpm (0 = none), unique member.
# Returns {blocked_ms, blocked_by, minute_used, minute_frees_ms, day_used, day_frees_ms, tokens_used}.
CHECK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limits = {tonumber(ARGV[1]), tonumber(ARGV[2])}
local lengths = {60000, 86400000}
local blocked, blocked_by = 0, 0
local used, frees = {0, 0}, {0, 0}
for i = 1, 2 do
  if limits[i] > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - lengths[i])
    local n = redis.call('ZCARD', KEYS[i])
    used[i] = n
    frees[i] = lengths[i]
    if n > 0 then
      local first = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
      frees[i] = tonumber(first[2]) + lengths[i] - now
    end
    if n >= limits[i] then
      local e = redis.call('ZRANGE', KEYS[i], n - limits[i], n - limits[i], 'WITHSCORES')
      local wait = tonumber(e[2]) + lengths[i] - now
      if wait > blocked then blocked, blocked_by = wait, i end
    end
  else
    redis.call('DEL', KEYS[i])
  end
end
local tokens = 0
local tpm = tonumber(ARGV[3])
if tpm > 0 then
  local sec = tonumber(t[1])
  local flat = redis.call('HGETALL', KEYS[3])
  local buckets = {}
  for j = 1, #flat, 2 do
    local s = tonumber(flat[j])
    if s <= sec - 60 then
      redis.call('HDEL', KEYS[3], flat[j])
    else
      tokens = tokens + tonumber(flat[j + 1])
      table.insert(buckets, {s, tonumber(flat[j + 1])})
    end
  end
  if tokens >= tpm then
    table.sort(buckets, function(a, b) return a[1] < b[1] end)
    local left = tokens
    for _, b in ipairs(buckets) do
      left = left - b[2]
      if left < tpm then
        local wait = (b[1] + 60) * 1000 - now
        if wait > blocked then blocked, blocked_by = wait, 3 end
        break
      end
    end
  end
end
if blocked <= 0 then
  for i = 1, 2 do
    if limits[i] > 0 then
      redis.call('ZADD', KEYS[i], now, ARGV[4])
      redis.call('PEXPIRE', KEYS[i], lengths[i] + 1000)
      used[i] = used[i] + 1
      local first = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
      frees[i] = tonumber(first[2]) + lengths[i] - now
    end
  end
end
return {blocked, blocked_by, used[1], frees[1], used[2], frees[2], tokens}
"""

# KEYS: token hash. ARGV: tokens.
ADD_TOKENS = """
local t = redis.call('TIME')
redis.call('HINCRBY', KEYS[1], t[1], tonumber(ARGV[1]))
redis.call('EXPIRE', KEYS[1], 120)
return 1
"""

_BLOCKERS = {1: "minute", 2: "day", 3: "tokens"}


def _keys(key_id: str) -> list[str]:
    tag = "{" + key_id + "}"
    return [f"meshapi:rl:{tag}:rpm", f"meshapi:rl:{tag}:rpd", f"meshapi:rl:{tag}:tpm"]


class RedisLimiter(Limiter):
    def __init__(self, url: str) -> None:
        self._redis = open_redis(url)
        self._check = self._redis.register_script(CHECK)
        self._add = self._redis.register_script(ADD_TOKENS)

    async def ping(self) -> None:
        await self._redis.ping()

    async def check(self, principal: Principal) -> dict[str, str]:
        if principal.key_id is None or (principal.rpm is None and principal.rpd is None and principal.tpm is None):
            return {}
        member = secrets.token_hex(8)
        try:
            raw = await self._check(
                keys=_keys(principal.key_id), args=[principal.rpm or 0, principal.rpd or 0, principal.tpm or 0, member]
            )
        except RedisError:
            log.warning("rate limit check skipped: Redis is unreachable", exc_info=True)
            return {}
        blocked_ms, blocked_by, m_used, m_frees, d_used, d_frees, tokens = (int(x) for x in raw)
        verdict = Verdict(windows=[], blocked_for=blocked_ms / 1000, blocked_by=_BLOCKERS.get(blocked_by, ""))
        if principal.rpm:
            verdict.windows.append(Window("minute", principal.rpm, m_used, m_frees / 1000))
        if principal.rpd:
            verdict.windows.append(Window("day", principal.rpd, d_used, d_frees / 1000))
        if principal.tpm:
            verdict.tpm, verdict.tokens_used = principal.tpm, tokens
        return remember(raise_if_blocked(verdict))

    async def add_tokens(self, principal: Principal, tokens: int) -> None:
        if principal.key_id is None or principal.tpm is None or tokens <= 0:
            return
        try:
            await self._add(keys=_keys(principal.key_id)[2:], args=[tokens])
        except RedisError:
            log.warning("token count not recorded: Redis is unreachable", exc_info=True)

    async def aclose(self) -> None:
        await self._redis.aclose()
