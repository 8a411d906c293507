"""The garbage collector's passes in a bench target, timed: loaded by ``bench/cpu_breakdown.py --gc``.

A directory on the target's ``PYTHONPATH`` that holds this file makes Python import it at start.
With ``MESHAPI_BENCH_GC_OUT`` set it times every collection (``gc.callbacks``; a pass stops every
thread, since it holds the GIL) and, on SIGUSR2, writes the passes since the last signal to that
file as JSON and starts afresh: one signal before a window, one after it.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import threading
import time
from typing import Any

_OUT = os.environ.get("MESHAPI_BENCH_GC_OUT")

if _OUT:
    _passes: list[tuple[int, float, int, bool]] = []  # generation, seconds, collected, on the main thread
    _started = [0.0]
    _main = threading.main_thread().ident

    def _timed(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            _started[0] = time.perf_counter()
        else:
            elapsed = time.perf_counter() - _started[0]
            _passes.append((info["generation"], elapsed, info["collected"], threading.get_ident() == _main))

    def _dump(signum: int, frame: object) -> None:
        taken = list(_passes)
        _passes.clear()
        tmp = f"{_OUT}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump({"passes": taken, "count": gc.get_count(), "threshold": gc.get_threshold()}, f)
        os.replace(tmp, f"{_OUT}.{os.getpid()}")

    gc.callbacks.append(_timed)
    signal.signal(signal.SIGUSR2, _dump)
