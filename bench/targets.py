"""The things under test, each started fresh and pointed at the same nginx upstream."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import deps
import fixtures
import probe
from procs import Proc, free_port, tree, wait_port
from upstream import Upstream

JSON = "application/json"
UPSTREAM_KEY = "sk-bench"


class Skip(RuntimeError):
    """The target cannot run here; the reason goes into the report."""


@dataclass
class Context:
    upstream: Upstream
    work: Path
    python: str
    cpus: int
    _redis: Proc | None = None
    _redis_url: str = ""

    @property
    def redis_pid(self) -> int:
        assert self._redis is not None
        return self._redis.pid

    @property
    def logs(self) -> Path:
        return self.work / "logs"

    def redis_url(self) -> str:
        """A throwaway Redis (no persistence) shared by multi-worker gateways."""
        if self._redis is None or not self._redis.alive():
            exe = shutil.which("redis-server") or "/usr/bin/redis-server"
            if not Path(exe).exists():
                raise Skip("redis-server is not installed")
            port = free_port()
            self._redis = Proc(
                "redis",
                [
                    exe,
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--protected-mode",
                    "no",
                ],
                self.logs,
            )
            wait_port(port, self._redis, timeout=15)
            self._redis_url = f"redis://127.0.0.1:{port}/0"
        return self._redis_url

    def close(self) -> None:
        if self._redis is not None:
            self._redis.stop()


@dataclass
class Running:
    """A started target: where to send requests and which process tree to measure."""

    chat_url: str
    stream_url: str
    chat_body: str
    stream_body: str
    chat_headers: dict[str, str]
    stream_headers: dict[str, str]
    pid: int
    procs: list[Proc] = field(default_factory=list)
    version: str = ""
    # Measured with the target though not its children (the shared Redis of a scale-out setup).
    extra_pids: list[int] = field(default_factory=list)
    # A response header every timed answer must carry (the cache-hit target: x-meshapi-cache: hit).
    expect: tuple[str, str] | None = None
    # The gateway's data folder (its SQLite database and write-ahead log), for the soak's disk figures.
    data_dir: Path | None = None

    def pids(self) -> list[int]:
        return [p for root in (self.pid, *self.extra_pids) for p in tree(root)]

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.stop()

    def check(self, timeout: float = 60.0) -> None:
        """Both call shapes must answer correctly before anything is timed (retried while starting)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                probe.check_chat(self.chat_url, self.chat_body, self.chat_headers)
                probe.check_stream(self.stream_url, self.stream_body, self.stream_headers)
                if self.expect is not None:  # the checks above filled the cache: now both must be hits
                    probe.check_header(self.chat_url, self.chat_body, self.chat_headers, self.expect)
                    probe.check_header(self.stream_url, self.stream_body, self.stream_headers, self.expect)
                    probe.check_chat(self.chat_url, self.chat_body, self.chat_headers)
                    probe.check_stream(self.stream_url, self.stream_body, self.stream_headers)
                return
            except (probe.CheckFailed, OSError) as exc:
                dead = [p for p in self.procs if not p.alive()]
                if dead or time.monotonic() > deadline:
                    tail = "\n".join(p.log_tail(8) for p in self.procs)
                    raise probe.CheckFailed(f"{exc}\n{tail}") from None
                time.sleep(0.5)


def _listening(proc: Proc, port: int, timeout: float) -> None:
    """Wait for the port; a process that never gets there is stopped before the error propagates."""
    try:
        wait_port(port, proc, timeout=timeout)
    except BaseException:
        proc.stop()
        raise


