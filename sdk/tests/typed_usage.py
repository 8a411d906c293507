"""How the SDK's methods look to a type checker; test_typing.py runs ``mypy --strict`` on this file.

Every line marked ``# type: ignore[code]`` must be a type error of that code (strict mypy
reports an unused mark, so a signature that stops rejecting the mistake fails the check);
every other line must check clean. Nothing here runs: the functions are only type-checked.
"""

from __future__ import annotations

from typing import List

import httpx

from meshapi import (
    NOT_GIVEN,
    AsyncMeshAPI,
    BatchObject,
    BatchRequestItem,
    ChatCompletionChunk,
    ChatCompletionParams,
    ChatCompletionResponse,
    ChatMessage,
    CompareParams,
    CompareResponse,
    CreateBatchParams,
    CreateTemplateParams,
    EmbeddingsParams,
    EmbeddingsResponse,
    FileObject,
    MeshAPI,
    ModelInfo,
    ResponsesParams,
    ResponsesResponse,
    RouterSelection,
    RouterSelectParams,
    TemplateSummary,
    UpdateTemplateParams,
    UploadBatchFileParams,
    WebSearchParams,
    WebSearchResponse,
)

PARAMS = ChatCompletionParams(model="openai/gpt-4o-mini", messages=[ChatMessage(role="user", content="hi")])
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


