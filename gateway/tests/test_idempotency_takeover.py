"""A replica killed while running a keyed request: the client's retry on another replica runs, once.

The killed replica's "running" claim stays in Redis; its heartbeat stops, and the retry on a
live replica takes the claim over instead of answering 409 until the claim expires. Each
replica has its own SQLite database and key of the same owner; they share Redis only.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from gwtest.faulty_upstream import FaultyUpstream
from gwtest.gateway_process import GatewayProcess

ADMIN = "admin-" + "k" * 40
BODY = {"model": "shared/model", "messages": [{"role": "user", "content": "exactly once"}]}


@pytest.fixture(scope="module")
def faulty() -> Iterator[FaultyUpstream]:
    upstream = FaultyUpstream().start()
    yield upstream
    upstream.stop()


def _replica(folder: Path, faulty: FaultyUpstream, redis_url: str) -> tuple[GatewayProcess, str]:
    folder.mkdir()
    models = [
        {
            "id": "shared/model",
            "upstream_model": "takeover",
            "provider": "openai_compat",
            "base_url": faulty.url,
            "api_key": "sk-test",
            "prompt_usd_per_1m": "1",
            "completion_usd_per_1m": "2",
        }
    ]
    gp = GatewayProcess(
        folder, faulty.url, models=models, redis_url=redis_url, admin_token=ADMIN, retry_max_rounds=0
    ).start()
    r = httpx.post(
        gp.url + "/v1/keys", headers={"authorization": f"Bearer {ADMIN}"}, json={"owner": "takeover-owner", "name": "k"}
    )
    assert r.status_code == 201, r.text
    return gp, str(r.json()["key"])


def test_a_retry_after_the_replica_running_it_was_killed_runs_once(
    tmp_path: Path, faulty: FaultyUpstream, redis_url: str
) -> None:
    faulty.reset_counts()
    faulty.plan("takeover", "slow:30", then="ok")
    a, key_a = _replica(tmp_path / "a", faulty, redis_url)
    b, key_b = _replica(tmp_path / "b", faulty, redis_url)
    idem = str(uuid.uuid4())
    outcome: dict[str, Any] = {}

    def first() -> None:
        try:
            outcome["response"] = httpx.post(
                a.url + "/v1/chat/completions",
                json=BODY,
                timeout=60,
                headers={"authorization": f"Bearer {key_a}", "idempotency-key": idem},
            )
        except httpx.HTTPError as exc:
            outcome["error"] = exc

    try:
        thread = threading.Thread(target=first)
        thread.start()
        deadline = time.monotonic() + 30
        while faulty.calls["takeover"] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert faulty.calls["takeover"] == 1  # replica A holds the key and is calling the upstream
        assert a.proc is not None
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(timeout=30)
        thread.join(timeout=30)
        assert "error" in outcome  # the client saw its request fail with the replica

        headers = {"authorization": f"Bearer {key_b}", "idempotency-key": idem}
        retry = httpx.post(b.url + "/v1/chat/completions", json=BODY, headers=headers, timeout=60)
        assert retry.status_code == 200, retry.text
        assert retry.headers.get("idempotent-replayed") is None
        assert faulty.calls["takeover"] == 2

        again = httpx.post(b.url + "/v1/chat/completions", json=BODY, headers=headers, timeout=60)
        assert again.status_code == 200
        assert again.headers.get("idempotent-replayed") == "true"
        assert again.json() == retry.json()
        assert faulty.calls["takeover"] == 2  # the one answer, replayed, not run a third time
    finally:
        a.stop()
        b.stop()
