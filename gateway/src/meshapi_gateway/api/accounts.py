"""The admin API for money: credit an owner, read any owner's balance (admin token only)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from meshapi_gateway.api.common import gw, json_response, read_json_object
from meshapi_gateway.api.openapi import EXTRA_PATHS, _op
from meshapi_gateway.auth.authenticate import authenticate
from meshapi_gateway.auth.principal import Principal, owner_name_problem
from meshapi_gateway.billing.ledger_store import credit_amount_problem
from meshapi_gateway.billing.queries import balance_view
from meshapi_gateway.errors import GatewayError, field_error, unknown_fields_error
from meshapi_gateway.governance import audit
from meshapi_gateway.governance.audit import actor_of

EXTRA_PATHS.update(
    {
        "/v1/admin/credits": {"post": _op("Credit (or debit) an owner's balance (admin token)")},
        "/v1/admin/accounts/{owner}": {"get": _op("An owner's balance (admin token)")},
    }
)


async def _admin(request: Request) -> Principal:
    principal = await authenticate(gw(request), request.headers.get("authorization"), "any")
    if principal.realm != "admin":
        raise GatewayError("forbidden", "This endpoint needs the admin token.")
    return principal


def parse_usd(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise field_error("usd", 'Expected a decimal string such as "10" or "2.50"')
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise field_error("usd", 'Expected a decimal string such as "10" or "2.50"', value=str(value)[:50]) from None
    problem = credit_amount_problem(amount)
    if problem is not None:
        raise field_error("usd", f"The amount {problem}", value=str(value)[:50])
    return amount


CREDIT_FIELDS = ("owner", "usd", "amount_usd", "note")


async def credit(request: Request) -> Response:
    principal = await _admin(request)
    body = await read_json_object(request)
    unknown = [name for name in body if name not in CREDIT_FIELDS]
    if unknown:
        raise unknown_fields_error(unknown)
    owner = body.get("owner")
    if not isinstance(owner, str) or not owner.strip() or len(owner) > 200:
        raise field_error("owner", "Field required: the owner to credit", type_="missing")
    problem = owner_name_problem(owner)
    if problem is not None:
        raise field_error("owner", f"Owner {problem}", value=owner)
    amount = parse_usd(body.get("usd", body.get("amount_usd")))
    given = body.get("note")
    note = given if isinstance(given, str) else ""
    state = gw(request)
    await state.billing.credit(owner, amount, note)
    async with state.sessions() as session:
        await audit.record(
            session, actor_of(principal), "credit", "account", owner, owner, {"usd": amount, "note": note}
        )
        view = await balance_view(session, owner, state.billing.book)
    return json_response(view)


async def account(request: Request) -> Response:
    await _admin(request)
    state = gw(request)
    async with state.sessions() as session:
        view = await balance_view(session, request.path_params["owner"], state.billing.book)
    return json_response(view)
