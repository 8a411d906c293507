"""The ``meshapi-gateway`` command: serve, manage keys and tokens, list models, migrate.

Every command reads the same settings as the server (config file, ``MESHAPI_GATEWAY_*``)
and accepts ``--json`` where a script may want to read the output.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from meshapi_gateway import __version__
from meshapi_gateway.cli_accounts import add_commands as add_accounts_commands
from meshapi_gateway.cli_support import settings_of as _settings
from meshapi_gateway.cli_support import show as _print
from meshapi_gateway.cli_support import tenant_owner
from meshapi_gateway.cli_support import with_db as _with_db
from meshapi_gateway.config import ConfigError, Settings
from meshapi_gateway.governance.cli_terms import add_term_args

SETTINGS_ENV = "MESHAPI_GATEWAY__SETTINGS_JSON"


# -- serve -----------------------------------------------------------------


def show_gateway_logs(level: str) -> None:
    """Print the gateway's own log lines (local model, batches …) the way uvicorn prints its own."""
    import logging

    from uvicorn.logging import DefaultFormatter

    logger = logging.getLogger("meshapi_gateway")
    if logger.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(DefaultFormatter("%(levelprefix)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False


def app_from_env() -> Any:
    """Factory used by uvicorn worker processes: settings travel as JSON in the environment."""
    from meshapi_gateway.app import asgi
    from meshapi_gateway.malloc_arenas import limit_malloc_arenas

    settings = Settings.model_validate_json(os.environ[SETTINGS_ENV])
    show_gateway_logs(settings.log_level)
    limit_malloc_arenas()  # before the writer threads start
    return asgi(settings, migrate=False, tune_gc=True)  # the parent migrated once, before starting the workers


def prepare_in_child() -> None:
    """Run in a short-lived child by ``serve``: migrate, and for the quick start make a key and a token.

    Alembic and PyJWT (with cryptography) then never load into the serving process, which
    keeps its resident memory down; the child prints its results as JSON.
    """
    from meshapi_gateway.store import db

    settings = Settings.model_validate_json(os.environ[SETTINGS_ENV])
    db.upgrade(settings.resolved_database_url())
    out: dict[str, str] = {}
    if os.environ.get(SETTINGS_ENV + "_QUICKSTART"):
        from meshapi_gateway.auth.jwt_tokens import JWTVerifier
        from meshapi_gateway.auth.keys import create_key

        created = asyncio.run(_with_db(settings, lambda s: create_key(s, "local", "quickstart"), migrate=False))
        out["key"] = created.key
        out["token"] = JWTVerifier(
            settings.resolved_jwt_secret(),
            settings.jwt_audience,
            settings.jwt_issuer,
            max_ttl_seconds=settings.jwt_max_ttl_seconds,
        ).mint("local", min(24 * 3600, settings.jwt_max_ttl_seconds))
    print(json.dumps(out))


def _prepare(settings: Settings, quickstart: bool) -> dict[str, str]:
    import subprocess

    env = {**os.environ, SETTINGS_ENV: settings.model_dump_json()}
    if quickstart:
        env[SETTINGS_ENV + "_QUICKSTART"] = "1"
    proc = subprocess.run(
        [sys.executable, "-c", "from meshapi_gateway.cli import prepare_in_child as p; p()"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"meshapi-gateway: preparing the database failed (exit code {proc.returncode})")
    result: dict[str, str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _quickstart_model(settings: Settings) -> tuple[str | None, str]:
    """The model the banner's examples use, and a line saying where it comes from."""
    from meshapi_gateway.catalog import load_catalog
    from meshapi_gateway.providers.local.catalog_entry import LOCAL_MODEL_ID
    from meshapi_gateway.providers.local.files import locate

    if settings.local_model.enabled:
        files = locate(settings.local_model.path)
        if files.available:
            return LOCAL_MODEL_ID, f"{LOCAL_MODEL_ID} (runs on this machine, free; loads in a few seconds)"
        reason = f"local model off: {files.missing}"
    else:
        reason = "local model off (local_model.enabled is false)"
    catalog = load_catalog(settings.builtin_catalog, settings.catalog_file, settings.models)
    first = next(iter(catalog), None)
    if first is None:
        return None, f"{reason}; no other model is configured: set a vendor key such as OPENAI_API_KEY"
    return first.id, f"{first.id} ({reason})"


def _python_command() -> tuple[str, str]:
    """A Python that has the SDK (this interpreter when it has it, as in the quick start) and a hint."""
    import importlib.util

    if importlib.util.find_spec("meshapi") is None:
        return "python3", " (first: pip install meshapi)"
    exe = Path(sys.executable)
    try:
        return str(exe.relative_to(Path.cwd())), " in this folder"
    except ValueError:
        return str(exe), ""


def quickstart_banner(settings: Settings, key: str, token: str) -> str:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    url = f"{'https' if settings.tls else 'http'}://{host}:{settings.port}"
    model, model_line = _quickstart_model(settings)
    shown_model = model or "MODEL-ID"
    python, where = _python_command()
    # The token rides in the fragment, which a browser never sends to the server (docs/console.md).
    console = f"  Web console (signs you in):   {url}/ui/#token={token}\n" if settings.console else ""
    # The snippet is printed flush left so that it can be pasted into a shell as it is.
    return f"""
  meshapi-gateway {__version__} is starting on {url}

  Data-plane key (shown once):  {key}
  Control-plane token (24 h):   {token}
  Model for the examples:       {model_line}
{console}
  Try it from another terminal{where}, with the SDK:

{python} - <<'PY'
from meshapi import MeshAPI, ChatCompletionParams, ChatMessage
client = MeshAPI(base_url="{url}", token="{key}")
reply = client.chat.completions.create(ChatCompletionParams(
    model="{shown_model}",
    messages=[ChatMessage(role="user", content="Say hello in five words.")]))
print(reply.choices[0].message.content)
PY

  or with curl:

curl {url}/v1/chat/completions -H "Authorization: Bearer {key}" \\
  -H "Content-Type: application/json" \\
  -d '{{"model": "{shown_model}", "messages": [{{"role": "user", "content": "Hi!"}}]}}'

  Any OpenAI client works too: base_url="{url}/v1", api_key="{key}".
  The token is for the control plane (keys, balance, templates): Authorization: Bearer <token>.
"""


# The gateway does not use the client address, and a Server header only tells attackers the stack:
# skipping both saves work on every request.
SERVER_OPTIONS: dict[str, Any] = {"proxy_headers": False, "server_header": False}


def server_options(settings: Settings) -> dict[str, Any]:
    """The ``uvicorn.Config`` arguments every serving process gets from the settings."""
    from meshapi_gateway.connection_guard import guarded_protocol

    tls: dict[str, Any] = (
        {"ssl_certfile": settings.ssl_certfile, "ssl_keyfile": settings.ssl_keyfile} if settings.tls else {}
    )
    return {
        "log_level": settings.log_level,
        "access_log": False,
        "loop": "auto",
        "http": guarded_protocol(settings.header_timeout_seconds, settings.max_connections),
        "timeout_keep_alive": settings.keep_alive_timeout_seconds,
        "timeout_graceful_shutdown": int(settings.shutdown_grace_seconds),
        **tls,
        **SERVER_OPTIONS,
    }


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = _settings(args)
    if settings.workers > 1 and not settings.redis_url:
        raise ConfigError(
            f"--workers {settings.workers} needs Redis: with several processes, in-memory rate limits and "
            "balances would be multiplied by the number of workers. Set MESHAPI_GATEWAY_REDIS_URL "
            "(or redis_url in the config file), or run one worker."
        )
    settings.resolved_jwt_secret()  # made (and kept in the data folder) here, before any child reads it
    prepared = _prepare(settings, args.quickstart)
    show_gateway_logs(settings.log_level)
    if args.quickstart:
        print(quickstart_banner(settings, prepared["key"], prepared["token"]), flush=True)
    from meshapi_gateway.connection_guard import fit_to_open_file_limit

    settings = settings.model_copy(update={"max_connections": fit_to_open_file_limit(settings.max_connections)})
    if settings.workers > 1:
        from meshapi_gateway.metrics import share_between_workers
        from meshapi_gateway.providers.local.shared import SHARED_ENV, host_for
        from meshapi_gateway.workers import supervise

        share_between_workers(settings.data_dir)  # one scrape reports the sum over the workers
        os.environ[SETTINGS_ENV] = settings.model_dump_json()
        options = {"app": "meshapi_gateway.cli:app_from_env", "factory": True, **server_options(settings)}
        model_host = host_for(settings)  # one local model child for all the workers of this node
        if model_host is not None:
            os.environ[SHARED_ENV] = model_host.handoff()
        try:
            return supervise(options, settings.host, settings.port, settings.workers, settings.shutdown_grace_seconds)
        finally:
            if model_host is not None:
                model_host.stop()
    else:
        from uvicorn.config import STARTUP_FAILURE

        from meshapi_gateway.app import asgi
        from meshapi_gateway.graceful_stop import serve
        from meshapi_gateway.malloc_arenas import limit_malloc_arenas

        limit_malloc_arenas()  # before the writer threads start
        app = asgi(settings, migrate=False, tune_gc=True)
        if not serve(uvicorn.Config(app, host=settings.host, port=settings.port, **server_options(settings))):
            return STARTUP_FAILURE
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from meshapi_gateway.batches.worker import run_worker

    return run_worker(_settings(args))


def cmd_migrate(args: argparse.Namespace) -> int:
    from meshapi_gateway.store import db

    settings = _settings(args)
    db.upgrade(settings.resolved_database_url())
    _print(args, {"status": "ok"}, "schema is up to date")
    return 0


# -- keys ------------------------------------------------------------------


def _limit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rpm", type=int, help="requests per minute")
    p.add_argument("--rpd", type=int, help="requests per day")
    p.add_argument("--tpm", type=int, help="tokens per minute")


def cmd_keys_create(args: argparse.Namespace) -> int:
    from meshapi_gateway.auth.key_limits import get_key
    from meshapi_gateway.auth.keys import create_key, key_view
    from meshapi_gateway.governance import audit
    from meshapi_gateway.governance.cli_terms import terms_from_args

    settings = _settings(args)
    terms = terms_from_args(args)

    async def create(session: Any) -> dict[str, Any]:
        created = await create_key(
            session, args.owner, args.name or "", rpm=args.rpm, rpd=args.rpd, tpm=args.tpm, terms=terms
        )
        await audit.record(
            session,
            audit.CLI,
            "key.create",
            "key",
            created.id,
            args.owner,
            {"name": args.name or "", "rpm": args.rpm, "rpd": args.rpd, "tpm": args.tpm, **terms},
        )
        row = await get_key(session, created.id)
        assert row is not None
        return {**key_view(row), "key": created.key}

    data = asyncio.run(_with_db(settings, create))
    _print(args, data, f"{data['key']}\n(id {data['id']}, owner {data['owner']}; the key is shown only this once)")
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    from meshapi_gateway.auth.keys import key_view, list_keys

    settings = _settings(args)
    rows = asyncio.run(_with_db(settings, lambda s: list_keys(s, args.owner)))
    views = [key_view(r) for r in rows]
    lines = [
        f"{v['id']}  {v['prefix']}…  {v['name'] or '-'}  {'revoked' if v['revoked_at'] else 'active'}" for v in views
    ]
    _print(args, views, "\n".join(lines) or "no keys")
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    from meshapi_gateway.auth.keys import revoke_key
    from meshapi_gateway.governance import audit

    async def revoke(session: Any) -> bool:
        done = await revoke_key(session, args.id)
        if done:
            await audit.record(session, audit.CLI, "key.revoke", "key", args.id)
        return done

    settings = _settings(args)
    ok = asyncio.run(_with_db(settings, revoke))
    _print(args, {"id": args.id, "revoked": ok}, f"revoked {args.id}" if ok else f"no active key {args.id}")
    return 0 if ok else 1


# -- tokens, models --------------------------------------------------------


def cmd_tokens_create(args: argparse.Namespace) -> int:
    from meshapi_gateway.auth.jwt_tokens import JWTVerifier

    s = _settings(args)
    verifier = JWTVerifier(s.resolved_jwt_secret(), s.jwt_audience, s.jwt_issuer, max_ttl_seconds=s.jwt_max_ttl_seconds)
    try:
        token = verifier.mint(args.owner, args.ttl)
    except ValueError as exc:
        raise ConfigError(f"--ttl: {exc}") from None
    jti = verifier.unverified_jti(token)
    _print(args, {"token": token, "owner": args.owner, "expires_in": args.ttl, "jti": jti}, token)
    return 0


def cmd_tokens_revoke(args: argparse.Namespace) -> int:
    from meshapi_gateway.auth.revocations import revoke
    from meshapi_gateway.governance import audit

    s = _settings(args)
    if (args.jti is None) == (args.owner is None):
        raise ConfigError("name exactly one of --jti and --owner")

    async def revoke_and_audit(session: Any) -> Any:
        row = await revoke(
            session,
            max_ttl_seconds=s.jwt_max_ttl_seconds,
            jti=args.jti,
            owner=args.owner,
            issued_before=args.issued_before,
            note=args.note or "",
        )
        await audit.record_revocation(session, audit.CLI, row)
        return row

    row = asyncio.run(_with_db(s, revoke_and_audit))
    data = {
        "id": row.id,
        "jti": row.jti,
        "owner": row.owner,
        "issued_before": row.issued_before,
        "revoked_at": row.revoked_at,
    }
    what = f"token {row.jti}" if row.jti else f"tokens of {row.owner} issued before {row.issued_before}"
    _print(args, data, f"revoked {what} (running gateways apply it within key_cache_refresh_seconds)")
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    from meshapi_gateway.catalog import load_catalog

    s = _settings(args)
    catalog = load_catalog(s.builtin_catalog, s.catalog_file, s.models)
    items = catalog.wire_list()
    if s.local_model.enabled:
        from meshapi_gateway.providers.local.catalog_entry import local_model_entry
        from meshapi_gateway.providers.local.files import locate

        if locate(s.local_model.path).available:  # listed exactly as the running gateway lists it
            items = [*items, local_model_entry("", s.local_model.n_ctx).wire()]
    lines = [f"{m['id']:<40} {'free' if m['is_free'] else 'paid'}" for m in items]
    _print(args, items, "\n".join(lines))
    return 0


# -- parser ----------------------------------------------------------------


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="TOML config file (or MESHAPI_GATEWAY_CONFIG)")
    p.add_argument("--data-dir", dest="data_dir", type=Path, help="folder for the SQLite database and files")
    p.add_argument("--database-url", dest="database_url", help="sqlite+aiosqlite:// or postgresql+asyncpg:// URL")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meshapi-gateway", description="The MeshAPI gateway.")
    parser.add_argument("--version", action="version", version=f"meshapi-gateway {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the gateway")
    _common(p)
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int, help="worker processes (more than one needs Redis)")
    p.add_argument("--ssl-certfile", dest="ssl_certfile", help="PEM certificate (chain): serve HTTPS")
    p.add_argument("--ssl-keyfile", dest="ssl_keyfile", help="PEM private key of --ssl-certfile")
    p.add_argument("--quickstart", action="store_true", help="create a key and a token and print how to use them")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("worker", help="run batches in this process, without HTTP (start several to scale)")
    _common(p)
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("migrate", help="bring the database schema up to date")
    _common(p)
    p.set_defaults(func=cmd_migrate)

    keys = sub.add_parser("keys", help="data-plane API keys").add_subparsers(dest="keys_command", required=True)
    p = keys.add_parser("create", help="create a key (printed once)")
    _common(p)
    p.add_argument("--owner", required=True, type=tenant_owner)
    p.add_argument("--name")
    _limit_args(p)
    add_term_args(p, removable=False)
    p.set_defaults(func=cmd_keys_create)
    p = keys.add_parser("list", help="list keys")
    _common(p)
    p.add_argument("--owner")
    p.set_defaults(func=cmd_keys_list)
    p = keys.add_parser("revoke", help="revoke a key by id")
    _common(p)
    p.add_argument("id")
    p.set_defaults(func=cmd_keys_revoke)
    add_accounts_commands(sub, keys, _common)

    tokens = sub.add_parser("tokens", help="control-plane tokens").add_subparsers(dest="tokens_command", required=True)
    p = tokens.add_parser("create", help="mint a control-plane JWT")
    _common(p)
    p.add_argument("--owner", required=True, type=tenant_owner)
    p.add_argument(
        "--ttl", type=int, default=3600, help="lifetime in seconds (default 3600, at most jwt_max_ttl_seconds)"
    )
    p.set_defaults(func=cmd_tokens_create)
    p = tokens.add_parser("revoke", help="revoke one token (--jti) or every token of an owner (--owner)")
    _common(p)
    p.add_argument("--jti", help="the token's jti (printed by `tokens create --json`)")
    p.add_argument("--owner", help="revoke every token of this owner issued before --issued-before (default: now)")
    p.add_argument("--issued-before", dest="issued_before", type=int, help="Unix seconds (with --owner)")
    p.add_argument("--note", help="why (kept with the revocation)")
    p.set_defaults(func=cmd_tokens_revoke)

    models = sub.add_parser("models", help="the model catalog").add_subparsers(dest="models_command", required=True)
    p = models.add_parser("list", help="list the models this configuration serves")
    _common(p)
    p.set_defaults(func=cmd_models_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"meshapi-gateway: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
