"""CLI commands of the accounts area: ``accounts credit|show`` and ``keys update|suspend|resume``.

They write the database directly; running gateways see the change within their refresh
intervals (``balance_refresh_seconds``, ``key_cache_refresh_seconds``).
"""

from __future__ import annotations

import argparse
import asyncio
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from meshapi_gateway.cli_support import settings_of as _settings
from meshapi_gateway.cli_support import show as _print
from meshapi_gateway.cli_support import tenant_owner
from meshapi_gateway.cli_support import with_db as _with_db
from meshapi_gateway.config import ConfigError
from meshapi_gateway.governance.cli_terms import add_term_args, terms_from_args


def _parse_usd(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ConfigError(f"--usd {text!r} is not a decimal amount") from None
    from meshapi_gateway.billing.ledger_store import credit_amount_problem

    problem = credit_amount_problem(value)
    if problem is not None:
        raise ConfigError(f"--usd {problem}")
    return value


def cmd_accounts_credit(args: argparse.Namespace) -> int:
    from meshapi_gateway.billing.ledger_store import credit
    from meshapi_gateway.billing.queries import usd

    settings = _settings(args)
    amount = _parse_usd(args.usd)
    opening = settings.default_credit_usd if settings.billing_enforce else Decimal(0)

    async def credit_and_audit(session: Any) -> Any:
        from meshapi_gateway.governance import audit

        row = await credit(session, args.owner, amount, args.note or "", opening)
        await audit.record(
            session, audit.CLI, "credit", "account", args.owner, args.owner, {"usd": amount, "note": args.note or ""}
        )
        return row

    row = asyncio.run(_with_db(settings, credit_and_audit))
    data = {"owner": row.owner, "balance_usd": usd(row.balance_usd), "credited_usd": usd(row.credited_usd)}
    _print(args, data, f"{row.owner}: balance {data['balance_usd']} USD (credited {usd(amount)})")
    return 0


def cmd_accounts_show(args: argparse.Namespace) -> int:
    from meshapi_gateway.billing.queries import balance_view

    settings = _settings(args)
    view = asyncio.run(_with_db(settings, lambda s: balance_view(s, args.owner, None)))
    text = (
        f"{args.owner}: balance {view['balance_usd']} USD, spent {view['spent_usd']} USD"
        if view["limited"]
        else f"{args.owner}: no account (unlimited), spent {view['spent_usd']} USD"
    )
    _print(args, view, text)
    return 0


def cmd_keys_update(args: argparse.Namespace) -> int:
    changes: dict[str, Any] = {}
    for name in ("rpm", "rpd", "tpm"):
        value = getattr(args, name)
        if value is not None:
            if value < 0:
                raise ConfigError(f"--{name} must be 0 (no limit) or more")
            changes[name] = value or None
    if args.name is not None:
        changes["name"] = args.name
    changes.update(terms_from_args(args))
    if not changes:
        raise ConfigError("nothing to change: give --rpm, --rpd, --tpm, --name or a term such as --budget-usd")
    return _update(args, changes)


def cmd_keys_suspend(args: argparse.Namespace) -> int:
    return _update(args, {"suspended": args.keys_command == "suspend"}, f"key.{args.keys_command}")


def _update(args: argparse.Namespace, changes: dict[str, Any], action: str = "key.update") -> int:
    from meshapi_gateway.auth.key_limits import update_key
    from meshapi_gateway.auth.keys import key_view
    from meshapi_gateway.governance import audit
    from meshapi_gateway.governance.key_terms import models_of

    async def change(session: Any) -> Any:
        row = await update_key(session, args.id, changes)
        if row is not None:
            await audit.record(
                session, audit.CLI, action, "key", args.id, row.owner, None if action != "key.update" else changes
            )
        return row

    settings = _settings(args)
    row = asyncio.run(_with_db(settings, change))
    if row is None:
        _print(args, {"id": args.id, "updated": False}, f"no key {args.id}")
        return 1
    view = key_view(row)
    _print(
        args,
        view,
        f"{row.id}: rpm={row.rpm} rpd={row.rpd} tpm={row.tpm} name={row.name or '-'} "
        f"budget={view['budget_usd'] or '-'}/{view['budget_period'] or '-'} "
        f"models={','.join(models_of(row.models) or []) or 'all'} expires={view['expires_at'] or '-'} "
        f"{'suspended' if row.suspended else 'active'}",
    )
    return 0


def add_commands(sub: Any, keys: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = keys.add_parser("update", help="change a key's limits or name (0 removes a limit)")
    common(p)
    p.add_argument("id")
    p.add_argument("--name")
    p.add_argument("--rpm", type=int, help="requests per minute (0 = no limit)")
    p.add_argument("--rpd", type=int, help="requests per day (0 = no limit)")
    p.add_argument("--tpm", type=int, help="tokens per minute (0 = no limit)")
    add_term_args(p, removable=True)
    p.set_defaults(func=cmd_keys_update)
    for verb, text in (
        ("suspend", "refuse a key's requests (403) until it is resumed"),
        ("resume", "let a suspended key work again"),
    ):
        p = keys.add_parser(verb, help=text)
        common(p)
        p.add_argument("id")
        p.set_defaults(func=cmd_keys_suspend)

    accounts = sub.add_parser("accounts", help="balances").add_subparsers(dest="accounts_command", required=True)
    p = accounts.add_parser("credit", help="add USD to an owner's balance (negative to debit)")
    common(p)
    p.add_argument("--owner", required=True, type=tenant_owner)
    p.add_argument("--usd", required=True, help="amount in USD, e.g. 10 or 2.50")
    p.add_argument("--note", help="why (kept with the credit)")
    p.set_defaults(func=cmd_accounts_credit)
    p = accounts.add_parser("show", help="an owner's balance and spending")
    common(p)
    p.add_argument("--owner", required=True)
    p.set_defaults(func=cmd_accounts_show)