def _headers(token: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    h = {"Content-Type": JSON, "Authorization": f"Bearer {token}"}
    h.update(extra or {})
    return h


@dataclass
class Target:
    name: str
    label: str
    role: str  # "rig", "limit", "ours", "peer"
    start: Callable[[Context], Running]
    workers: int = 1


# -- nothing in between --------------------------------------------------------------


def _direct(ctx: Context) -> Running:
    up = ctx.upstream
    h = _headers(UPSTREAM_KEY)
    return Running(
        chat_url=up.chat_url + "/chat/completions",
        stream_url=up.stream_url + "/chat/completions",
        chat_body=fixtures.request_body("mock", False),
        stream_body=fixtures.request_body("mock-stream", True),
        chat_headers=h,
        stream_headers=h,
        pid=up.proc.pid,
        version=_nginx_version(),
    )


def _nginx_version() -> str:
    out = subprocess.run([shutil.which("nginx") or "/usr/sbin/nginx", "-v"], capture_output=True, text=True)
    return out.stderr.strip().split("/")[-1]


# -- the Python limit ----------------------------------------------------------------


def _minimal(ctx: Context) -> Running:
    up = ctx.upstream
    port = free_port()
    script = Path(__file__).resolve().parent / "minimal_proxy.py"
    proc = Proc(
        "minimal-proxy",
        [
            ctx.python,
            str(script),
            "--port",
            str(port),
            "--route",
            f"mock={up.chat_url}",
            "--route",
            f"mock-stream={up.stream_url}",
        ],
        ctx.logs,
    )
    _listening(proc, port, 30)
    h = _headers(UPSTREAM_KEY)
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    return Running(
        url,
        url,
        fixtures.request_body("mock", False),
        fixtures.request_body("mock-stream", True),
        h,
        h,
        proc.pid,
        [proc],
    )


# -- meshapi-gateway -----------------------------------------------------------------


def _gateway_argv(ctx: Context) -> list[str]:
    exe = Path(ctx.python).parent / "meshapi-gateway"
    if exe.exists():
        return [str(exe)]
    return [ctx.python, "-m", "meshapi_gateway"]


def _gateway_env() -> dict[str, str]:
    return {"PYTHONPATH": deps.source_path(), "PYTHONUNBUFFERED": "1"}


def _gateway_available(ctx: Context) -> None:
    code = "import meshapi_gateway.cli"
    env = {**os.environ, **_gateway_env()}
    proc = subprocess.run([ctx.python, "-c", code], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        raise Skip(f"meshapi-gateway CLI not importable yet ({last})")


def _gateway_config(
    ctx: Context, path: Path, redis_url: str, priced: bool = False, extra: tuple[str, ...] = ()
) -> None:
    up = ctx.upstream
    lines = ['log_level = "warning"', "access_log = false"]
    if redis_url:
        lines.append(f'redis_url = "{redis_url}"')
    lines += ["", "[local_model]", "enabled = false"]
    for model_id, base in (("bench/mock", up.chat_url), ("bench/mock-stream", up.stream_url)):
        lines += [
            "",
            "[[models]]",
            f'id = "{model_id}"',
            'provider = "openai_compat"',
            'upstream_model = "mock"',
            f'base_url = "{base}"',
            f'api_key = "{UPSTREAM_KEY}"',
            *(['prompt_usd_per_1m = "1"', 'completion_usd_per_1m = "2"'] if priced else ["is_free = true"]),
        ]
    lines += ["", *extra]
    path.write_text("\n".join(lines) + "\n")


# A key with a budget (never reached here) and a model allowlist: every call reserves its worst case.
GOVERNED_KEY_ARGS = ["--budget-usd", "100000", "--budget-period", "monthly", "--models", "bench/*"]


def _gateway(
    workers: int | None,
    redis: bool,
    priced: bool = False,
    governed: bool = False,
    extra: tuple[str, ...] = (),
    cached: bool = False,
) -> Callable[[Context], Running]:
    """``extra``: config lines (tables) added at the end of the gateway's TOML file; ``cached``: every request
    asks the response cache (``"cache": true``), so after the checks every timed answer is an exact hit."""

    def start(ctx: Context) -> Running:
        terms = list(GOVERNED_KEY_ARGS) if governed else []
        return _serve_gateway(ctx, workers or ctx.cpus, redis, priced, extra, cached, [terms])[0]

    return start


def priced_plain_and_governed(ctx: Context) -> tuple[Running, Running]:
    """One priced gateway (as ``meshapi-priced`` and ``meshapi-governed``) holding a plain key and a budgeted,
    allowlisted one: a side per key on the same process, which then share its memory layout, cores and warm-up
    (two starts of the same code differ in CPU per request by more than the governance goal's margin)."""
    plain, governed = _serve_gateway(ctx, 1, False, True, (), False, [[], list(GOVERNED_KEY_ARGS)])
    return plain, governed


def _serve_gateway(
    ctx: Context,
    n: int,
    redis: bool,
    priced: bool,
    extra: tuple[str, ...],
    cached: bool,
    key_terms: list[list[str]],
) -> list[Running]:
    """One gateway process of ``n`` workers, and per entry of ``key_terms`` a key with those terms (``keys
    create`` options) and a ``Running`` that calls with it; every ``Running`` stops the same process."""
    _gateway_available(ctx)
    home = ctx.work / f"gateway-{n}w{'-redis' if redis else ''}-{time.monotonic_ns()}"
    data = home / "data"
    data.mkdir(parents=True)
    config = home / "gateway.toml"
    _gateway_config(ctx, config, ctx.redis_url() if redis else "", priced, extra)
    keys = [create_key(_gateway_argv(ctx), data, config, terms) for terms in key_terms]
    port = free_port()
    argv = [
        *_gateway_argv(ctx),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data),
        "--config",
        str(config),
        "--workers",
        str(n),
    ]
    proc = Proc(home.name.rsplit("-", 1)[0], argv, ctx.logs, env=_gateway_env())
    _listening(proc, port, 90)
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    version = _gateway_version(ctx)
    return [
        Running(
            url,
            url,
            fixtures.request_body("bench/mock", False, cache=cached),
            fixtures.request_body("bench/mock-stream", True, cache=cached),
            _headers(key),
            _headers(key),
            proc.pid,
            [proc],
            version=version,
            extra_pids=[ctx.redis_pid] if redis else [],
            expect=("x-meshapi-cache", "hit") if cached else None,
            data_dir=data,
        )
        for key in keys
    ]


def _gateway_version(ctx: Context) -> str:
    code = "import importlib.metadata as m\ntry: print(m.version('meshapi-gateway'))\nexcept Exception: print('source')"
    return subprocess.run([ctx.python, "-c", code], capture_output=True, text=True).stdout.strip()


# -- peers ---------------------------------------------------------------------------


LITELLM_KEY = "sk-litellm-bench"


def _litellm(ctx: Context) -> Running:
    try:
        exe = deps.litellm()
    except deps.Missing as exc:
        raise Skip(str(exc)) from None
    up = ctx.upstream
    home = ctx.work / "litellm"
    home.mkdir(parents=True, exist_ok=True)
    config = home / "config.yaml"
    params = "{{model: openai/mock, api_base: '{}', api_key: " + UPSTREAM_KEY + "}}"
    config.write_text(
        "model_list:\n"
        f"  - model_name: mock\n    litellm_params: {params.format(up.chat_url)}\n"
        f"  - model_name: mock-stream\n    litellm_params: {params.format(up.stream_url)}\n"
        "general_settings:\n"
        f"  master_key: {LITELLM_KEY}\n"
        "litellm_settings:\n"
        "  drop_params: true\n"
    )
    port = free_port()
    env = {
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no price download at start (offline, deterministic)
        "LITELLM_LOG": "ERROR",
        "LITELLM_TELEMETRY": "False",
        "NO_DOCS": "True",
    }
    proc = Proc(
        "litellm",
        [
            str(exe),
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--num_workers",
            "1",
            "--telemetry",
            "False",
        ],
        ctx.logs,
        env=env,
        cwd=home,
    )
    _listening(proc, port, 180)
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    h = _headers(LITELLM_KEY)
    return Running(
        url,
        url,
        fixtures.request_body("mock", False),
        fixtures.request_body("mock-stream", True),
        h,
        h,
        proc.pid,
        [proc],
        version=deps.litellm_version(),
    )


def _portkey(ctx: Context) -> Running:
    try:
        entry = deps.portkey()
    except deps.Missing as exc:
        raise Skip(str(exc)) from None
    up = ctx.upstream
    port = free_port()
    proc = Proc(
        "portkey",
        ["node", str(entry), f"--port={port}", "--headless"],
        ctx.logs,
        env={"NODE_ENV": "production"},
        cwd=entry.parent,
    )
    _listening(proc, port, 60)
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    # Portkey routes by headers: provider plus a custom host per call shape.
    chat_h = _headers(UPSTREAM_KEY, {"x-portkey-provider": "openai", "x-portkey-custom-host": up.chat_url})
    stream_h = _headers(UPSTREAM_KEY, {"x-portkey-provider": "openai", "x-portkey-custom-host": up.stream_url})
    return Running(
        url,
        url,
        fixtures.request_body("mock", False),
        fixtures.request_body("mock", True),
        chat_h,
        stream_h,
        proc.pid,
        [proc],
        version=deps.PORTKEY_VERSION,
    )


def all_targets(cpus: int) -> list[Target]:
    return [
        Target("direct", "nginx direct (rig limit)", "rig", _direct),
        Target("minimal", "minimal Python proxy", "limit", _minimal),
        Target("meshapi", "meshapi-gateway, 1 worker", "ours", _gateway(1, redis=False)),
        # The same gateway answering every timed request from its exact cache (memory), same run.
        Target(
            "meshapi-cache-hit",
            "meshapi-gateway, 1 worker, exact cache hits",
            "ours",
            _gateway(1, redis=False, cached=True),
        ),
        # The same gateway without its request log: the log's cost is the difference (same run).
        Target(
            "meshapi-nolog",
            "meshapi-gateway, 1 worker, request log off",
            "ours",
            _gateway(1, redis=False, extra=("[request_log]", "enabled = false")),
        ),
        Target("meshapi-redis-1", "meshapi-gateway, 1 worker + Redis", "ours", _gateway(1, redis=True)),
        Target(
            "meshapi-redis-n",
            f"meshapi-gateway, {cpus} workers + Redis",
            "ours",
            _gateway(None, redis=True),
            workers=cpus,
        ),
        # Plain key vs budgeted, allowlisted key on priced models (each call billed), same run.
        Target(
            "meshapi-priced",
            "meshapi-gateway, 1 worker, priced models, plain key",
            "ours",
            _gateway(1, redis=False, priced=True),
        ),
        Target(
            "meshapi-governed",
            "meshapi-gateway, 1 worker, priced models, budgeted + allowlisted key",
            "ours",
            _gateway(1, redis=False, priced=True, governed=True),
        ),
        Target("litellm", "LiteLLM proxy, 1 worker", "peer", _litellm),
        Target("portkey", "Portkey gateway", "peer", _portkey),
    ]


def create_key(argv: list[str], data: Path, config: Path, extra: list[str]) -> str:
    """A key made by the gateway's own CLI on its data folder (``extra``: its terms, e.g. a budget)."""
    made = subprocess.run(
        [
            *argv,
            "keys",
            "create",
            "--owner",
            "bench",
            "--json",
            "--data-dir",
            str(data),
            "--config",
            str(config),
            *extra,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **_gateway_env()},
        timeout=120,
    )
    if made.returncode != 0:
        raise Skip(f"`meshapi-gateway keys create` failed: {(made.stderr or made.stdout).strip()[-400:]}")
    try:
        return str(json.loads(made.stdout)["key"])
    except (ValueError, KeyError) as exc:
        raise Skip(f"`keys create --json` printed no key ({exc}): {made.stdout[:200]!r}") from None
