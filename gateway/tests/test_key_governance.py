"""Key governance over the control plane: budgets with periods, model allowlists, expiry, metadata,
suspension, and strict bodies (an unknown field is a 422 naming it), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Callable

import pytest
from gwtest.accounts_support import ADMIN, ledger_sum
from gwtest.harness import Gateway

from meshapi_gateway.governance.budgets import Budget, MemoryBudgets
from meshapi_gateway.governance.periods import period_bounds

CHAT = {"model": "fake/echo", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def kgw(tmp_path_factory: pytest.TempPathFactory, fake_openai: Any) -> Any:
    from gwtest.harness import start_gateway

    gw = start_gateway(tmp_path_factory.mktemp("govern"), fake_openai.url, admin_token=ADMIN)
    yield gw
    gw.server.stop()


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def test_terms_round_trip_and_change(gateway_factory: Callable[..., Gateway], database_url: str) -> None:
    gw = gateway_factory(database_url=database_url, admin_token=ADMIN)
    with gw.client(ADMIN) as c:
        team_x = c.post("/v1/teams", json={"name": "x", "members": {"gov-terms": "member"}}).json()["id"]
    expires = int(time.time()) + 86400
    terms = {
        "budget_usd": "12.50",
        "budget_period": "monthly",
        "models": ["fake/echo", "openai/*"],
        "expires_at": _iso(expires),
        "metadata": {"team": "search", "cost_center": 42},
        "team_id": team_x,
    }
    with gw.client(gw.token("gov-terms")) as c:
        created = c.post("/v1/keys", json={"name": "terms", **terms})
        assert created.status_code == 201, created.text
        view = created.json()
        for name, value in terms.items():
            assert view[name] == (value if name != "budget_usd" else "12.5"), name
        assert view["spend_usd"] == "0"
        assert view["budget_resets_at"] == _iso(period_bounds("monthly", time.time())[1] or 0)
        one = c.get(f"/v1/keys/{view['id']}").json()
        assert {k: one[k] for k in terms} == {k: view[k] for k in terms}
        changed = c.patch(
            f"/v1/keys/{view['id']}",
            json={"budget_usd": "3", "budget_period": "daily", "models": None, "metadata": {"v": 2}},
        )
        assert changed.status_code == 200, changed.text
        after = changed.json()
        assert (after["budget_usd"], after["budget_period"], after["models"], after["metadata"]) == (
            "3",
            "daily",
            None,
            {"v": 2},
        )
        assert after["budget_resets_at"] == _iso(period_bounds("daily", time.time())[1] or 0)
        assert after["expires_at"] == _iso(expires) and after["team_id"] == team_x  # untouched
        removed = c.patch(f"/v1/keys/{view['id']}", json={"budget_usd": None, "expires_at": None}).json()
        assert removed["budget_usd"] is None and removed["spend_usd"] is None and removed["expires_at"] is None
        listed = c.get("/v1/keys").json()["data"]
        assert [k["id"] for k in listed] == [view["id"]] and listed[0]["metadata"] == {"v": 2}


def test_a_budget_without_a_period_counts_in_total(kgw: Gateway) -> None:
    with kgw.client(kgw.token("gov-total")) as c:
        view = c.post("/v1/keys", json={"budget_usd": 5}).json()
    assert (view["budget_usd"], view["budget_period"], view["budget_resets_at"]) == ("5", "total", None)


def test_spend_is_the_periods_ledger_spend(kgw: Gateway) -> None:
    with kgw.client(kgw.token("gov-spend")) as c:
        made = c.post("/v1/keys", json={"budget_usd": "100", "budget_period": "weekly"}).json()
        other = c.post("/v1/keys", json={}).json()
    for key in (made["key"], made["key"], other["key"]):
        with kgw.client(key) as c:
            assert c.post("/v1/chat/completions", json=CHAT).status_code == 200
    with kgw.client(kgw.token("gov-spend")) as c:
        view = c.get(f"/v1/keys/{made['id']}").json()
    _, total = ledger_sum(kgw, "gov-spend")
    assert Decimal(view["spend_usd"]) > 0
    assert Decimal(view["spend_usd"]) * 3 == total * 2  # two of the three equal requests were this key's


@pytest.mark.parametrize(
    "body,field",
    [
        ({"budget_usd": "lots"}, "budget_usd"),
        ({"budget_usd": "-1"}, "budget_usd"),
        ({"budget_usd": "0"}, "budget_usd"),
        ({"budget_usd": True}, "budget_usd"),
        ({"budget_period": "hourly"}, "budget_period"),
        ({"models": []}, "models"),
        ({"models": ["open*"]}, "models"),
        ({"models": ["*/gpt"]}, "models"),
        ({"models": "fake/echo"}, "models"),
        ({"expires_at": "tomorrow"}, "expires_at"),
        ({"expires_at": "2027-01-01T00:00:00"}, "expires_at"),
        ({"metadata": [1]}, "metadata"),
        ({"metadata": {"x": "y" * 20000}}, "metadata"),
        ({"team_id": ""}, "team_id"),
    ],
)
def test_bad_terms_are_422_naming_the_field(kgw: Gateway, body: dict[str, Any], field: str) -> None:
    with kgw.client(kgw.token("gov-bad")) as c:
        key_id = c.post("/v1/keys", json={}).json()["id"]
        for r in (c.post("/v1/keys", json=body), c.patch(f"/v1/keys/{key_id}", json=body)):
            assert r.status_code == 422, r.text
            err = r.json()["error"]
            assert err["code"] == "validation_error" and err["details"][0]["loc"][:2] == ["body", field], err


def test_unknown_fields_in_control_plane_bodies_are_named(kgw: Gateway) -> None:
    token = kgw.token("gov-strict")
    with kgw.client(token) as c:
        key_id = c.post("/v1/keys", json={}).json()["id"]
        tpl_id = c.post("/v1/templates", json={"name": "strict", "system": "s"}).json()["id"]
        cases = [
            ("POST", "/v1/keys", {"name": "x", "max_budget": 10}, "max_budget"),
            ("PATCH", f"/v1/keys/{key_id}", {"allowed_models": ["a"]}, "allowed_models"),
            ("POST", f"/v1/keys/{key_id}/suspend", {"reason": "x"}, "reason"),
            ("POST", "/v1/templates", {"name": "t2", "shared": True}, "shared"),
            ("PATCH", f"/v1/templates/{tpl_id}", {"colour": "red"}, "colour"),
            ("POST", "/v1/usage/events", {"since": 0, "group_by": "key"}, "group_by"),
        ]
        for method, path, body, name in cases:
            r = c.request(method, path, json=body)
            assert r.status_code == 422, (path, r.text)
            err = r.json()["error"]
            assert err["code"] == "validation_error" and name in err["message"], (path, err)
            assert ["body", name] in [d["loc"] for d in err["details"]], (path, err)
        assert c.get(f"/v1/keys/{key_id}").json()["suspended"] is False  # the refused suspension did nothing
    with kgw.client(ADMIN) as c:
        for path, body, name in (
            ("/v1/admin/credits", {"owner": "gov-strict", "usd": "1", "memo": "x"}, "memo"),
            ("/v1/admin/tokens/revoke", {"owner": "gov-strict", "why": "x"}, "why"),
        ):
            r = c.post(path, json=body)
            assert r.status_code == 422 and name in r.json()["error"]["message"], r.text


def test_suspend_and_resume(kgw: Gateway) -> None:
    token = kgw.token("gov-suspend")
    with kgw.client(token) as c:
        made = c.post("/v1/keys", json={}).json()
        r = c.post(f"/v1/keys/{made['id']}/suspend")
        assert r.status_code == 200 and r.json()["suspended"] is True
    with kgw.client(made["key"]) as c:
        r = c.post("/v1/chat/completions", json=CHAT)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        assert "suspended" in r.json()["error"]["message"]
    with kgw.client(token) as c:
        assert c.post(f"/v1/keys/{made['id']}/resume", json={}).json()["suspended"] is False
        assert c.post("/v1/keys/key_nope/suspend").status_code == 404
    with kgw.client(made["key"]) as c:
        assert c.post("/v1/chat/completions", json=CHAT).status_code == 200
    with kgw.client(kgw.token("gov-suspend-other")) as c:  # another owner cannot suspend it
        assert c.post(f"/v1/keys/{made['id']}/suspend").status_code == 404


def test_an_expired_key_is_401_saying_so(kgw: Gateway) -> None:
    with kgw.client(kgw.token("gov-expiry")) as c:
        soon = c.post("/v1/keys", json={"expires_at": int(time.time()) + 2}).json()
        past = c.post("/v1/keys", json={"expires_at": "2020-01-01T00:00:00+02:00"}).json()
    assert past["expires_at"] == "2019-12-31T22:00:00Z"
    with kgw.client(soon["key"]) as c:
        assert c.post("/v1/chat/completions", json=CHAT).status_code == 200
    for key in (past["key"], soon["key"]):
        deadline = time.monotonic() + 10
        with kgw.client(key) as c:
            while (r := c.post("/v1/chat/completions", json=CHAT)).status_code == 200:
                assert time.monotonic() < deadline
                time.sleep(0.3)
            assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
            assert "expired" in r.json()["error"]["message"]


def test_cli_sets_terms_and_suspends(kgw: Gateway) -> None:
    url = ["--database-url", kgw.settings.resolved_database_url(), "--json"]
    env = {"PATH": "/usr/bin:/bin"}

    def cli(*args: str) -> dict[str, Any]:
        out = subprocess.run(
            [sys.executable, "-m", "meshapi_gateway", "keys", *args, *url],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)  # type: ignore[no-any-return]

    expires = _iso(int(time.time()) + 3600)
    made = cli(
        "create",
        "--owner",
        "gov-cli",
        "--budget-usd",
        "7.25",
        "--budget-period",
        "daily",
        "--models",
        "fake/echo, openai/*",
        "--expires-at",
        expires,
        "--metadata",
        '{"a": 1}',
        "--team-id",
        "t1",
    )
    assert (
        made["budget_usd"],
        made["budget_period"],
        made["models"],
        made["expires_at"],
        made["metadata"],
        made["team_id"],
    ) == ("7.25", "daily", ["fake/echo", "openai/*"], expires, {"a": 1}, "t1")
    changed = cli("update", made["id"], "--models", "none", "--budget-usd", "1")
    assert (changed["models"], changed["budget_usd"], changed["budget_period"]) == (None, "1", "daily")
    assert cli("suspend", made["id"])["suspended"] is True
    deadline = time.monotonic() + 10
    with kgw.client(made["key"]) as c:
        while c.post("/v1/chat/completions", json=CHAT).status_code != 403:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    assert cli("resume", made["id"])["suspended"] is False
    bad = subprocess.run(
        [sys.executable, "-m", "meshapi_gateway", "keys", "create", "--owner", "gov-cli", "--budget-usd", "-3", *url],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert bad.returncode != 0 and "--budget-usd" in bad.stderr


def test_period_boundaries_are_utc() -> None:
    wed = datetime(2026, 12, 30, 15, 4, tzinfo=timezone.utc).timestamp()
    day = datetime(2026, 12, 30, tzinfo=timezone.utc)
    assert period_bounds("daily", wed) == (int(day.timestamp()), int((day + timedelta(days=1)).timestamp()))
    monday = datetime(2026, 12, 28, tzinfo=timezone.utc)
    assert period_bounds("weekly", wed) == (int(monday.timestamp()), int((monday + timedelta(days=7)).timestamp()))
    assert period_bounds("monthly", wed) == (
        int(datetime(2026, 12, 1, tzinfo=timezone.utc).timestamp()),
        int(datetime(2027, 1, 1, tzinfo=timezone.utc).timestamp()),
    )
    assert period_bounds("total", wed) == (0, None)


def test_counters_of_ended_periods_are_forgotten_unless_held() -> None:
    memory = MemoryBudgets()
    old, held, now = (
        Budget("key", k, Decimal(5), "daily", start, start + 86400)
        for k, start in (("k1", 0), ("k2", 0), ("k1", 86400))
    )
    for b in (old, held, now):
        memory.settle((b,), 0, 7)
    assert memory.reserve((held,), 1) is None
    memory.forget_before({"key:k1": 86400, "key:k2": 86400})
    assert memory.spent == {held.slot: 7, now.slot: 7}
    memory.at_least(now.slot, Decimal("0.0000000009"))  # the ledger says more: counted, in units
    assert memory.spent[now.slot] == 9
