"""Closed-loop load with wrk: a generated Lua script posts the request and checks every response."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import fixtures

_LUA = r"""
wrk.method = "POST"
wrk.body = {body}
{headers}
local threads = {{}}
function setup(thread)
  table.insert(threads, thread)
end
checked, bad_status, bad_body, sample = 0, 0, 0, ""
function response(status, headers, body)
  checked = checked + 1
  if status ~= 200 then
    bad_status = bad_status + 1
    if sample == "" then sample = status .. " " .. string.sub(body or "", 1, 200) end
  elseif not string.find(body, {marker}, 1, true) then
    bad_body = bad_body + 1
    if sample == "" then sample = string.sub(body or "", 1, 200) end
  elseif {expect_name} ~= "" and headers[{expect_name}] ~= {expect_value} then
    bad_body = bad_body + 1
    if sample == "" then sample = {expect_name} .. ": " .. tostring(headers[{expect_name}]) end
  end
end
function done(summary, latency, requests)
  local c, bs, bb, smp = 0, 0, 0, ""
  for _, t in ipairs(threads) do
    c = c + t:get("checked")
    bs = bs + t:get("bad_status")
    bb = bb + t:get("bad_body")
    if smp == "" then smp = string.gsub(t:get("sample"), '[%c"\\]', " ") end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {{"requests":%d,"duration_us":%d,"checked":%d,"bad_status":%d,"bad_body":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,"sample":"%s"}}\n',
    summary.requests, summary.duration, c, bs, bb, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    smp))
end
"""


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal here


def write_script(path: Path, body: str, headers: Mapping[str, str], expect: tuple[str, str] | None = None) -> Path:
    """``expect``: a response header (lower-case name, value) every answer must carry, else it counts as bad."""
    lines = [f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items()]
    name, value = expect or ("", "")
    path.write_text(
        _LUA.format(
            body=_lua_string(body),
            headers="\n".join(lines),
            marker=_lua_string(fixtures.MARKER),
            expect_name=_lua_string(name),
            expect_value=_lua_string(value),
        )
    )
    return path


@dataclass
class LoadResult:
    connections: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int
    sample: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.errors == 0 and self.requests > 0


def run(
    url: str,
    script: Path,
    connections: int,
    seconds: float,
    threads: int = 2,
    timeout_s: float = 5.0,
) -> LoadResult:
    """One wrk run, bounded by `seconds` (and a hard wall-clock limit)."""
    wrk = shutil.which("wrk") or "/usr/bin/wrk"
    argv = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={timeout_s:g}s",
        "-s",
        str(script),
        url,
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + timeout_s + 30)
    m = re.search(r"^BENCHJSON (.*)$", proc.stdout, re.M)
    if not m:
        raise RuntimeError(f"wrk gave no summary (exit {proc.returncode}): {proc.stdout[-500:]} {proc.stderr[-500:]}")
    raw = json.loads(m.group(1))
    secs = raw["duration_us"] / 1e6
    errors = (
        raw["bad_status"]
        + raw["bad_body"]
        + raw["connect_errors"]
        + raw["read_errors"]
        + raw["write_errors"]
        + raw["timeouts"]
    )
    return LoadResult(
        connections=connections,
        requests=raw["requests"],
        seconds=secs,
        rps=raw["requests"] / secs if secs else 0.0,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        errors=errors,
        sample=raw.get("sample", ""),
        raw=raw,
    )
