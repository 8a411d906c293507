"""The published meshapi-code 0.5.10 in a real terminal against a real gateway serving the local model.

What a new user does: start it, ``/models``, one chat turn, ``/route auto`` and a turn the
gateway routes, ``/route preview``, ``/cost``, ``/exit``. The client runs from its own
virtual environment (``gwtest/meshapi_code.py``) under pexpect, with a throwaway HOME so
its config and credentials stay out of the real one.

The gateway gives the local model an 8,192-token context (meshapi-code's system prompt
and tool schemas alone are about 2,900 tokens, over the default 2,048) and generous
upstream timeouts. What the 135M
model answers to an agent prompt is not judged here (it may answer with nothing); the
test holds that every turn reaches the model and is answered without an error, that
``auto`` resolves to the local model, and what the terminal shows.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from gwtest.harness import FakeUpstream, Gateway, start_gateway
from gwtest.meshapi_code import VERSION, executable
from meshapi_gateway.providers.local.files import locate

pexpect = pytest.importorskip("pexpect", reason="pexpect drives the terminal client (gateway test extra)")

MODEL = "local/smollm2-135m-instruct"
FILES = locate()
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][A-Z0-9]|\x1b[=>]")


class Terminal:
    """A spawned client whose whole screen output is kept, searchable without escape codes."""

    def __init__(self, child: Any) -> None:
        self.child = child
        self.raw = ""

    @property
    def text(self) -> str:
        return ANSI.sub("", self.raw).replace("\r", "")

    def _pump(self, seconds: float) -> None:
        try:
            self.raw += self.child.read_nonblocking(65536, timeout=seconds)
        except (pexpect.TIMEOUT, pexpect.EOF):
            pass

    def wait_for(self, needle: str, timeout: float, after: int = 0) -> int:
        """Wait until ``needle`` shows after position ``after`` of the text; returns where it ends."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.text.find(needle, after)
            if found >= 0:
                return found + len(needle)
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} did not show within {timeout}s; screen tail:\n{self.text[-3000:]}")
            if not self.child.isalive():
                self._pump(0.1)
                if self.text.find(needle, after) >= 0:
                    continue
                raise AssertionError(f"meshapi-code exited before {needle!r}; screen tail:\n{self.text[-3000:]}")
            self._pump(0.5)

    def send(self, line: str) -> int:
        mark = len(self.text)
        self.child.send(line + "\r")
        return mark


@pytest.fixture(scope="module")
def meshapi_code() -> Path:
    command, why = executable()
    if command is None:
        pytest.skip(why)
    return command


@pytest.fixture(scope="module")
def local_gw(tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeUpstream) -> Iterator[Gateway]:
    if not FILES.available:
        pytest.skip(f"local model not installed: {FILES.missing}")
    # Reading a 2,900-token prompt on a busy 2-core machine can take longer than the default
    # first-token timeout; a slow answer is not what this test is about.
    gw = start_gateway(
        tmp_path_factory.mktemp("gw-code"),
        fake_openai.url,
        models=[],
        local_embeddings=False,
        local_model={"enabled": True, "n_ctx": 8192},
        upstream_first_token_timeout=600,
        upstream_idle_timeout=600,
        upstream_total_timeout=900,
    )
    yield gw
    gw.server.stop()


def _usage_models(gw: Gateway, key: str) -> list[str]:
    with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {key}"}, timeout=30) as c:
        rows = c.get("/v1/usage", params={"limit": "100"}).json()["data"]
    return [row["model"] for row in rows]


# Two model turns on a busy machine can take longer than the suite's 300 s per test; each step has its own bound.
@pytest.mark.timeout(2400)
def test_meshapi_code_session_on_the_local_model(meshapi_code: Path, local_gw: Gateway, tmp_path: Path) -> None:
    key = local_gw.create_key("coder")
    home = tmp_path / "home"
    work = tmp_path / "project"
    home.mkdir()
    work.mkdir()
    env = {
        **os.environ,
        "HOME": str(home),
        "MESHAPI_API_KEY": key,
        "MESHAPI_BASE_URL": local_gw.url + "/v1",
        "TERM": "xterm",
        "NO_COLOR": "1",
    }
    env.pop("XDG_CONFIG_HOME", None)
    child = pexpect.spawn(
        str(meshapi_code),
        ["--model", MODEL],
        env=env,
        cwd=str(work),
        encoding="utf-8",
        dimensions=(50, 140),
        timeout=30,
    )
    term = Terminal(child)
    try:
        # Start: the banner names the version and the pinned model, and the key was accepted.
        term.wait_for(f"meshapi {VERSION}", 60)
        term.wait_for(f"model: {MODEL}", 10)
        term.wait_for("route: off", 10)
        term.wait_for("type /help for commands", 10)
        term.wait_for("\u203a", 30)  # the input prompt is up: keys typed from now on are read

        at = term.send("/models")
        row = term.wait_for(MODEL, 30, at)
        term.wait_for("free", 10, row)

        # A chat turn on the pinned model. /cost is queued behind it and prints once the turn is over.
        at = term.send("Say hello in one word.")
        term.send("/cost")
        term.wait_for("Session spend: $0.000000", 900, at)
        pinned = _usage_models(local_gw, key)
        assert pinned and set(pinned) == {MODEL}, term.text[-4000:]

        at = term.send("/route auto")
        term.wait_for("Auto-routing on", 30, at)
        at = term.send("What is 2 + 2?")
        term.wait_for("auto", 30, at)  # the turn header shows the model as "auto"
        term.send("/cost")
        term.wait_for("Session spend: $0.000000", 900, at)
        routed = _usage_models(local_gw, key)
        # The auto turn reached the model: new usage rows, all billed to the concrete local model.
        assert len(routed) > len(pinned) and set(routed) == {MODEL}

        at = term.send("/route preview")
        term.wait_for(f"router would pick: {MODEL}", 60, at)

        term.send("/exit")
        child.expect(pexpect.EOF, timeout=30)
        term.raw += child.before or ""
    finally:
        if child.isalive():
            child.terminate(force=True)
    screen = term.text
    for failure in ("API error", "model_not_found", "not supported", "doesn't support router preview", "Traceback"):
        assert failure not in screen, f"{failure!r} on screen:\n{screen[-3000:]}"
