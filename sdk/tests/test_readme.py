"""Every Python example of sdk/README.md runs as written (base URL and keys swapped in).

The README keeps all examples of the 0.1.0 README, so this also proves the
seed's examples run against this SDK.
"""

from __future__ import annotations

import ast
import asyncio
import re
from pathlib import Path
from typing import Any, Dict, List

import pytest
from fake_gateway import handle
from scripted_server import ScriptedServer

import meshapi

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS: List[str] = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_has_the_seed_examples() -> None:
    assert len(BLOCKS) >= 20


def test_readme_examples_run(server: ScriptedServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.fallback = handle
    ns: Dict[str, Any] = {
        "supabase_session_jwt": "eyJ.fake.jwt",
        "template_id": "8f7c",
        "owner_jwt": "eyJ.fake.jwt",
        "admin_token": "admin-token",
        "team_id": "team_1",
        "params": meshapi.ChatCompletionParams(
            model="openai/gpt-4o-mini", messages=[meshapi.ChatMessage(role="user", content="hi")]
        ),
        "process": lambda chunk: None,
    }
    for i, block in enumerate(BLOCKS):
        src = block.replace("https://api.meshapi.ai", server.url)
        code = compile(src, f"README block {i}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        if code.co_flags & 0x80:  # CO_COROUTINE: a top-level "async for" fragment
            sync_client = ns["client"]
            ns["client"] = meshapi.AsyncMeshAPI(base_url=server.url, token="rsk_test")
            asyncio.run(eval(code, ns))
            ns["client"] = sync_client
        else:
            exec(code, ns)
    out = capsys.readouterr().out
    assert "Paris." in out  # chat create
    assert "Hello world" in out  # streaming
    assert "tool call:" in out  # tool calling
    assert "One sentence." in out  # compare README contract: event.event == "delta"
    assert "openai/gpt-4o-mini: prompt $0.000150/1k" in out  # models
    assert "0.1.0" in out
    assert ns["output_bytes"].startswith(b"{")
    assert "temprature" in out
    paths = {(r.method, r.path) for r in server.requests}
    for expected in [
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/responses"),
        ("POST", "/v1/embeddings"),
        ("POST", "/v1/chat/compare"),
        ("POST", "/v1/files"),
        ("POST", "/v1/batches"),
        ("GET", "/v1/batches/batch-1"),
        ("GET", "/v1/files/file-out/content"),
        ("GET", "/v1/models"),
        ("GET", "/v1/models/free"),
        ("GET", "/v1/models/paid"),
        ("POST", "/v1/templates"),
        ("GET", "/v1/templates"),
        ("GET", "/v1/templates/8f7c"),
        ("PATCH", "/v1/templates/8f7c"),
        ("DELETE", "/v1/templates/8f7c"),
        ("POST", "/v1/keys"),
        ("PATCH", "/v1/keys/key_1"),
        ("POST", "/v1/keys/key_1/suspend"),
        ("DELETE", "/v1/keys/key_1"),
        ("POST", "/v1/teams"),
        ("GET", "/v1/usage"),
        ("GET", "/v1/balance"),
    ]:
        assert expected in paths
