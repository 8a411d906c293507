"""Every Python example of the SDK README runs on a gateway with its embedded defaults and the real local model.

sdk/README.md keeps every example of the 0.1.0 README (``sdk/tests/test_readme.py`` runs them on
scripted bytes); here they run as written against a gateway started with nothing but a data folder
(built-in catalog, SmolLM2 through llama.cpp, the in-process embedding model), with the base URL and
key swapped in and the remote model names swapped for the local models. Each example must run with
no error and give a real answer: text, a tool call or a text answer under ``auto``, an embedding
vector, compare results per model, a batch that completes with an output file, a rendered template.
The model is tiny, so the checks look at the shape of each answer, never its words.
"""

from __future__ import annotations

import ast
import asyncio
import json
import re
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import httpx
import pytest

from gwtest.harness import Gateway
from gwtest.server_thread import ServerThread
from meshapi import AsyncMeshAPI, ChatCompletionParams, ChatMessage, MeshAPI
from meshapi_gateway.app import asgi
from meshapi_gateway.config import load_settings
from meshapi_gateway.providers.local.files import locate
from meshapi_gateway.providers.local_embeddings.catalog_entry import LOCAL_EMBEDDING_MODEL_ID
from meshapi_gateway.providers.local_embeddings.model_files import runtime_available, shipped_model_dir
from meshapi_gateway.store import db

CHAT = "local/smollm2-135m-instruct"
ADMIN = "admin-" + "r" * 40
README = Path(__file__).resolve().parents[2] / "sdk" / "README.md"
BLOCKS: List[str] = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
FILES = locate()
pytestmark = [
    pytest.mark.skipif(not FILES.available, reason=f"local model not installed: {FILES.missing}"),
    pytest.mark.skipif(
        shipped_model_dir() is None or not runtime_available(), reason="local embedding model not installed"
    ),
]

# Remote model ids of the examples: embeddings models become the local embedding model, the rest the chat model.
REMOTE_MODEL = re.compile(r'"(?:openai|anthropic|google)/[\w.\-]+"')
# Examples that need what the embedded defaults do not have, with the reason.
NEEDS_MORE = {
    "client.web.search(": "web search needs a search provider's API key; the embedded defaults have none",
}


def local_model_for(match: re.Match[str]) -> str:
    return f'"{LOCAL_EMBEDDING_MODEL_ID}"' if "embedding" in match.group(0) else f'"{CHAT}"'


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    # The embedded defaults: only the data folder is given (no catalog, keys or secrets).
    # (and an admin token, which the teams example uses)
    settings = load_settings(
        overrides={"data_dir": str(tmp_path_factory.mktemp("gw-readme")), "admin_token": ADMIN}, environ={}
    )
    db.upgrade(settings.resolved_database_url())
    server = ServerThread(asgi(settings)).start()
    yield Gateway(server.url, settings, server)
    server.stop()


def text_of(out: str) -> str:
    return out.strip()


def wait_for_batch(client: MeshAPI, batch_id: str) -> Any:
    # Bounded wait for a background job on a shared machine: a failure names the last status seen.
    deadline = time.monotonic() + 600
    status = client.batches.get(batch_id)
    while not status.is_terminal and time.monotonic() < deadline:
        time.sleep(1)
        status = client.batches.get(batch_id)
    return status


