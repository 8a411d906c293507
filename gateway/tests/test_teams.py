"""Teams over HTTP: the admin manages them, members read them; a key in a team passes the team's
allowlist, budget (shared by all its keys) and RPM; spend rolls up key -> team; usage grouped.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from gwtest.accounts_support import ADMIN
from gwtest.harness import FakeUpstream, Gateway, fake_models

PRICEY = {
    "id": "fake/pricey",
    "upstream_model": "echo",
    "provider": "openai_compat",
    "api_key": "sk-fake",
    "prompt_usd_per_1m": "0",
    "completion_usd_per_1m": "1000",
}
# "echo: a b c d e f g h" is 9 completion tokens: 0.009 USD, and max_tokens 9 makes that the worst case.
PRICEY_CHAT = {"model": "fake/pricey", "max_tokens": 9, "messages": [{"role": "user", "content": "a b c d e f g h"}]}
CHAT = {"model": "fake/echo", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def tgw(tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeUpstream) -> Any:
    from gwtest.harness import start_gateway

    gw = start_gateway(
        tmp_path_factory.mktemp("teams"),
        fake_openai.url,
        admin_token=ADMIN,
        models=[*fake_models(fake_openai.url), {**PRICEY, "base_url": fake_openai.url}],
    )
    yield gw
    gw.server.stop()


def _team(gw: Gateway, **body: Any) -> dict[str, Any]:
    with gw.client(ADMIN) as c:
        r = c.post("/v1/teams", json=body)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def _key(gw: Gateway, owner: str, **terms: Any) -> dict[str, Any]:
    with gw.client(gw.token(owner)) as c:
        r = c.post("/v1/keys", json=terms)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def test_the_admin_manages_teams_and_members_read_them(tgw: Gateway) -> None:
    team = _team(
        tgw,
        name="search",
        members={"t-ann": "admin", "t-bob": "member"},
        budget_usd="10",
        budget_period="weekly",
        models=["fake/*"],
        rpm=100,
        tpm=5000,
    )
    assert (
        team["members"],
        team["budget_usd"],
        team["budget_period"],
        team["spend_usd"],
        team["models"],
        team["rpm"],
        team["tpm"],
    ) == ({"t-ann": "admin", "t-bob": "member"}, "10", "weekly", "0", ["fake/*"], 100, 5000)
    assert team["budget_resets_at"]
    with tgw.client(tgw.token("t-bob")) as c:
        assert c.get(f"/v1/teams/{team['id']}").json()["name"] == "search"
        assert team["id"] in [t["id"] for t in c.get("/v1/teams").json()["data"]]
        r = c.patch(f"/v1/teams/{team['id']}", json={"rpm": 1})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        assert c.post("/v1/teams", json={"name": "mine"}).status_code == 403
    with tgw.client(tgw.create_key("t-bob")) as c:  # a member's data key reads too
        assert c.get(f"/v1/teams/{team['id']}").status_code == 200
    with tgw.client(tgw.token("t-eve")) as c:
        assert c.get(f"/v1/teams/{team['id']}").status_code == 404
        assert c.patch(f"/v1/teams/{team['id']}", json={"rpm": 1}).status_code == 404
        assert team["id"] not in c.get("/v1/teams").text
    with tgw.client(ADMIN) as c:
        changed = c.patch(f"/v1/teams/{team['id']}", json={"members": {"t-ann": "admin"}, "models": None}).json()
        assert (changed["members"], changed["models"], changed["rpm"]) == ({"t-ann": "admin"}, None, 100)
        for body, name in (({"metadata": {}}, "metadata"), ({"owner": "x"}, "owner"), ({"budget": 1}, "budget")):
            r = c.post("/v1/teams", json=body)
            assert r.status_code == 422 and name in r.json()["error"]["message"], r.text
        r = c.post("/v1/teams", json={"members": {"t-ann": "boss"}})
        assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"][:2] == ["body", "members"]
        assert c.delete(f"/v1/teams/{team['id']}").status_code == 204
        assert c.get(f"/v1/teams/{team['id']}").status_code == 404


def test_a_key_joins_only_a_team_of_its_owner(tgw: Gateway) -> None:
    team = _team(tgw, name="join", members={"t-join": "member"})
    made = _key(tgw, "t-join", team_id=team["id"])
    assert made["team_id"] == team["id"]
    with tgw.client(tgw.token("t-other")) as c:
        r = c.post("/v1/keys", json={"team_id": team["id"]})
        assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["body", "team_id"]
        other = c.post("/v1/keys", json={}).json()
        assert c.patch(f"/v1/keys/{other['id']}", json={"team_id": team["id"]}).status_code == 422
        assert c.post("/v1/keys", json={"team_id": "team_nope"}).status_code == 422


def test_the_teams_allowlist_holds_for_its_keys(tgw: Gateway) -> None:
    team = _team(tgw, name="allow", members={"t-allow": "member"}, models=["fake/echo"])
    key = _key(tgw, "t-allow", team_id=team["id"])["key"]
    with tgw.client(key) as c:
        assert c.post("/v1/chat/completions", json=CHAT).status_code == 200
        r = c.post("/v1/chat/completions", json={**CHAT, "model": "fake/tools"})
        assert r.status_code == 403 and "fake/tools" in r.json()["error"]["message"]
        assert team["id"] in r.json()["error"]["message"]


def test_a_team_budget_is_shared_by_its_keys_and_spend_rolls_up(tgw: Gateway) -> None:
    team = _team(
        tgw, name="budget", members={"t-b1": "member", "t-b2": "member"}, budget_usd="0.018", budget_period="monthly"
    )
    one = _key(tgw, "t-b1", team_id=team["id"])
    two = _key(tgw, "t-b2", team_id=team["id"], budget_usd="1")
    with tgw.client(one["key"]) as c:
        assert c.post("/v1/chat/completions", json=PRICEY_CHAT).status_code == 200
    with tgw.client(two["key"]) as c:
        assert c.post("/v1/chat/completions", json=PRICEY_CHAT).status_code == 200
        r = c.post("/v1/chat/completions", json=PRICEY_CHAT)
        assert r.status_code == 402, r.text
        err = r.json()["error"]
        assert err["code"] == "spend_limit_exceeded" and f"team '{team['id']}'" in err["message"]
        assert err["details"][0]["budget"] == "team" and err["details"][0]["resets_at"] in err["message"]
    with tgw.client(one["key"]) as c:
        assert c.post("/v1/chat/completions", json=PRICEY_CHAT).status_code == 402
    with tgw.client(ADMIN) as c:
        assert c.get(f"/v1/teams/{team['id']}").json()["spend_usd"] == "0.018"
        assert c.get(f"/v1/keys/{two['id']}").json()["spend_usd"] == "0.009"


def test_team_rpm_counts_every_key_of_the_team(tgw: Gateway) -> None:
    team = _team(tgw, name="rpm", members={"t-r": "member"}, rpm=2)
    keys = [_key(tgw, "t-r", team_id=team["id"])["key"] for _ in range(2)]
    statuses = []
    for key in (*keys, keys[0]):
        with tgw.client(key) as c:
            statuses.append(c.post("/v1/chat/completions", json=CHAT).status_code)
    assert statuses == [200, 200, 429]


def test_usage_groups_by_key_team_model_and_day(tgw: Gateway) -> None:
    team = _team(tgw, name="usage", members={"t-u": "member"})
    in_team = _key(tgw, "t-u", team_id=team["id"])
    alone = _key(tgw, "t-u")
    for key, body in ((in_team["key"], PRICEY_CHAT), (in_team["key"], CHAT), (alone["key"], PRICEY_CHAT)):
        with tgw.client(key) as c:
            assert c.post("/v1/chat/completions", json=body).status_code == 200
    with httpx.Client(base_url=tgw.url, headers={"authorization": f"Bearer {tgw.token('t-u')}"}) as c:
        by_key = {g["key_id"]: g for g in c.get("/v1/usage", params={"group_by": "key"}).json()["data"]}
        assert by_key[in_team["id"]]["requests"] == 2 and by_key[alone["id"]]["requests"] == 1
        by_team = {g["team_id"]: g for g in c.get("/v1/usage", params={"group_by": "team"}).json()["data"]}
        assert by_team[team["id"]]["requests"] == 2 and by_team[None]["requests"] == 1
        by_model = {g["model"]: g for g in c.get("/v1/usage", params={"group_by": "model"}).json()["data"]}
        assert by_model["fake/pricey"]["cost_usd"] == "0.018" and by_model["fake/echo"]["requests"] == 1
        days = c.get("/v1/usage", params={"group_by": "day", "since": "2020-01-01T00:00:00Z"}).json()
        assert len(days["data"]) == 1 and days["data"][0]["requests"] == 3
        assert Decimal(days["total_cost_usd"]) == sum(Decimal(g["cost_usd"]) for g in by_model.values())
        assert c.get("/v1/usage", params={"group_by": "team", "until": "2020-01-01T00:00:00Z"}).json()["data"] == []
        r = c.get("/v1/usage", params={"group_by": "week"})
        assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["query", "group_by"]
