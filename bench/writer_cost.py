"""What the write-behind writers cost a row on SQLite: the ledger's and the request log's flushes, counted alone.

In the bench the writers run on the event loop's thread and their rows are CPU the stream's count
(``stream_map.py``, ``instructions_per_call.py``) holds off. This fills their queues through the
real path (the gateway's ASGI application in process, 12-chunk streams against a loopback
upstream, as ``stream_map.py`` runs them) with the writers held off, then writes each queue in
batches of the bench's size (at ≈ 3,600 requests/s: the ledger flushes every 0.25 s, ≈ 900 rows,
the request log every 0.5 s, ≈ 1,800), into the gateway's own SQLite file, migrated by the
project's migrations and holding ``--existing`` older rows in each table (so the b-trees have
their depth). For each writer it counts:

* ``build``: the rows' Python (the ledger's ``row_sqlite`` tuples, the request log's ``row`` lists
  and their ids), as the writer makes them before its transaction;
* ``flush``: the writer's whole batch (the build again, ``BEGIN``, the inserts, the balances'
  update for the ledger, ``COMMIT``); ``flush - build`` is the statements' layout and SQLite's work.

A warm-up round of full batches runs first (the insert texts prepared, as in a running gateway);
then ``--rounds`` measured rounds. The garbage collector is set as a serving process sets it
(``settle_garbage_collector``). Checkpoints are left out (they run on a thread of their own,
at most once a second, whatever the row count): the first commit's is the only one.

Runs itself under ``valgrind --tool=callgrind --instr-atstart=no`` and switches counting on and
off around each phase (``callgrind_control``, file handshakes as in ``stream_map.py``). Two runs
of one tree agree within ≈ 0.1 k a row; run with ``PYTHONHASHSEED=0``.

    python3 bench/writer_cost.py [--rounds 2] [--existing 50000] [--ledger-batch 900] [--log-batch 1800]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

import fixtures
from in_process import chat, start_gateway

BODY = fixtures.sse_body(12).encode()
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: %d\r\n\r\n" % len(BODY)
REQUEST = fixtures.request_body("mock", True).encode()
HELD = 900.0  # the writers' and refreshes' intervals: nothing time-driven runs during a count


async def _wait_for(path: Path) -> None:
    while not path.exists():
        await asyncio.sleep(0.02)


def _prefill(path: str, existing: int) -> None:
    """``existing`` older rows in each table, shaped like the bench's (one owner and key, ids and times ascending,
    all before the new rows'), so the inserts descend b-trees of a used database."""
    if not existing:
        return
    now_ms = int(time.time() * 1000) - 86_400_000
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO ledger_entries (id, request_id, owner, key_id, team_id, model, provider, kind, "
            "prompt_tokens, completion_tokens, cached_tokens, cost_usd, created_at) "
            "SELECT printf('led_00%020d', i), printf('req_00%020d', i), 'bench', 'key_00000000000000000000', NULL, "
            "'mock', 'openai_compat', 'chat', 12, 12, 0, 0.0, ? + i FROM n",
            (existing, now_ms - existing),
        )
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO request_logs (id, request_id, created_ms, owner, key_id, endpoint, requested_model, model, "
            "deployment, attempts, status, streamed, ttft_ms, duration_ms, prompt_tokens, completion_tokens, "
            "cached_tokens, idempotent_replay, client_address) "
            "SELECT printf('log_00%020d', i), printf('req_00%020d', i), ? + i, 'bench', 'key_00000000000000000000', "
            "'chat.completions', 'mock', 'mock', 'mock', "
            '\'[{"model":"mock","deployment":"mock","outcome":"ok","duration_ms":1.0}]\', '
            "200, 1, 0.5, 1.0, 12, 12, 0, 0, '127.0.0.1' FROM n",
            (existing, now_ms - existing),
        )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # into the file now, not on the writers' checkpoint thread
    conn.close()


async def main(args: argparse.Namespace) -> int:
    from meshapi_gateway.app import settle_garbage_collector
    from meshapi_gateway.billing.ledger_sqlite import row_sqlite
    from meshapi_gateway.reliability import disconnect
    from meshapi_gateway.store import sqlite_writer
    from meshapi_gateway.store.sqlite_writer import sqlite_file
    from meshapi_gateway.write_behind import Turns, rows_in_slices

    disconnect.WATCH_AFTER = 1e9  # under callgrind a stream outlives the real delay and starts a watcher
    sqlite_writer.CHECKPOINT_SECONDS = 1e9  # see above: the first commit's checkpoint only
    overrides = {
        "ledger_flush_seconds": HELD,
        "ledger_batch_size": args.ledger_batch,
        "key_cache_refresh_seconds": HELD,
        "balance_refresh_seconds": HELD,
        "breaker_sync_seconds": HELD,
        "request_log": {"flush_seconds": HELD, "batch_size": args.log_batch},
    }
    gateway = await start_gateway(HEAD + BODY, "writer-cost", overrides)
    settle_garbage_collector()  # as ``serve`` does (``tune_gc``): start-up frozen, young collections rarer
    app, key = gateway.app, gateway.key
    state = app.app.state.gw
    path = sqlite_file(state.settings.resolved_database_url())
    assert path is not None, "the gateway's database is not a SQLite file"
    _prefill(path, args.existing)
    ledger, log = state.billing._queue, state.request_log
    assert log is not None and ledger.batch_size == args.ledger_batch and log.batch_size == args.log_batch
    control = Path(args.callgrind) if args.callgrind else None
    counts: list[tuple[str, int]] = []

    async def phase(name: str, rows: int, work: Callable[[], Awaitable[Any]]) -> None:
        if control is None:
            started = time.thread_time()
            await work()
            print(f"{name}: {(time.thread_time() - started) / rows * 1e6:.2f} us a row (thread time)")
            return
        (control / f"want-{len(counts)}").write_text(name)
        await _wait_for(control / f"on-{len(counts)}")
        await work()
        (control / f"did-{len(counts)}").write_text("")
        await _wait_for(control / f"off-{len(counts)}")
        counts.append((name, rows))

    rows = max(args.ledger_batch, args.log_batch)
    for round_ in range(args.rounds + 1):
        for _ in range(rows):
            assert await chat(app, key, REQUEST) == 200
        assert len(ledger) == rows and len(log) == rows, (len(ledger), len(log))
        if round_ == 0:  # the warm-up: texts prepared, connection opened, first checkpoint
            await ledger.flush()
            await log.flush()
            checkpoint = state.sqlite_writer._checkpointing
            if checkpoint is not None:  # done before anything is counted (callgrind counts every thread)
                await asyncio.wrap_future(checkpoint)
            continue
        bills = list(ledger.queue)
        await phase("ledger build", rows, lambda bills=bills: rows_in_slices(bills, row_sqlite, Turns()))
        await phase("ledger flush", rows, ledger.flush)

        async def log_build(records: tuple[Any, ...] = tuple(log.queue)) -> None:
            await log.yielding_rows(records, sqlite=True)
            log._ids = []  # the flush mints its own ids, as it would without this look

        await phase("log build", rows, log_build)
        await phase("log flush", rows, log.flush)
    if control is not None:
        (control / "rows.json").write_text(json.dumps(counts))
        (control / "finished").write_text("")
        await _wait_for(control / "exit")
    await gateway.stop()
    return 0