def test_every_readme_example_runs_on_the_local_model(gw: Gateway, capsys: pytest.CaptureFixture[str]) -> None:
    key = gw.create_key("alice")
    client = MeshAPI(base_url=gw.url, token=key, timeout=300)
    ns: Dict[str, Any] = {
        # A control-plane token for the same owner, minted with the gateway's own secret.
        "supabase_session_jwt": gw.token("alice"),
        "owner_jwt": gw.token("alice"),
        "admin_token": ADMIN,
        "params": ChatCompletionParams(model=CHAT, messages=[ChatMessage(role="user", content="Say hello.")]),
        "processed": [],
    }
    ns["process"] = ns["processed"].append
    ran: List[str] = []
    skipped: List[str] = []
    for i, block in enumerate(BLOCKS):
        if any(marker in block for marker in NEEDS_MORE):
            skipped.append(next(marker for marker in NEEDS_MORE if marker in block))
            continue
        if "team_id=team_id" in block:  # the keys example puts its key in a team of the owner's
            made = httpx.post(
                gw.url + "/v1/teams",
                headers={"authorization": f"Bearer {ADMIN}"},
                json={"name": "readme-team", "members": {"alice": "member"}},
            )
            assert made.status_code == 201, made.text
            ns["team_id"] = made.json()["id"]
        if "template_id" in block:
            ns["template_id"] = next(t.id for t in ns["ctrl"].templates.list() if t.name == "support-agent")
        src = REMOTE_MODEL.sub(local_model_for, block.replace("https://api.meshapi.ai", gw.url))
        src = src.replace('"rsk_..."', repr(key)).replace("timeout=30.0", "timeout=300.0")
        src = src.replace("timeout=60.0,", "timeout=300.0,")
        code = compile(src, f"README block {i}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        if code.co_flags & 0x80:  # CO_COROUTINE: a top-level "async for" fragment
            sync_client = ns["client"]
            ns["client"] = AsyncMeshAPI(base_url=gw.url, token=key, timeout=300)
            asyncio.run(eval(code, ns))
            ns["client"] = sync_client
        else:
            exec(code, ns)
        out = capsys.readouterr().out
        CHECKS.get(check_for(block), lambda out, ns, client: None)(out, ns, client)
        ran.append(check_for(block) or f"block {i}")
    client.close()
    assert set(CHECKS) <= set(ran), f"examples not found in the README: {set(CHECKS) - set(ran)}"
    assert skipped == list(NEEDS_MORE)


def check_for(block: str) -> str:
    return next((name for name, marker in MARKERS.items() if marker in block), "")


def answered(out: str, ns: Dict[str, Any], client: MeshAPI) -> None:
    assert text_of(out), "the example printed no answer"


def chat_reply(out: str, ns: Dict[str, Any], client: MeshAPI) -> None:
    reply = ns["reply"]
    assert reply.choices[0].message.content.strip() and reply.usage.total_tokens > 0
    assert reply.model == CHAT


def misspelled(out: str, ns: Dict[str, Any], client: MeshAPI) -> None:
    assert "did you mean 'temperature'" in out


def tools_stream(out: str, ns: Dict[str, Any], client: MeshAPI) -> None:
    # Under tool_choice="auto" the model may call the tool or answer in text; both are answers.
    assert "tool call:" in out or text_of(out)
    if "tool call:" in out:
        assert "get_weather" in out


def responses(out: str, ns: Dict[str, Any], client: MeshAPI) -> None:
    assert ns["reply"].output and ns["reply"].output_text.strip()


def embeddings(out: str, ns: Dict[str, Any], client: MeshAPI) -> None:
    data = ns["result"].data
    assert len(data) == 2 and int(out) == len(data[0].embedding) > 0
    assert all(isinstance(x, float) for x in data[1].embedding)


def compare(out: str, ns: Dict[str, Any], client: MeshAPI) -> None:
    deltas = [line for line in out.splitlines() if line.strip()]
    assert deltas and all(CHAT in line for line in deltas)  # every delta names the model it came from


def batch(out: str, ns: Dict[str, Any], client: MeshAPI) -> None:
    status = wait_for_batch(client, ns["batch"].id)
    assert status.status == "completed", status
    assert status.output_file_id and status.request_counts == {"total": 2, "completed": 2, "failed": 0}
    lines = [json.loads(line) for line in client.files.content(status.output_file_id).splitlines()]
    assert sorted(line["custom_id"] for line in lines) == ["req-1", "req-2"]
    for line in lines:
        assert line["response"]["status_code"] == 200
        assert line["response"]["body"]["choices"][0]["message"]["content"].strip()


def models(out: str, ns: Dict[str, Any], client: MeshAPI) -> None:
    assert any(m.id == CHAT for m in ns["free"]) and ns["all_models"]
    # Paid models are listed once their provider has a key; the embedded defaults have none.
    assert out.count("/1k") == len(ns["paid"][:5])


def template(out: str, ns: Dict[str, Any], client: MeshAPI) -> None:
    chat_reply(out, ns, client)
    stored = next(t for t in ns["ctrl"].templates.list() if t.name == "support-agent")
    assert stored.model == CHAT and stored.variables == ["company"]
    # The model read the rendered system prompt: the same prompt sent by hand counts the same tokens.
    question = {"role": "user", "content": "How do I reset my password?"}

    def prompt_tokens(system: str) -> int:
        messages = [{"role": "system", "content": system}, question]
        reply = client.chat.completions.create(model=CHAT, messages=messages, max_tokens=1)
        assert reply.usage is not None
        return reply.usage.prompt_tokens

    assert ns["reply"].usage.prompt_tokens == prompt_tokens(stored.system.replace("{{company}}", "Acme Corp"))
    # And a longer company name, through the template, makes the prompt longer by as much.
    company = "the Northern Lighthouse Cooperative of Greater Anchorage"
    longer = client.chat.completions.create(
        messages=[question], template="support-agent", variables={"company": company}, max_tokens=1
    )
    assert longer.usage is not None
    assert longer.usage.prompt_tokens == prompt_tokens(stored.system.replace("{{company}}", company))
    assert longer.usage.prompt_tokens > ns["reply"].usage.prompt_tokens


def template_crud(out: str, ns: Dict[str, Any], client: MeshAPI) -> None:
    assert ns["t"].name == "support-agent"
    assert all(t.id != ns["template_id"] for t in ns["ctrl"].templates.list())  # deleted


def error_handling(out: str, ns: Dict[str, Any], client: MeshAPI) -> None:
    assert out == "", f"the request failed: {out}"


def stream_errors(out: str, ns: Dict[str, Any], client: MeshAPI) -> None:
    assert out == "", f"the stream failed: {out}"
    assert any(chunk.choices and chunk.choices[0].delta.content for chunk in ns["processed"])


def model_lookup(out: str, ns: Dict[str, Any], client: MeshAPI) -> None:
    assert ns["model"].id == CHAT and ns["page"].items is not None


def router_preview(out: str, ns: Dict[str, Any], client: MeshAPI) -> None:
    assert ns["choice"].model and any(c.selected for c in ns["choice"].candidates)


MARKERS = {
    "keyword style": 'messages=[{"role": "user", "content": "hi"}],\n    temperature=0.2',
    "misspelled": "temprature",
    "quick start": 'Write a haiku about Python.")],\n    )\n)\n\nprint(',
    "chat": "What is the capital of France?",
    "async": "asyncio.run(main())",
    "final completion": "get_final_completion",
    "stream": "for chunk in client.chat.completions.stream(\n    ChatCompletionParams(",
    "async stream": "async for chunk in client.chat.completions.stream(params)",
    "stream context": "with client.chat.completions.stream(",
    "model lookup": "client.models.get(",
    "router preview": "client.router.select(",
    "tools stream": 'tool_choice="auto"',
    "responses": "client.responses.create(",
    "embeddings": "client.embeddings.create(",
    "compare": "client.compare.stream(",
    "batches": "client.batches.create(",
    "models": "client.models.paid()",
    "templates": "ctrl.templates.create(",
    "template crud": "ctrl.templates.delete(",
    "error handling": "except MeshAPIError as e:\n    print(",
    "stream errors": "process(chunk)",
    "keys and teams": "ctrl.keys.suspend(",
}


def keys_and_teams(out: str, ns: Dict[str, Any], client: MeshAPI) -> None:
    made = ns["key"]
    assert made.key.startswith("rsk_") and made.team_id == ns["team_id"]
    assert Decimal(made.budget_usd or "0") == Decimal("5") and made.budget_period == "daily" and made.models == [CHAT]
    assert ns["ctrl"].keys.get(made.id).revoked_at is not None
    assert ns["team"].name == "acme" and ns["team"].rpm == 600


CHECKS: Dict[str, Callable[[str, Dict[str, Any], MeshAPI], None]] = {
    "keyword style": chat_reply,
    "misspelled": misspelled,
    "keys and teams": keys_and_teams,
    "quick start": chat_reply,
    "chat": chat_reply,
    "async": answered,
    "final completion": answered,
    "stream": answered,
    "async stream": answered,
    "stream context": answered,
    "model lookup": model_lookup,
    "router preview": router_preview,
    "tools stream": tools_stream,
    "responses": responses,
    "embeddings": embeddings,
    "compare": compare,
    "batches": batch,
    "models": models,
    "templates": template,
    "template crud": template_crud,
    "error handling": error_handling,
    "stream errors": stream_errors,
}
