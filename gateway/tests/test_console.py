"""The web console in a real browser: sign-in, the session, keys; and the headers that keep the page safe."""

from __future__ import annotations

from typing import Any, Iterator

import httpx
import pytest
from gwtest.browser import doc_screenshot
from gwtest.console_support import ADMIN_TOKEN, browser_context, console_gateway, make_key, page_for, sign_in
from gwtest.harness import FakeUpstream, Gateway

from meshapi_gateway.cli import quickstart_banner
from meshapi_gateway.console.assets import CSP


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeUpstream) -> Iterator[Gateway]:
    gateway = console_gateway(tmp_path_factory.mktemp("console"), fake_openai, local=False)
    yield gateway
    gateway.server.stop()


@pytest.fixture(scope="module")
def context() -> Iterator[Any]:
    yield from browser_context()


@pytest.fixture
def page(request: pytest.FixtureRequest, context: Any) -> Iterator[Any]:
    yield from page_for(request, context)


def test_the_page_and_its_files_carry_the_security_headers(gw: Gateway) -> None:
    with httpx.Client(base_url=gw.url) as client:
        redirect = client.get("/ui")
        assert redirect.status_code == 308 and redirect.headers["location"] == "/ui/"
        for path in ("/ui/", "/ui/static/app.js", "/ui/static/app.css"):
            resp = client.get(path)
            assert resp.status_code == 200, path
            assert resp.headers["content-security-policy"] == CSP
            assert resp.headers["x-frame-options"] == "DENY"
            assert resp.headers["x-content-type-options"] == "nosniff"
            assert "set-cookie" not in resp.headers
        assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP and "frame-ancestors 'none'" in CSP
        missing = client.get("/ui/static/nope.js")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        assert client.get("/ui/static/..%2Fassets.py").status_code == 404


def test_a_setting_turns_the_console_off(gateway_factory: Any) -> None:
    off = gateway_factory(console=False)
    with httpx.Client(base_url=off.url) as client:
        for path in ("/ui", "/ui/", "/ui/static/app.js"):
            resp = client.get(path)
            assert resp.status_code == 404, path
            assert resp.json()["error"]["code"] == "not_found"


def test_sign_in_refuses_a_wrong_token_and_a_data_plane_key(page: Any, gw: Gateway) -> None:
    page.goto(gw.url + "/ui/")
    box = page.get_by_label("Admin token or control-plane token")
    box.fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    assert "did not accept" in page.get_by_role("alert").inner_text()
    box.fill(make_key(gw, "alice"))
    page.get_by_role("button", name="Sign in").click()
    assert "data plane" in page.get_by_role("alert").inner_text()
    assert page.evaluate("sessionStorage.length") == 0
    doc_screenshot(page, "sign-in")


def test_a_control_plane_token_sees_its_own_keys_and_the_session_expires(page: Any, gw: Gateway) -> None:
    make_key(gw, "bob")
    sign_in(page, gw.url, gw.token("alice"))
    page.get_by_role("link", name="Keys").click()
    page.get_by_role("table").wait_for()
    assert "bob" not in page.get_by_role("table").inner_text()
    assert page.get_by_text("Signed in as alice").is_visible()
    # The token is in this tab's sessionStorage only: no cookie, nothing in the address.
    assert page.context.cookies() == []
    assert "token" not in page.url
    # An idle session ends: the last activity moved 31 minutes back.
    page.evaluate(
        """() => { const k = 'meshapi.console.session'; const s = JSON.parse(sessionStorage.getItem(k));
        s.seen -= 31 * 60 * 1000; sessionStorage.setItem(k, JSON.stringify(s)); }"""
    )
    page.reload()
    assert "expired" in page.get_by_role("status").first.inner_text()
    assert page.evaluate("sessionStorage.length") == 0


def test_a_link_with_the_token_in_its_fragment_signs_in_and_leaves_the_address(page: Any, gw: Gateway) -> None:
    page.goto(f"{gw.url}/ui/#token={gw.token('alice')}")
    page.get_by_role("navigation", name="Console pages").wait_for()
    assert "token" not in page.url
    # The entry was replaced, not pushed: going back leaves the console instead of showing the token.
    page.go_back()
    assert "token" not in page.url and "/ui/" not in page.url


def test_the_quick_start_banner_prints_a_link_that_signs_the_local_user_in(page: Any, gw: Gateway) -> None:
    port = int(gw.url.rsplit(":", 1)[1])
    token = gw.token("local")
    banner = quickstart_banner(gw.settings.model_copy(update={"port": port}), "rsk_shown", token)
    link = next(line.split()[-1] for line in banner.splitlines() if "Web console" in line)
    assert link == f"{gw.url}/ui/#token={token}"
    page.goto(link)
    page.get_by_text("Signed in as local").wait_for()
    off = quickstart_banner(gw.settings.model_copy(update={"port": port, "console": False}), "rsk_shown", token)
    assert "/ui/" not in off


def _settles(probe: Any, wanted: int) -> bool:
    """A change of a key must take hold within a few key-cache refreshes.

    Seen under load: a request just after a suspension was still answered, as if a refresh that read
    the table before the change had put the old row back after it.
    """
    import time

    for _ in range(20):
        if probe() == wanted:
            return True
        time.sleep(0.25)
    return False


