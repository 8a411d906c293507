"""The request log's milliseconds: ``millis`` gives the float ``round(seconds * 1000, 3)`` gives, for every input."""

from __future__ import annotations

import math
import random
import struct

import pytest

from meshapi_gateway.observability.millis import millis


def _same(a: float, b: float) -> bool:
    return struct.pack("<d", a) == struct.pack("<d", b) or (math.isnan(a) and math.isnan(b))


EDGES = [0.0, -0.0, 5e-7, 1.5e-6, 2.5e-6, 0.0000005, 0.0010005, 0.0123455, 0.1, 1.0, 2.675, 99.9995, 1e5, 1e8, 1e9]
EDGES += [-1e-9, -0.001, float("inf"), float("-inf"), float("nan"), 1e300, 5e-324]


@pytest.mark.parametrize("seconds", EDGES)
def test_edges(seconds: float) -> None:
    assert _same(millis(seconds), round(seconds * 1000, 3))


def test_many_durations() -> None:
    rng = random.Random(17)
    for _ in range(300_000):
        seconds = rng.choice(
            [
                rng.uniform(0, 0.05),
                rng.uniform(0, 600),
                rng.expovariate(2.0),
                rng.randint(0, 10**9) / 1e9,  # whole nanoseconds, as clocks give them
                rng.randint(0, 10**7) / 2e7 + 5e-7,  # near and at halves of a microsecond
            ]
        )
        assert _same(millis(seconds), round(seconds * 1000, 3)), seconds


def test_random_bit_patterns() -> None:
    rng = random.Random(5)
    for _ in range(200_000):
        seconds = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
        assert _same(millis(seconds), round(seconds * 1000, 3)), seconds


def test_every_microsecond_and_its_neighbours() -> None:
    for n in range(0, 2_000_000, 7):
        for seconds in (n / 1e6, math.nextafter(n / 1e6, 0.0), math.nextafter(n / 1e6, 1.0), (n + 0.5) / 1e6):
            assert _same(millis(seconds), round(seconds * 1000, 3)), seconds


def test_the_writer_rounds_as_millis_does() -> None:
    """``RequestLogWriter.row`` spells ``millis`` out for its two times; they must stay the same floats."""
    from decimal import Decimal

    from meshapi_gateway.config import RequestLogSettings
    from meshapi_gateway.observability import log_store
    from meshapi_gateway.observability.request_log import RequestLogWriter

    writer = RequestLogWriter(None, RequestLogSettings())
    ttft_at, duration_at = log_store.COLUMNS.index("ttft_ms"), log_store.COLUMNS.index("duration_ms")
    rng = random.Random(11)
    samples = EDGES + [rng.uniform(0, 600) for _ in range(2_000)] + [(n + 0.5) / 1e6 for n in range(2_000)]
    for seconds in samples:
        item = ("r", 1.0, "o", None, None, "/v1/chat/completions", None, "m", "m#0", "[]", None, None, None, 0.0)
        item += (200, None, True, seconds, seconds, 1, 2, 0, Decimal("0.5"), False, None, None, None, None, None, False)
        for sqlite in (False, True):
            row = writer.row(item, "log_1", sqlite)
            assert _same(row[ttft_at], millis(seconds)), seconds
            assert _same(row[duration_at], millis(seconds)), seconds


def test_the_writer_stores_the_cost_as_quantized() -> None:
    """The row's cost is the record's quantized to the ledger's precision (a float on SQLite), a zero one too."""
    from decimal import Decimal

    from meshapi_gateway.config import RequestLogSettings
    from meshapi_gateway.money import LEDGER_PRECISION
    from meshapi_gateway.observability import log_store
    from meshapi_gateway.observability.request_log import RequestLogWriter

    writer = RequestLogWriter(None, RequestLogSettings())
    cost_at = log_store.COLUMNS.index("cost")
    for cost in (Decimal(0), Decimal("0E-12"), Decimal("-0"), Decimal("0.00045"), Decimal("1.23456789012345")):
        item = ("r", 1.0, "o", None, None, "/v1/chat/completions", None, "m", "m#0", "[]", None, None, None, 0.0)
        item += (200, None, True, 0.1, 0.2, 1, 2, 0, cost, False, None, None, None, None, None, False)
        quantized = cost.quantize(LEDGER_PRECISION)
        assert writer.row(item, "log_1")[cost_at] == quantized
        stored = writer.row(item, "log_1", True)[cost_at]
        assert type(stored) is float and stored == float(quantized), cost
