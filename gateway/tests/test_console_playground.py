"""The console's playground and compare in a real browser, against the local model and a fake upstream.

The flows an owner follows: chat (streamed) with the local model, find the request in the log,
see the spend on the overview; tool calls as they arrive; two models side by side with a judge.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any, Iterator

import httpx
import pytest
from gwtest.browser import doc_screenshot
from gwtest.console_support import browser_context, console_gateway, page_for, sign_in
from gwtest.harness import FakeUpstream, Gateway

from meshapi_gateway.providers.local.files import locate

LOCAL = "local/smollm2-135m-instruct"
FILES = locate()


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeUpstream) -> Iterator[Gateway]:
    if not FILES.available:
        pytest.skip(f"local model not installed: {FILES.missing}")
    gateway = console_gateway(tmp_path_factory.mktemp("console-play"), fake_openai, local=True)
    # The local model loads in the background; the tests start once it answers.
    with httpx.Client(base_url=gateway.url, timeout=120) as client:
        for _ in range(240):
            if client.get("/ready").status_code == 200:
                break
            time.sleep(0.5)
    yield gateway
    gateway.server.stop()


@pytest.fixture(scope="module")
def context() -> Iterator[Any]:
    yield from browser_context()


@pytest.fixture
def page(request: pytest.FixtureRequest, context: Any) -> Iterator[Any]:
    yield from page_for(request, context)


def _send(page: Any, model: str, text: str) -> Any:
    page.get_by_label("Model", exact=True).select_option(model)
    page.get_by_label("Message").fill(text)
    page.get_by_role("button", name="Send").click()
    answer = page.get_by_role("article", name="assistant message").last
    answer.get_by_role("link", name="see it in the request log").wait_for(timeout=120_000)
    return answer


def test_chat_with_the_local_model_then_find_it_in_the_log_and_the_spend_on_the_overview(
    page: Any, gw: Gateway
) -> None:
    sign_in(page, gw.url, gw.token("pat"))
    page.get_by_role("link", name="Playground").click()
    assert page.get_by_label("Model", exact=True).input_value() == LOCAL
    page.get_by_label("Max tokens").fill("24")
    answer = _send(page, LOCAL, "Say hello in five words.")
    assert answer.locator(".content").inner_text().strip()
    assert "completion tokens" in answer.inner_text()
    doc_screenshot(page, "playground")
    # The request in the log, with the model that answered and the body the console sent.
    answer.get_by_role("link", name="see it in the request log").click()
    detail = page.get_by_test_id("log-detail")
    detail.wait_for()
    text = detail.inner_text()
    assert LOCAL in text and "Say hello in five words." in page.get_by_test_id("request-body").inner_text()
    assert "yes" in detail.locator("dd").nth(8).inner_text()  # streamed
    doc_screenshot(page, "request-detail")
    page.get_by_role("link", name="Back to the log").click()
    page.get_by_role("table").filter(has_text=LOCAL).wait_for()
    doc_screenshot(page, "request-log")
    # A paid model too, so that the overview has spend to show.
    page.get_by_role("link", name="Playground").click()
    priced = _send(page, "fake/echo", "price me")
    assert "echo: price me" in priced.inner_text()
    page.get_by_role("link", name="Overview").click()
    page.get_by_test_id("totals").wait_for()
    assert page.get_by_label("Requests", exact=True).inner_text() == "2"
    with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {gw.token('pat')}"}) as client:
        logs = client.get("/v1/logs").json()["data"]
        keys = client.get("/v1/keys").json()["data"]
    cost = sum(Decimal(r["cost"] or 0) for r in logs)
    assert cost > 0
    shown = page.get_by_label("Spend", exact=True).inner_text()
    expected = Decimal(f"{cost:.2g}") if cost < Decimal("0.01") else Decimal(f"{cost:.2f}")  # as the page rounds
    assert Decimal(shown.lstrip("$")) == expected
    assert LOCAL in page.get_by_role("img", name="Requests by model").first.evaluate("e => e.textContent")
    # The playground called models with a key of the owner's own, made through the API for this session.
    assert [k["name"] for k in keys] == ["console playground"] and keys[0]["expires_at"]
    assert page.console_errors == []


def test_tool_calls_are_shown_and_model_output_is_never_markup(page: Any, gw: Gateway) -> None:
    sign_in(page, gw.url, gw.token("quinn"))
    page.get_by_role("link", name="Playground").click()
    page.get_by_role("button", name="Add an example tool").click()
    answer = _send(page, "fake/tools", "Weather in Paris?")
    call = answer.get_by_test_id("tool-call")
    assert "get_weather" in call.inner_text() and '"city": "Paris"' in call.inner_text()
    page.get_by_role("button", name="New chat").click()
    page.get_by_label("Tools (JSON)").fill("")
    hostile = '<img src=x onerror="window.pwned=1"> **bold** <script>window.pwned=2</script>'
    echoed = _send(page, "fake/echo", hostile)
    assert "<img src=x" in echoed.inner_text()
    assert echoed.locator("img, script").count() == 0
    assert echoed.locator("strong").inner_text() == "bold"
    assert page.evaluate("window.pwned") is None


def test_compare_two_models_side_by_side_with_a_judge(page: Any, gw: Gateway) -> None:
    sign_in(page, gw.url, gw.token("rita"))
    page.get_by_role("link", name="Compare").click()
    page.get_by_role("group", name="Models to compare").wait_for()
    for box in page.get_by_role("checkbox").all():
        box.set_checked(box.get_attribute("value") in (LOCAL, "fake/echo"))
    page.get_by_label("Judge").select_option("fake/echo")
    page.get_by_label("Max tokens").fill("24")
    page.get_by_label("Prompt").fill("Name a colour.")
    page.get_by_role("button", name="Compare").click()
    page.get_by_text("Done in").wait_for(timeout=120_000)
    local = page.get_by_role("article", name=f"Answer of {LOCAL}")
    echo = page.get_by_role("article", name="Answer of fake/echo")
    assert local.locator(".content").inner_text().strip()
    assert "echo: Name a colour." in echo.inner_text()
    assert "tokens" in local.locator(".meta").inner_text()
    assert "echo:" in page.get_by_test_id("verdict").inner_text()
    doc_screenshot(page, "compare")
    with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {gw.token('rita')}"}) as client:
        logged = client.get("/v1/logs").json()["data"]
        billed = {g["model"] for g in client.get("/v1/usage", params={"group_by": "model"}).json()["data"]}
    assert [(r["endpoint"], r["status"]) for r in logged] == [("/v1/chat/compare", 200)]
    assert {LOCAL, "fake/echo"} <= billed  # each model's call (and the judge's) billed to the owner
    assert page.console_errors == []
