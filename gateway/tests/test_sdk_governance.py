"""Our SDK's control-plane resources (``keys``, ``teams``, ``usage``, ``balance``) against a real gateway.

The admin token makes a team, its member makes a budgeted key through the SDK, the key calls
the fake upstream, and the spend comes back through ``keys.get``, ``usage`` and ``balance``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from decimal import Decimal
from typing import Callable

import pytest
from gwtest.accounts_support import ADMIN
from gwtest.harness import Gateway

from meshapi import (
    APIKey,
    AsyncMeshAPI,
    Balance,
    CreatedAPIKey,
    MeshAPI,
    NotFoundError,
    PermissionDeniedError,
    Team,
    UsageGroups,
    UsageList,
    ValidationError,
)

HI = [{"role": "user", "content": "hello"}]
EXPIRY = datetime(2099, 1, 31, tzinfo=timezone.utc)


@pytest.fixture
def gw(gateway_factory: Callable[..., Gateway]) -> Gateway:
    return gateway_factory(admin_token=ADMIN, local_embeddings=False)


def _chat(gw: Gateway, key: str) -> None:
    with MeshAPI(gw.url, key, max_retries=0) as client:
        client.chat.completions.create(model="fake/echo", messages=HI)


def test_keys_and_teams_round_trip_and_spend_shows(gw: Gateway) -> None:
    admin = MeshAPI(gw.url, ADMIN, max_retries=0)
    team = admin.teams.create(
        name="sdk-team",
        members={"sdk-ann": "admin"},
        budget_usd=Decimal("5"),
        budget_period="monthly",
        models=["fake/*"],
        rpm=100,
    )
    assert isinstance(team, Team) and team.members == {"sdk-ann": "admin"}
    assert (team.budget_usd, team.budget_period, team.models, team.rpm) == ("5", "monthly", ["fake/*"], 100)
    assert team.budget_resets_at is not None

    owner = MeshAPI(gw.url, gw.token("sdk-ann"), max_retries=0)
    created = owner.keys.create(
        name="ci",
        budget_usd=Decimal("1.50"),
        budget_period="daily",
        models=["fake/echo"],
        expires_at=EXPIRY,
        metadata={"env": "ci"},
        team_id=team.id,
    )
    assert isinstance(created, CreatedAPIKey) and created.key.startswith("rsk_")
    assert (created.owner, created.name, created.team_id) == ("sdk-ann", "ci", team.id)
    assert (created.budget_usd, created.budget_period, created.spend_usd) == ("1.5", "daily", "0")
    assert created.models == ["fake/echo"] and created.metadata == {"env": "ci"}
    assert created.expires_at == "2099-01-31T00:00:00Z"

    _chat(gw, created.key)
    spent = owner.keys.get(created.id)
    assert isinstance(spent, APIKey) and "key" not in spent.model_dump()
    assert Decimal(spent.spend_usd or "0") > 0 and spent.budget_resets_at is not None
    assert [k.id for k in owner.keys.list().data] == [created.id]
    assert [k.id for k in admin.keys.list(owner="sdk-ann").data] == [created.id]

    # On a change, None removes a term (sent as null); what is not given stays.
    changed = owner.keys.update(created.id, models=None, budget_usd=None, rpm=7)
    assert (changed.models, changed.budget_usd, changed.rpm, changed.name) == (None, None, 7, "ci")

    assert owner.keys.suspend(created.id).suspended is True
    with pytest.raises(PermissionDeniedError):
        _chat(gw, created.key)
    assert owner.keys.resume(created.id).suspended is False
    _chat(gw, created.key)

    rows = owner.usage.list(key_id=created.id)
    assert isinstance(rows, UsageList) and rows.total_count == 2 == len(rows.data)
    assert {r.model for r in rows.data} == {"fake/echo"} and {r.team_id for r in rows.data} == {team.id}
    assert Decimal(rows.total_cost_usd) == sum(Decimal(r.cost_usd) for r in rows.data) > 0
    by_model = owner.usage.grouped(group_by="model")
    assert isinstance(by_model, UsageGroups) and by_model.group_by == "model"
    assert [(g.model, g.requests) for g in by_model.data] == [("fake/echo", 2)]
    by_team = owner.usage.grouped(group_by="team", since="2020-01-01T00:00:00Z")
    assert [(g.team_id, g.requests) for g in by_team.data] == [(team.id, 2)]
    assert [g.requests for g in owner.usage.grouped(group_by="day").data] == [2]
    assert len(owner.usage.events(since=0).events) == 2

    balance = owner.balance.get()
    assert isinstance(balance, Balance) and balance.owner == "sdk-ann"
    assert Decimal(balance.spent_usd or "0") == Decimal(rows.total_cost_usd)

    assert owner.keys.revoke(created.id) is None
    assert owner.keys.get(created.id).revoked_at is not None
    with pytest.raises(PermissionDeniedError, match="revoked"):
        _chat(gw, created.key)

    assert admin.teams.update(team.id, rpm=None, name="renamed").rpm is None
    assert [t.name for t in owner.teams.list().data] == ["renamed"]
    assert owner.teams.get(team.id).id == team.id
    with pytest.raises(PermissionDeniedError):
        owner.teams.update(team.id, rpm=3)
    admin.teams.delete(team.id)
    with pytest.raises(NotFoundError):
        admin.teams.get(team.id)


def test_refusals_name_the_field(gw: Gateway) -> None:
    owner = MeshAPI(gw.url, gw.token("sdk-bob"), max_retries=0)
    with pytest.raises(ValidationError) as unknown:
        owner.keys.create(name="x", extra_body={"max_budget": "3"})
    assert "max_budget" in str(unknown.value.details)
    with pytest.raises(ValidationError) as period:
        owner.keys.create(budget_usd="2", budget_period="hourly")  # type: ignore[arg-type]
    assert "budget_period" in str(period.value.details)
    with pytest.raises(TypeError, match="budget_usd"):
        owner.keys.create(budget="2")  # type: ignore[call-arg]
    with pytest.raises(ValidationError) as group:
        owner.usage.grouped(group_by="week")  # type: ignore[arg-type]
    assert "group_by" in str(group.value.details)


def test_async_client(gw: Gateway) -> None:
    async def run() -> None:
        async with AsyncMeshAPI(gw.url, gw.token("sdk-cy"), max_retries=0) as owner:
            created = await owner.keys.create(name="async", budget_usd="2", models=["fake/*"])
            _chat(gw, created.key)
            assert (await owner.keys.update(created.id, name="renamed")).name == "renamed"
            assert (await owner.keys.suspend(created.id)).suspended is True
            assert (await owner.keys.resume(created.id)).suspended is False
            assert [k.name for k in (await owner.keys.list()).data] == ["renamed"]
            by_key = await owner.usage.grouped(group_by="key")
            assert [(g.key_id, g.requests) for g in by_key.data] == [(created.id, 1)]
            assert (await owner.usage.list(model="fake/echo")).total_count == 1
            assert Decimal((await owner.balance.get()).spent_usd or "0") > 0
            assert (await owner.teams.list()).data == []
            await owner.keys.revoke(created.id)
            assert (await owner.keys.get(created.id)).revoked_at is not None

    asyncio.run(run())
