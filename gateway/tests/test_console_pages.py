"""The console's Teams, Models and Batches pages in a real browser, on the public API's data."""

from __future__ import annotations

import time
from typing import Any, Iterator

import httpx
import pytest
from gwtest.batch_support import chat_line, jsonl
from gwtest.browser import doc_screenshot
from gwtest.console_support import ADMIN_TOKEN, browser_context, console_gateway, make_key, page_for, sign_in
from gwtest.harness import FakeUpstream, Gateway


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeUpstream) -> Iterator[Gateway]:
    gateway = console_gateway(
        tmp_path_factory.mktemp("console-pages"),
        fake_openai,
        local=False,
        breaker_failure_threshold=1,
        retry_max_rounds=0,
        breaker_cooldown_seconds=300,
        batch_poll_seconds=0.2,
    )
    yield gateway
    gateway.server.stop()


@pytest.fixture(scope="module")
def context() -> Iterator[Any]:
    yield from browser_context()


@pytest.fixture
def page(request: pytest.FixtureRequest, context: Any) -> Iterator[Any]:
    yield from page_for(request, context)


def test_the_admin_creates_a_team_and_a_member_sees_it(page: Any, gw: Gateway) -> None:
    sign_in(page, gw.url, ADMIN_TOKEN)
    page.get_by_role("link", name="Teams").click()
    page.get_by_label("Team name").fill("acme")
    page.get_by_label("Members").fill("ann:admin, bob:member")
    page.get_by_label("Team budget (USD)").fill("100")
    page.get_by_label("Team models").fill("fake/*")
    page.get_by_role("button", name="Create team").click()
    row = page.get_by_role("row").filter(has_text="acme")
    row.wait_for()
    text = row.inner_text()
    assert "ann (admin)" in text and "bob (member)" in text and "$0.00 of $100.00 (monthly)" in text
    assert "fake/*" in text
    doc_screenshot(page, "teams")
    other = page.context.new_page()
    sign_in(other, gw.url, gw.token("bob"))
    other.get_by_role("link", name="Teams").click()
    other.get_by_role("row").filter(has_text="acme").wait_for()
    assert other.get_by_role("button", name="Create team").count() == 0
    other.close()


def test_models_show_prices_context_and_an_open_breaker(page: Any, gw: Gateway) -> None:
    key = make_key(gw, "mia")
    with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {key}"}, timeout=30) as client:
        body = {"model": "fake/fail-500", "messages": [{"role": "user", "content": "x"}]}
        assert client.post("/v1/chat/completions", json=body).status_code >= 500
    sign_in(page, gw.url, gw.token("mia"))
    page.get_by_role("link", name="Models").click()
    echo = page.get_by_role("row").filter(has=page.get_by_text("fake/echo", exact=True))
    echo.wait_for()
    assert "$1" in echo.inner_text() and "$2" in echo.inner_text() and "healthy" in echo.inner_text()
    failing = page.get_by_role("row").filter(has=page.get_by_text("fake/fail-500", exact=True))
    assert "open: avoided" in failing.inner_text()
    assert "free" in page.get_by_role("row").filter(has=page.get_by_text("fake/free-echo", exact=True)).inner_text()
    doc_screenshot(page, "models")


def test_batches_show_progress_and_the_output_downloads(page: Any, gw: Gateway) -> None:
    key = make_key(gw, "bea")
    with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {key}"}, timeout=30) as client:
        lines = [chat_line(f"c{i}", f"line {i}") for i in range(3)]
        up = client.post("/v1/files", files={"file": ("in.jsonl", jsonl(lines))}, data={"purpose": "batch"})
        assert up.status_code == 200, up.text
        made = client.post(
            "/v1/batches",
            json={"input_file_id": up.json()["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"},
        )
        assert made.status_code == 200, made.text
        batch_id = made.json()["id"]
        for _ in range(300):
            if client.get(f"/v1/batches/{batch_id}").json()["status"] == "completed":
                break
            time.sleep(0.2)
    sign_in(page, gw.url, gw.token("bea"))
    page.get_by_role("link", name="Batches").click()
    row = page.get_by_role("row").filter(has_text=batch_id)
    row.wait_for()
    assert "completed" in row.inner_text() and "3 of 3 (0 failed)" in row.inner_text()
    doc_screenshot(page, "batches")
    with page.expect_download() as info:
        row.get_by_role("button", name="Download output").click()
    saved = info.value.path()
    content = open(saved, encoding="utf-8").read()
    assert content.count("\n") >= 2 and '"custom_id": "c0"' in content.replace('":"', '": "')
    assert page.console_errors == []


def test_every_page_calls_only_the_documented_public_api_of_its_own_gateway(page: Any, gw: Gateway) -> None:
    import re

    paths = httpx.get(gw.url + "/openapi.json").json()["paths"]
    patterns = [re.compile("^" + re.sub(r"\{\w+\}", "[^/]+", p) + "$") for p in paths]
    sign_in(page, gw.url, ADMIN_TOKEN)
    for name in ("Overview", "Keys", "Teams", "Models", "Request log", "Templates", "Playground", "Compare", "Batches"):
        page.get_by_role("link", name=name, exact=True).click()
        page.wait_for_selector("section.page[aria-busy=false]")
        assert page.get_by_role("alert").count() == 0, name
    for method, url in page.requests_seen:
        assert url.startswith(gw.url + "/"), url  # nothing from another origin: it works offline
        path = url[len(gw.url) :].split("?")[0].split("#")[0]
        assert path.startswith("/ui/") or any(p.match(path) for p in patterns), (method, path)
    assert any("/v1/" in url for _, url in page.requests_seen)
    assert page.console_errors == []


def test_compare_without_a_judge_and_signing_out_revokes_the_sessions_key(page: Any, gw: Gateway) -> None:
    token = gw.token("sam")
    sign_in(page, gw.url, token)
    page.get_by_role("link", name="Compare").click()
    page.get_by_role("group", name="Models to compare").wait_for()
    for box in page.get_by_role("checkbox").all():
        box.set_checked(box.get_attribute("value") in ("fake/echo", "fake/free-echo"))
    page.get_by_label("Judge").select_option("-")
    page.get_by_label("Prompt").fill("side by side")
    page.get_by_role("button", name="Compare").click()
    page.get_by_text("Done in").wait_for()
    for model in ("fake/echo", "fake/free-echo"):
        assert "echo: side by side" in page.get_by_role("article", name=f"Answer of {model}").inner_text()
    assert page.get_by_test_id("verdict").count() == 0
    with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {token}"}) as client:
        (key,) = client.get("/v1/keys").json()["data"]
        assert key["name"] == "console playground" and key["revoked_at"] is None
        page.get_by_role("button", name="Sign out").click()
        page.get_by_text("Signed out.").wait_for()
        assert client.get(f"/v1/keys/{key['id']}").json()["revoked_at"] is not None
    assert page.evaluate("sessionStorage.length") == 0
