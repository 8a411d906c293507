"""What the console's browser tests share: a gateway with the local model and an admin token, a page per test."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from gwtest.browser import ARTIFACTS, chromium, chromium_missing
from gwtest.harness import FakeUpstream, Gateway, start_gateway

ADMIN_TOKEN = "console-admin-" + "a" * 32


def console_gateway(tmp: Path, upstream: FakeUpstream, *, local: bool, **overrides: Any) -> Gateway:
    return start_gateway(
        tmp,
        upstream.url,
        admin_token=ADMIN_TOKEN,
        local_model={"enabled": local},
        request_log={"bodies": True},
        **overrides,
    )


def browser_context() -> Iterator[Any]:
    missing = chromium_missing()
    if missing:
        pytest.skip(missing)
    with chromium() as context:
        yield context


def page_for(request: pytest.FixtureRequest, context: Any) -> Iterator[Any]:
    """A new tab (so an empty sessionStorage); its screenshot is kept when the test fails."""
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.console_errors = errors
    page.requests_seen = []
    page.on("request", lambda req: page.requests_seen.append((req.method, req.url)))
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = request.node.name.replace("/", "_").replace("[", "_").replace("]", "")
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    page.close()


def sign_in(page: Any, base_url: str, token: str) -> None:
    page.goto(base_url + "/ui/")
    page.get_by_label("Admin token or control-plane token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()


def make_key(gw: Gateway, owner: str, **terms: Any) -> str:
    """A key made through the public API (Playwright's sync API holds an event loop in the test's thread)."""
    with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as client:
        resp = client.post("/v1/keys", json={"owner": owner, "name": "test", **terms})
        resp.raise_for_status()
        key: str = resp.json()["key"]
        return key
