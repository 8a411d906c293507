"""The shortcut past pydantic for everyday chat bodies never lets through what ``ChatRequest`` refuses."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from meshapi_gateway.api.schemas import ChatRequest, plainly_valid_chat
from pydantic import ValidationError

anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 300),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=300),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
message = st.dictionaries(
    st.sampled_from(["role", "content", "name", "tool_calls", "extra"]),
    st.one_of(st.sampled_from(["system", "developer", "user", "assistant", "tool", "robot"]), anything),
    max_size=4,
)
body = st.dictionaries(
    st.sampled_from(
        [
            "messages",
            "model",
            "stream",
            "temperature",
            "top_p",
            "frequency_penalty",
            "presence_penalty",
            "max_tokens",
            "max_completion_tokens",
            "seed",
            "user",
            "stream_options",
            "n",
            "tools",
            "cache",
        ]
    ),
    anything,
    max_size=8,
).flatmap(lambda b: st.lists(message, max_size=3).map(lambda msgs: {**b, "messages": msgs}))


@settings(max_examples=3000, deadline=None)
@given(body)
def test_a_body_passed_as_plain_is_one_chat_request_accepts(data: dict[str, Any]) -> None:
    if plainly_valid_chat(data):
        ChatRequest.model_validate(data)  # raises if the shortcut let a bad body through


def test_everyday_bodies_take_the_shortcut_and_odd_ones_do_not() -> None:
    plain = {
        "model": "openai/gpt-4o",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi", "name": "ann"}],
        "temperature": 0.2,
        "max_tokens": 50,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert plainly_valid_chat(plain)
    # A request asking for the cache (an exact hit is the cheapest answer the gateway gives) stays plain.
    assert plainly_valid_chat({**plain, "cache": True}) and plainly_valid_chat({**plain, "cache": False})
    for odd in (
        {**plain, "temperature": 3},
        {**plain, "stream": "yes"},
        {**plain, "messages": []},
        {**plain, "tools": []},
        {**plain, "messages": [{"role": "user", "content": [{"type": "text"}]}]},
        {**plain, "cache": {"ttl": 60}},
        {**plain, "cache": "yes"},
    ):
        assert not plainly_valid_chat(odd)
    try:
        ChatRequest.model_validate({**plain, "temperature": 3})
        raise AssertionError("pydantic should refuse temperature 3")
    except ValidationError:
        pass