def _dumps(control: Path) -> list[int]:
    """Each dump's instruction total, in the order the phases ran (callgrind numbers its dumps)."""
    out: list[tuple[int, int]] = []
    for dump in control.glob("callgrind.out.*"):
        suffix = dump.name.rsplit(".", 1)[-1]
        if "-" in suffix:  # a thread's part of a dump: callgrind.out.PID.N-T (not with --separate-threads=no)
            continue
        total = 0
        for line in dump.read_text(errors="replace").splitlines():
            if line.startswith(("summary:", "totals:")):
                total = max(total, int(line.split()[1]))
        out.append((int(suffix), total))
    return [total for _, total in sorted(out)]


def count(args: argparse.Namespace) -> int:
    """Instructions a row of each phase, counted by callgrind (this script under valgrind)."""
    control = Path(tempfile.mkdtemp(prefix="meshapi-writer-cost-"))
    argv = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={control / 'callgrind.out'}",
        sys.executable,
        __file__,
        *("--rounds", str(args.rounds), "--existing", str(args.existing)),
        *("--ledger-batch", str(args.ledger_batch), "--log-batch", str(args.log_batch)),
        *("--callgrind", str(control)),
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        n = 0
        while not (control / "finished").exists():
            if proc.poll() is not None:
                raise SystemExit(f"the run under valgrind ended early (exit {proc.returncode})")
            if not (control / f"want-{n}").exists():
                time.sleep(0.2)
                continue
            pid = str(proc.pid)
            subprocess.run(["callgrind_control", "-i", "on", pid], check=True, capture_output=True)
            (control / f"on-{n}").write_text("")
            while not (control / f"did-{n}").exists():
                if proc.poll() is not None:
                    raise SystemExit(f"the run under valgrind ended early (exit {proc.returncode})")
                time.sleep(0.1)
            subprocess.run(["callgrind_control", "-i", "off", pid], check=True, capture_output=True)
            subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
            (control / f"off-{n}").write_text("")
            n += 1
        phases = json.loads((control / "rows.json").read_text())
        (control / "exit").write_text("")
        proc.wait()
        totals = _dumps(control)
        if len(totals) < len(phases):
            raise SystemExit(f"{len(totals)} dumps for {len(phases)} phases")
        totals = totals[-len(phases) :]  # a final dump at exit, if any, comes last and is empty
        by: dict[str, list[float]] = {}
        for (name, rows), total in zip(phases, totals[: len(phases)]):
            by.setdefault(name, []).append(total / rows / 1000)
        result = {name: [round(v, 2) for v in values] for name, values in by.items()}
        for writer in ("ledger", "log"):
            result[f"{writer} sqlite"] = [
                round(f - b, 2) for f, b in zip(by[f"{writer} flush"], by[f"{writer} build"], strict=True)
            ]
        print(json.dumps({"k instructions a row": result}))
    finally:
        if proc.poll() is None:
            proc.kill()
        if args.keep:
            print(f"callgrind's dumps (for callgrind_annotate): {control}")
        else:
            shutil.rmtree(control, ignore_errors=True)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="measured rounds, after one of warm-up")
    parser.add_argument("--existing", type=int, default=50_000, help="older rows in each table before the first")
    parser.add_argument("--ledger-batch", type=int, default=900, help="rows a ledger batch (0.25 s at 3,600/s)")
    parser.add_argument("--log-batch", type=int, default=1800, help="rows a request-log batch (0.5 s at 3,600/s)")
    parser.add_argument("--callgrind", help="a folder for the phases' handshake files (see above)")
    parser.add_argument("--native", action="store_true", help="no valgrind: thread time a row, for a quick look")
    parser.add_argument("--keep", action="store_true", help="keep callgrind's dumps and say where")
    parsed = parser.parse_args()
    if not parsed.native and not parsed.callgrind:
        sys.exit(count(parsed))
    try:
        import uvloop
    except ImportError:  # the plain loop counts differently; the figures are then not comparable
        uvloop = None
    if uvloop is not None:
        uvloop.install()
    sys.exit(asyncio.run(main(parsed)))
