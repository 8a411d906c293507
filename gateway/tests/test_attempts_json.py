"""The request log's attempts text: the fast path for one successful attempt matches the general one byte for byte."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from meshapi_gateway.calls import CallRecord
from meshapi_gateway.observability.attempts_json import attempts_json
from meshapi_gateway.observability.record import RequestRecord
from meshapi_gateway.routing import AttemptRecord


def _record(*attempts: AttemptRecord, calls: int = 1) -> RequestRecord:
    def call() -> CallRecord:
        principal: Any = None
        tried = list(attempts)
        return CallRecord("chat", "r", principal, "m", "m", "m#0", tried, 200, None, False, None, 0.1, None, None)

    return RequestRecord(request_id="r", endpoint="/v1/chat/completions", calls=[call() for _ in range(calls)])


def _general(rec: RequestRecord) -> str:
    return orjson.dumps(rec.attempts()).decode()


DURATIONS = [0.0, 1e-9, 0.000005, 0.000015, 0.001005, 0.0123, 0.01, 0.1, 1.0, 2.675, 99.995, 1e6, 1e9, 1e10, -0.001]


@pytest.mark.parametrize("seconds", DURATIONS)
def test_one_successful_attempt_is_the_general_text(seconds: float) -> None:
    rec = _record(AttemptRecord("openai/gpt-4o", "openai/gpt-4o#0", "ok", seconds))
    assert attempts_json(rec) == _general(rec)


def test_random_durations_and_names_that_need_escaping() -> None:
    rng = random.Random(17)
    names = ['a"b', "back\\slash", "ünï/cödé", "tab\tname", "plain/model"]
    for _ in range(20_000):
        name = rng.choice(names)
        seconds = rng.choice([rng.uniform(0, 1), rng.uniform(0, 600), rng.randint(0, 10**7) / 1e6])
        rec = _record(AttemptRecord(name, name + "#3", "ok", seconds))
        assert attempts_json(rec) == _general(rec)
        assert orjson.loads(attempts_json(rec))[0]["duration_ms"] == round(seconds * 1000, 2)


def test_same_deployment_with_another_model_is_not_mixed_up() -> None:
    first = _record(AttemptRecord("a", "shared#0", "ok", 0.5))
    second = _record(AttemptRecord("b", "shared#0", "ok", 0.5))
    assert attempts_json(first) == _general(first)
    assert attempts_json(second) == _general(second)


def test_other_records_take_the_general_path() -> None:
    failed = AttemptRecord("m", "m#0", "upstream_error", 0.2)
    ok = AttemptRecord("n", "n#1", "ok", 0.3)
    for rec in (_record(), _record(failed), _record(failed, ok), _record(ok, calls=2), _record(ok, calls=0)):
        assert attempts_json(rec) == _general(rec)
    huge = _record(AttemptRecord("m", "m#0", "ok", 1e12))
    assert attempts_json(huge) == _general(huge)