def test_create_a_key_with_a_budget_see_it_once_suspend_resume_and_revoke(page: Any, gw: Gateway) -> None:
    sign_in(page, gw.url, ADMIN_TOKEN)
    page.get_by_role("link", name="Keys").click()
    page.get_by_label("Owner").fill("carol")
    page.get_by_label("Name").fill("nightly <b>job</b>")
    page.get_by_label("Budget (USD)").fill("5")
    page.get_by_label("Budget period").select_option("daily")
    page.get_by_label("Allowed models").fill("fake/echo")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_test_id("new-key-secret").inner_text()
    assert secret.startswith("rsk_")
    row = page.get_by_role("row").filter(has_text="nightly <b>job</b>")  # the name shown as text, not markup
    row.wait_for()
    assert "$0.00 of $5.00 (daily)" in row.inner_text()
    # The key works, then is suspended, resumed and revoked through the page.
    chat = {"model": "fake/echo", "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {secret}"}, timeout=30) as client:
        assert client.post("/v1/chat/completions", json=chat).status_code == 200
        row.get_by_role("button", name="Suspend").click()
        row.get_by_text("suspended").wait_for()
        assert _settles(lambda: client.post("/v1/chat/completions", json=chat).status_code, 403)
        row.get_by_role("button", name="Resume").click()
        row.get_by_text("active").wait_for()
        assert _settles(lambda: client.post("/v1/chat/completions", json=chat).status_code, 200)
        page.once("dialog", lambda dialog: dialog.accept())
        row.get_by_role("button", name="Revoke").click()
        row.get_by_text("revoked").wait_for()
        assert _settles(lambda: client.post("/v1/chat/completions", json=chat).status_code, 403)
    # The secret is never shown again.
    page.reload()
    page.get_by_role("table").wait_for()
    assert secret not in page.content()
    doc_screenshot(page, "keys")
    assert page.console_errors == []


def test_the_overview_charts_what_the_owner_did(page: Any, gw: Gateway) -> None:
    key = make_key(gw, "olga")
    with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {key}"}, timeout=30) as client:
        for _ in range(3):
            body = {"model": "fake/echo", "messages": [{"role": "user", "content": "hello there"}]}
            assert client.post("/v1/chat/completions", json=body).status_code == 200
    sign_in(page, gw.url, gw.token("olga"))
    totals = page.get_by_test_id("totals")
    totals.wait_for()
    assert page.get_by_label("Requests", exact=True).inner_text() == "3"
    spend = page.get_by_label("Spend", exact=True).inner_text()
    assert spend.startswith("$") and spend != "$0.00"
    charts = page.locator("svg.chart")
    assert charts.count() == 6
    assert "fake/echo: 3" in page.get_by_role("img", name="Requests by model").first.evaluate("e => e.textContent")
    doc_screenshot(page, "overview")
    assert page.console_errors == []


def test_edit_a_template_see_its_variables_diff_two_versions_and_roll_back(page: Any, gw: Gateway) -> None:
    token = gw.token("tess")
    with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {token}"}, timeout=30) as client:
        created = client.post("/v1/templates", json={"name": "greeter", "system": "Greet {{name}} briefly."})
        assert created.status_code == 201, created.text
        template_id = created.json()["id"]
    sign_in(page, gw.url, token)
    page.get_by_role("link", name="Templates").click()
    page.get_by_role("link", name="greeter").click()
    system = page.get_by_label("System prompt", exact=True)
    system.fill("Greet {{ name }} warmly in {{language}}.\nSign as <b>the team</b>.")
    marks = page.get_by_test_id("highlight").locator("mark.var")
    assert marks.all_inner_texts() == ["{{ name }}", "{{language}}"]
    page.get_by_text("Variables: name, language", exact=True).wait_for()
    assert page.get_by_test_id("highlight").locator("b").count() == 0  # the prompt's text is text
    page.get_by_role("button", name="Save as a new version").click()
    page.get_by_text("active version 2 of 2").wait_for()
    diff = page.get_by_role("region", name="Changes from version 1 to version 2")
    removed = [" ".join(t.split()) for t in diff.locator("[data-kind=del]").all_inner_texts()]
    added = [" ".join(t.split()) for t in diff.locator("[data-kind=add]").all_inner_texts()]
    assert "removed: - Greet {{name}} briefly." in removed
    assert "added: + Greet {{ name }} warmly in {{language}}." in added
    assert 'added: + variables: ["name","language"]' in added
    doc_screenshot(page, "templates")
    # Roll back: version 1 is the active one again, for the API as for the page.
    page.get_by_role("button", name="Make version 1 the active one").click()
    page.get_by_text("active version 1 of 2").wait_for()
    with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {token}"}, timeout=30) as client:
        now = client.get(f"/v1/templates/{template_id}").json()
    assert (now["version"], now["system"]) == (1, "Greet {{name}} briefly.")
    assert page.console_errors == []


def test_a_phone_width_folds_the_menu_and_nothing_overflows(context: Any, gw: Gateway) -> None:
    page = context.new_page()
    try:
        page.set_viewport_size({"width": 390, "height": 844})
        sign_in(page, gw.url, ADMIN_TOKEN)
        nav = page.get_by_role("navigation", name="Console pages")
        toggle = page.get_by_role("button", name="Menu")
        assert not nav.is_visible() and toggle.get_attribute("aria-expanded") == "false"
        toggle.click()
        assert nav.is_visible() and toggle.get_attribute("aria-expanded") == "true"
        nav.get_by_role("link", name="Keys").click()
        page.get_by_role("table").wait_for()
        assert not nav.is_visible()  # folded again once a page is chosen
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        page.close()


def test_dark_preference_is_respected(context: Any, gw: Gateway) -> None:
    page = context.new_page()
    try:
        page.emulate_media(color_scheme="dark")
        page.goto(gw.url + "/ui/")
        dark = page.evaluate("getComputedStyle(document.body).backgroundColor")
        page.emulate_media(color_scheme="light")
        light = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert dark != light and dark == "rgb(20, 23, 27)"
    finally:
        page.close()