def seed_style(client: MeshAPI) -> None:
    """The 0.1.0 README's style: a params object (or a dict) as the one positional argument."""
    reply: ChatCompletionResponse = client.chat.completions.create(PARAMS)
    print(reply.choices[0].message.content)
    client.chat.completions.create({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    for chunk in client.chat.completions.stream(PARAMS):
        print(chunk.choices)
    answer: ResponsesResponse = client.responses.create(ResponsesParams(model="openai/o3-mini", input="why?"))
    print(answer.output_text)
    for event in client.responses.stream(ResponsesParams(input="why?")):
        print(event.type)
    vectors: EmbeddingsResponse = client.embeddings.create(EmbeddingsParams(model="openai/e3", input=["a", "b"]))
    print(vectors.data[0].embedding)
    compare = CompareParams(models=["a/b", "c/d"], messages=[ChatMessage(role="user", content="hi")])
    side_by_side: CompareResponse = client.compare.create(compare)
    print(side_by_side.results)
    for item in client.compare.stream(compare):
        print(item.event)
    item_ = BatchRequestItem(custom_id="r1", body={"model": "a/b", "messages": []})
    file: FileObject = client.files.upload(UploadBatchFileParams(requests=[item_]))
    batch: BatchObject = client.batches.create(CreateBatchParams(input_file_id=file.id))
    print(batch.status, client.batches.get(batch.id).output_file_id, client.files.content("f").decode())
    template: TemplateSummary = client.templates.create(CreateTemplateParams(name="support", variables=["company"]))
    client.templates.update(template.id, UpdateTemplateParams(model="openai/gpt-4o"))
    client.templates.update(template.id, {"description": "v2"})
    selection: RouterSelection = client.router.select(RouterSelectParams(messages=[ChatMessage(role="user")]))
    print(selection.model)
    found: WebSearchResponse = client.web.search(WebSearchParams(query="meshapi"))
    print(found.results)
    models: List[ModelInfo] = client.models.list()
    print(models, client.models.free(), client.models.paid(), client.models.get("openai/gpt-4o-mini"))


def keyword_style(client: MeshAPI) -> None:
    """Typed keywords, alone or over a params object (the keywords win; ``None`` clears a field)."""
    client.chat.completions.create(
        model="openai/gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}, ChatMessage(role="assistant", content="hello")],
        temperature=0.2,
        max_tokens=64,
        stop=["\n"],
        tools=[TOOL],
        tool_choice="auto",
        models=["anthropic/claude-3-5-haiku"],
        variables={"company": "Acme"},
        stream=False,
        extra_headers={"x-trace": "1"},
        extra_body={"provider": {"sort": "price"}},
        timeout=httpx.Timeout(5.0),
    )
    client.chat.completions.create(PARAMS, temperature=None, seed=NOT_GIVEN, timeout=3.0)
    stream = client.chat.completions.stream(PARAMS, stream_options={"include_usage": True})
    with stream:
        first: ChatCompletionChunk = next(iter(stream))
        print(first.id)
    client.responses.create(input=[{"role": "user", "content": "hi"}], reasoning={"effort": "low"})
    client.embeddings.create(input="text", model="openai/e3", dimensions=256)
    client.compare.stream(models=["a/b"], messages=[{"role": "user", "content": "hi"}], skip_comparison=True)
    client.files.upload(requests=[{"custom_id": "r1", "body": {}}])
    client.batches.create(input_file_id="file-1", metadata={"k": "v"})
    client.templates.create(name="t", params={"temperature": 0.1}, messages=[{"role": "system", "content": "x"}])
    client.templates.update("t1", description=None)
    client.router.select(messages=[{"role": "user", "content": "hi"}], api_type="responses", max_tokens=10)
    client.web.search(query="meshapi", max_results=3, search_depth="basic")
    client.models.search(q="gpt", brand=["openai"], sort="name", timeout=2.0)
    client.batches.list(limit=10, extra_query={"order": "desc"})


async def async_style(client: AsyncMeshAPI) -> None:
    reply: ChatCompletionResponse = await client.chat.completions.create(PARAMS)
    print(reply.id)
    await client.chat.completions.create(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    async for chunk in client.chat.completions.stream(PARAMS, max_tokens=5):
        print(chunk.choices)
    await client.embeddings.create(input=["a"])
    await client.templates.create(CreateTemplateParams(name="t"))
    async for batch in client.batches.iter_all(limit=5):
        print(batch.id)


def mistakes(client: MeshAPI) -> None:
    """Each line is a mistake mypy must report (the mark says which error)."""
    client.chat.completions.create(model="m", messages=[], temprature=0.2)  # type: ignore[call-arg]
    client.chat.completions.create(model="m", messages=[], temperature="hot")  # type: ignore[arg-type]
    client.chat.completions.create(model=4, messages=[])  # type: ignore[arg-type]
    client.chat.completions.create(model="m", messages="hi")  # type: ignore[arg-type]
    client.chat.completions.create(PARAMS, stream=True)  # type: ignore[arg-type]
    client.chat.completions.stream(PARAMS, stream=True)  # type: ignore[call-arg]
    client.chat.completions.create(PARAMS, extra_header={"a": "b"})  # type: ignore[call-arg]
    client.chat.completions.create(PARAMS, timeout="5")  # type: ignore[arg-type]
    client.chat.completions.create(3)  # type: ignore[arg-type]
    client.chat.completions.create(PARAMS, messages=None)  # type: ignore[arg-type]
    client.responses.create(input="x", max_tokens=3)  # type: ignore[call-arg]
    client.embeddings.create(input="x", dimension=3)  # type: ignore[call-arg]
    client.compare.create(models="a/b", messages=[])  # type: ignore[arg-type]
    client.files.upload(requests=[], purpose=None)  # type: ignore[arg-type]
    client.batches.create(input_file_id=3)  # type: ignore[arg-type]
    client.templates.create(name="t", variables="company")  # type: ignore[arg-type]
    client.router.select(messages=[], max_token=3)  # type: ignore[call-arg]
    client.web.search(query="x", max_result=3)  # type: ignore[call-arg]
    client.models.list(fre=True)  # type: ignore[call-arg]
    client.models.get("x", timeout="5")  # type: ignore[arg-type]
    text: str = client.chat.completions.create(PARAMS)  # type: ignore[assignment]
    print(text)


async def async_mistakes(client: AsyncMeshAPI) -> None:
    await client.chat.completions.create(model="m", messages=[], temprature=0.2)  # type: ignore[call-arg]
    client.chat.completions.stream(PARAMS, top_p="high")  # type: ignore[arg-type]
