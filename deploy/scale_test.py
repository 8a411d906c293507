"""Scale-out, run for real: three gateway nodes behind nginx, killed and restarted under load.

This is both a test (``gateway/tests/test_deployment.py`` runs it small) and a recipe an
operator can read top to bottom: what runs, how it is wired, what is checked.

Topology (everything on this machine, each part its own process):

    clients (asyncio + httpx, N connections, Idempotency-Key on every POST, retrying)
        │
      nginx  (one upstream block of three nodes, passive health: a refused connection
        │     sends the request to the next node; keep-alive to the nodes; no buffering of streams)
        ├── gateway node 1  ┐ each: `meshapi-gateway serve`, its own data folder (no shared files),
        ├── gateway node 2  ├ the same config otherwise: PostgreSQL for keys/ledger/batches/files,
        └── gateway node 3  ┘ Redis for limits, shared balances, idempotency claims, breakers
      PostgreSQL (one)   Redis (one)   a fake OpenAI-compatible upstream (its own process)

What happens, in order:
 1. Keys for several owners (credited accounts), a key limited to ``rate_limit`` requests per
    minute, a key whose budget pays for exactly ``budget_calls`` calls of a metered model, and a
    batch of ``batch_lines`` chat lines are created through nginx.
 2. ``requests`` chat completions (a third streamed) at ``connections`` concurrent clients.
    Every request carries an ``Idempotency-Key``; a failed attempt (connection error, 5xx,
    409, a stream cut before ``[DONE]``) is retried with the same key after a short pause.
 3. At 25 % of the requests, node 1 is killed (SIGKILL); at 40 % it is started again.
    At 55 % node 2 is stopped gracefully (SIGTERM) and started again. At 70 % a burst of
    twice the rate limit goes to the limited key; at 85 % a flood of three times
    ``budget_calls`` concurrent calls (a third streamed) goes to the budgeted key.
 4. The batch must complete with every ``custom_id`` answered exactly once.
 5. Redis is stopped for ``redis_outage`` seconds while requests keep coming, then started
    again (empty, as after a crash); every node must become ready again by itself.

What is checked (``Report.problems`` lists every violation):
 * every request got exactly one answer, and the only failed attempts nginx logged were
   requests in flight on the killed node when it died, or written by nginx, while it was dead,
   on a connection it had kept alive to it (counted apart; nginx never resends a POST);
 * the ledger holds exactly one row per answered request, and its sum equals the sum of the
   ``cost`` values clients were shown, to the cent (exactly, in fact);
 * the limited key was admitted exactly ``rate_limit`` times out of the burst, across nodes;
 * the budgeted key was admitted exactly ``budget_calls`` times out of its flood (the others
   402), by more than one node, and the ledger holds exactly ``budget_calls`` bills for it,
   summing to the budget and to what its clients were shown;
 * the batch: every custom_id exactly once in the output, every item billed exactly once;
 * Redis down: requests are still served (limits fail open), ``/ready`` says not ready,
   and after Redis is back every node is ready and limits hold again, with no restart.

Run it:  python deploy/scale_test.py --requests 20000 --connections 100
(needs the gateway installed, PostgreSQL's and Redis's server binaries, and nginx).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent / "gateway" / "tests"
sys.path.insert(0, str(TESTS))  # the test servers (PostgreSQL, Redis, gateway processes, fake upstream)

from gwtest.accounts_support import ledger  # noqa: E402
from gwtest.gateway_process import GatewayProcess  # noqa: E402
from gwtest.postgres_server import PostgresServer  # noqa: E402
from gwtest.redis_server import RedisServer  # noqa: E402
from gwtest.server_thread import free_port  # noqa: E402

ADMIN = "admin-scale-" + "s" * 32
MODEL = "scale/lean"
# The budgeted key's model: only output is priced, and the fake upstream writes exactly
# max_tokens, so every call costs exactly the worst case its budget reserves (0.001 USD):
# a budget of N calls admits exactly N, however the calls interleave across nodes.
METERED = "scale/metered"
METERED_MAX_TOKENS = 250
METERED_USD_PER_1M = Decimal(4)
METERED_CALL_USD = METERED_MAX_TOKENS * METERED_USD_PER_1M / 1_000_000
RETRYABLE = {409, 500, 502, 503, 504}
# A node starts in seconds, but on a machine shared with other work its imports alone can take a minute.
NODE_START_SECONDS = 180.0


@dataclass
class Config:
    requests: int = 20_000
    connections: int = 100
    owners: int = 4
    rate_limit: int = 40
    budget_calls: int = 30
    batch_lines: int = 300
    redis_outage: float = 10.0
    outage_requests: int = 200
    workdir: Path | None = None
    keep: bool = False


@dataclass
class Report:
    answered: int = 0
    failed_attempts: int = 0
    failed_on_killed_node_in_flight: int = 0
    failed_on_killed_node_stale_connection: int = 0
    retried_requests: int = 0
    replayed_answers: int = 0
    seconds: float = 0.0
    requests_per_second: float = 0.0
    ledger_rows: int = 0
    ledger_usd: str = "0"
    seen_usd: str = "0"
    rate_limit_admitted: int = 0
    rate_limit_refused: int = 0
    budget_admitted: int = 0
    budget_refused: int = 0
    budget_refused_by_nodes: int = 0
    budget_ledger_rows: int = 0
    budget_ledger_usd: str = "0"
    budget_seen_usd: str = "0"
    batch_items: int = 0
    redis_down_served: int = 0
    redis_down_failed: int = 0
    redis_down_ready: list[int] = field(default_factory=list)
    redis_back_seconds: float = 0.0
    rate_limit_after_redis: int = 0
    problems: list[str] = field(default_factory=list)

    def check(self, ok: bool, problem: str) -> None:
        if not ok:
            self.problems.append(problem)


# -- the parts ----------------------------------------------------------------

NGINX_CONF = """
{user}
worker_processes 1;
pid {dir}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    # '|' between fields: the upstream ones list every node tried, separated by ", ".
    log_format scale '$msec|$request_time|$status|$upstream_addr|$upstream_status|$upstream_bytes_sent|$request_method|$uri';
    access_log {dir}/access.log scale;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;

    upstream gateways {{
{servers}
        keepalive 64;
        # Shorter than the gateway's keep_alive_timeout_seconds (5 s): nginx closes an idle connection
        # before the node does, never the node while nginx is writing a request on it (a reset, a 502).
        keepalive_timeout 4s;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 20m;
        location / {{
            proxy_pass http://gateways;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            # Streams go out as they come.
            proxy_buffering off;
            proxy_read_timeout 120s;
            # A node that refuses the connection (stopped, killed) is skipped. A POST that already
            # reached a node is never sent to another by nginx: the client retries it with its key.
            proxy_next_upstream error timeout;
        }}
    }}
}}
"""


class Nginx:
    def __init__(self, folder: Path, node_ports: list[int], keepalive: bool = True) -> None:
        """``keepalive=False``: nginx keeps no idle connection to the nodes, a new one for every request."""
        self.folder = folder
        self.port = free_port()
        (folder / "tmp").mkdir(parents=True, exist_ok=True)
        servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=1s;" for p in node_ports)
        self.conf = folder / "nginx.conf"
        # Started as root, nginx's workers would drop to "nobody", who cannot write the temp folders here.
        user = "user root;" if os.geteuid() == 0 else ""
        conf = NGINX_CONF if keepalive else NGINX_CONF.replace("        keepalive 64;\n", "")
        self.conf.write_text(conf.format(user=user, dir=folder, servers=servers, port=self.port))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Nginx":
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(binary).exists():
            raise FileNotFoundError("nginx is not installed (apt-get install nginx)")
        self.proc = subprocess.Popen(
            [
                binary,
                "-p",
                str(self.folder),
                "-c",
                str(self.conf),
                "-e",
                str(self.folder / "error.log"),
                "-g",
                "daemon off;",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(self.url + "/health", timeout=1)
                return self
            except httpx.HTTPError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("nginx did not start: " + (self.folder / "error.log").read_text()[-2000:])
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def errors(self) -> list[str]:
        path = self.folder / "error.log"
        return [line for line in path.read_text().splitlines() if "[error]" in line] if path.exists() else []

    def log(self) -> list[dict[str, Any]]:
        rows = []
        for line in (self.folder / "access.log").read_text().splitlines():
            msec, took, status, upstream, upstream_status, sent, method, uri = line.split("|")
            rows.append(
                {
                    "end": float(msec),
                    "start": float(msec) - float(took),
                    "status": int(status),
                    "upstream": upstream,
                    "upstream_status": upstream_status,
                    # bytes of the request written to the last node tried (0: it refused the connection)
                    "sent": int(sent.split(",")[-1].strip()) if sent.split(",")[-1].strip().isdigit() else 0,
                    "method": method,
                    "uri": uri,
                }
            )
        return rows


class Upstream:
    """The fake OpenAI-compatible upstream, in its own process (a load test must not share the client's core)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "Upstream":
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "gwtest.lean_upstream:lean_app",
                "--app-dir",
                str(TESTS),
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.post(self.url + "/chat/completions", json={}, timeout=1)
                return self
            except httpx.HTTPError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the fake upstream did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class Cluster:
    def __init__(self, root: Path, cfg: Config) -> None:
        self.root = root
        self.cfg = cfg
        self.pg = PostgresServer()
        self.redis = RedisServer()
        self.upstream = Upstream()
        self.nodes: list[GatewayProcess] = []
        self.nginx: Nginx | None = None
        self.database_url = ""

    def node_settings(self) -> dict[str, Any]:
        return {
            "database_url": self.database_url,
            "redis_url": self.redis.url,
            "admin_token": ADMIN,
            "models": [
                {
                    "id": MODEL,
                    "upstream_model": "lean",
                    "provider": "openai_compat",
                    "base_url": self.upstream.url,
                    "api_key": "sk-fake",
                    "prompt_usd_per_1m": "1.25",
                    "completion_usd_per_1m": "3.1",
                },
                {
                    "id": METERED,
                    "upstream_model": "lean",
                    "provider": "openai_compat",
                    "base_url": self.upstream.url,
                    "api_key": "sk-fake",
                    "prompt_usd_per_1m": "0",
                    "completion_usd_per_1m": str(METERED_USD_PER_1M),
                },
            ],
            # Files live in the database: the nodes share no folder.
            "file_storage": "database",
            "batch_lease_seconds": 5,
            "batch_poll_seconds": 0.5,
            "key_cache_refresh_seconds": 0.5,
            "shutdown_grace_seconds": 10,
            "log_level": "warning",
        }

    def start(self) -> "Cluster":
        self.pg.start()
        self.redis.start()
        self.upstream.start()
        self.database_url = self.pg.new_database()
        subprocess.run(
            [sys.executable, "-m", "meshapi_gateway", "migrate", "--database-url", self.database_url],
            check=True,
            capture_output=True,
            env=_clean_env(),
        )
        for i in range(3):
            folder = self.root / f"node{i + 1}"
            folder.mkdir()
            self.nodes.append(GatewayProcess(folder, self.upstream.url, **self.node_settings()))
        for node in self.nodes:
            node.start(timeout=NODE_START_SECONDS)
        self.nginx = Nginx(self.root / "nginx", [n.port for n in self.nodes]).start()
        return self

    def restart(self, i: int) -> None:
        old = self.nodes[i]
        self.nodes[i] = GatewayProcess(
            Path(old.settings["data_dir"]), self.upstream.url, port=old.port, **self.node_settings()
        ).start(timeout=NODE_START_SECONDS)

    def stop(self) -> None:
        if self.nginx is not None:
            self.nginx.stop()
        for node in self.nodes:
            node.stop()
        self.upstream.stop()
        self.redis.stop()
        self.pg.stop()


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MESHAPI_GATEWAY_")}


# -- the clients --------------------------------------------------------------


@dataclass
class Outcome:
    status: int = 0
    cost: Decimal | None = None
    attempts: int = 0
    failures: list[str] = field(default_factory=list)
    replayed: bool = False


def _stream_cost(text: str) -> Decimal | None:
    payloads = [line[6:] for line in text.split("\n") if line.startswith("data: ")]
    if len(payloads) < 2 or payloads[-1] != "[DONE]":
        return None  # cut before the end: not an answer
    return Decimal(json.loads(payloads[-2])["cost"])


async def one_request(
    client: httpx.AsyncClient, key: str, body: dict[str, Any], out: Outcome, max_attempts: int = 20
) -> None:
    """One logical request: the same Idempotency-Key on every attempt until an answer arrives."""
    headers = {"authorization": f"Bearer {key}", "idempotency-key": str(uuid.uuid4())}
    pause = 0.1
    while out.attempts < max_attempts:
        out.attempts += 1
        try:
            async with client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as r:
                text = (await r.aread()).decode()
                status, replayed, ctype = (
                    r.status_code,
                    r.headers.get("idempotent-replayed") == "true",
                    r.headers.get("content-type", ""),
                )
        except httpx.HTTPError as exc:
            out.failures.append(type(exc).__name__)
        else:
            if status == 200:
                cost = (
                    _stream_cost(text) if ctype.startswith("text/event-stream") else Decimal(json.loads(text)["cost"])
                )
                if cost is not None:
                    out.status, out.cost, out.replayed = 200, cost, replayed
                    return
                out.failures.append("stream cut")
            elif status in RETRYABLE:
                out.failures.append(str(status))
            else:
                out.status = status
                return
        await asyncio.sleep(pause)
        pause = min(pause * 2, 2.0)


def _body(i: int) -> dict[str, Any]:
    # Different lengths give different costs, so a lost or doubled bill changes the sum.
    return {"model": MODEL, "stream": i % 3 == 0, "messages": [{"role": "user", "content": "w " * (i % 13 + 1)}]}


# -- the run ------------------------------------------------------------------


def _admin(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"authorization": f"Bearer {ADMIN}"}, timeout=30)


def _setup_keys(url: str, cfg: Config) -> tuple[dict[str, str], str, str, str]:
    keys: dict[str, str] = {}
    with _admin(url) as admin:
        for i in range(cfg.owners):
            owner = f"scale-owner-{i}"
            assert admin.post("/v1/admin/credits", json={"owner": owner, "usd": "1000"}).status_code == 200
            r = admin.post("/v1/keys", json={"owner": owner, "name": "load"})
            assert r.status_code == 201, r.text
            keys[owner] = r.json()["key"]
        r = admin.post("/v1/keys", json={"owner": "scale-limited", "name": "limited", "rpm": cfg.rate_limit})
        assert r.status_code == 201, r.text
        limited = r.json()["key"]
        r = admin.post("/v1/keys", json={"owner": "scale-batch", "name": "batch"})
        assert r.status_code == 201, r.text
        batch_key = r.json()["key"]
        # The account holds far more than the budget: the budget, not the balance, is what refuses.
        assert admin.post("/v1/admin/credits", json={"owner": "scale-budget", "usd": "1000"}).status_code == 200
        budget = str(cfg.budget_calls * METERED_CALL_USD)
        r = admin.post(
            "/v1/keys",
            json={"owner": "scale-budget", "name": "budgeted", "budget_usd": budget, "budget_period": "total"},
        )
        assert r.status_code == 201, r.text
        budgeted = r.json()["key"]
    time.sleep(1.5)  # every node's key cache has seen the new keys (key_cache_refresh_seconds)
    return keys, limited, batch_key, budgeted


def _start_batch(url: str, key: str, lines: int) -> str:
    data = b"".join(
        json.dumps(
            {
                "custom_id": f"item-{i:05d}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": _body(i) | {"stream": False},
            }
        ).encode()
        + b"\n"
        for i in range(lines)
    )
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {key}"}, timeout=60) as c:
        r = c.post("/v1/files", files={"file": ("batch.jsonl", data)}, data={"purpose": "batch"})
        assert r.status_code in (200, 201), r.text
        r = c.post(
            "/v1/batches",
            json={"input_file_id": r.json()["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"},
        )
        assert r.status_code in (200, 201), r.text
        return str(r.json()["id"])


async def _burst(url: str, key: str, n: int) -> list[int]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:

        async def one(i: int) -> int:
            r = await client.post(
                "/v1/chat/completions", json=_body(i) | {"stream": False}, headers={"authorization": f"Bearer {key}"}
            )
            return r.status_code

        return list(await asyncio.gather(*(one(i) for i in range(n))))


async def _budget_flood(url: str, key: str, n: int) -> list[tuple[int, Decimal | None]]:
    """``n`` concurrent calls of the metered model on the budgeted key: each answer's status and shown cost."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:

        async def one(i: int) -> tuple[int, Decimal | None]:
            body = {
                "model": METERED,
                "stream": i % 3 == 0,
                "max_tokens": METERED_MAX_TOKENS,
                "messages": [{"role": "user", "content": "spend " * (i % 5 + 1)}],
            }
            r = await client.post("/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"})
            if r.status_code != 200:
                return r.status_code, None
            if r.headers.get("content-type", "").startswith("text/event-stream"):
                return 200, _stream_cost(r.text)
            return 200, Decimal(r.json()["cost"])

        return list(await asyncio.gather(*(one(i) for i in range(n))))


async def _load(
    cluster: Cluster, cfg: Config, keys: list[str], limited: str, budgeted: str, events: dict[str, Any]
) -> list[Outcome]:
    assert cluster.nginx is not None
    url = cluster.nginx.url
    outcomes = [Outcome() for _ in range(cfg.requests)]
    done = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(cfg.requests):
        queue.put_nowait(i)

    async def worker() -> None:
        nonlocal done
        async with httpx.AsyncClient(base_url=url, timeout=120, limits=httpx.Limits(max_connections=1)) as client:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                await one_request(client, keys[i % len(keys)], _body(i), outcomes[i])
                done += 1

    async def conductor() -> None:
        steps = [(0.25, "kill"), (0.40, "restart_killed"), (0.55, "stop"), (0.70, "burst"), (0.85, "budget")]
        for share, step in steps:
            while done < share * cfg.requests:
                await asyncio.sleep(0.01)
            events[step + "_at"] = time.time()
            if step == "kill":
                proc = cluster.nodes[0].proc
                assert proc is not None
                proc.send_signal(signal.SIGKILL)
                await asyncio.to_thread(proc.wait)
                events["killed_at"] = time.time()
            elif step == "restart_killed":
                await asyncio.to_thread(cluster.restart, 0)
            elif step == "stop":
                await asyncio.to_thread(cluster.nodes[1].stop)
                events["stopped_done_at"] = time.time()
                await asyncio.to_thread(cluster.restart, 1)
            elif step == "burst":
                events["burst"] = await _burst(url, limited, 2 * cfg.rate_limit)
            elif step == "budget":
                events["budget_flood"] = await _budget_flood(url, budgeted, 3 * cfg.budget_calls)
        events["conductor_done"] = True

    started = time.monotonic()
    await asyncio.gather(conductor(), *(worker() for _ in range(cfg.connections)))
    events["seconds"] = time.monotonic() - started
    return outcomes


def _wait_batch(url: str, key: str, batch_id: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {key}"}, timeout=30) as c:
        while True:
            b = c.get(f"/v1/batches/{batch_id}").json()
            if b["status"] in ("completed", "failed", "expired", "cancelled") or time.monotonic() > deadline:
                if b.get("output_file_id"):
                    b["_output"] = [
                        json.loads(x)
                        for x in c.get(f"/v1/files/{b['output_file_id']}/content").content.splitlines()
                        if x.strip()
                    ]
                return dict(b)
            time.sleep(0.5)


async def _trickle(url: str, key: str, n: int, seconds: float) -> list[Outcome]:
    """Requests spread over ``seconds`` (the Redis outage), retried like the load's."""
    outcomes = [Outcome() for _ in range(n)]
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:

        async def one(i: int) -> None:
            await asyncio.sleep(seconds * i / n)
            await one_request(client, key, _body(i), outcomes[i], max_attempts=3)

        await asyncio.gather(*(one(i) for i in range(n)))
    return outcomes


def run(cfg: Config) -> Report:
    report = Report()
    root = cfg.workdir or Path(tempfile.mkdtemp(prefix="meshapi-scale-"))
    cluster = Cluster(root, cfg)
    try:
        cluster.start()
        assert cluster.nginx is not None
        url = cluster.nginx.url
        owner_keys, limited, batch_key, budgeted = _setup_keys(url, cfg)
        batch_id = _start_batch(url, batch_key, cfg.batch_lines)
        events: dict[str, Any] = {}
        outcomes = asyncio.run(_load(cluster, cfg, list(owner_keys.values()), limited, budgeted, events))
        _check_load(report, cfg, cluster, outcomes, events, list(owner_keys))
        _check_budget(report, cfg, cluster, events["budget_flood"])
        _check_batch(report, cfg, cluster, _wait_batch(url, batch_key, batch_id))
        _redis_outage(report, cfg, cluster, list(owner_keys.values())[0], list(owner_keys))
    finally:
        if not cfg.keep:
            cluster.stop()
            shutil.rmtree(root, ignore_errors=True)
    return report


def _check_load(
    report: Report, cfg: Config, cluster: Cluster, outcomes: list[Outcome], events: dict[str, Any], owners: list[str]
) -> None:
    assert cluster.nginx is not None
    report.seconds = round(events["seconds"], 1)
    report.requests_per_second = round(cfg.requests / events["seconds"], 1)
    report.answered = sum(1 for o in outcomes if o.status == 200)
    report.retried_requests = sum(1 for o in outcomes if o.attempts > 1)
    report.replayed_answers = sum(1 for o in outcomes if o.replayed)
    report.check(
        report.answered == cfg.requests,
        f"{cfg.requests - report.answered} requests got no answer: "
        f"{[(o.status, o.failures) for o in outcomes if o.status != 200][:5]}",
    )

    # Failed attempts, as nginx saw them: each must have gone to the killed node (while it died, or on a
    # connection kept alive from before).
    killed = f"127.0.0.1:{cluster.nodes[0].port}"
    failed = [row for row in cluster.nginx.log() if row["uri"] == "/v1/chat/completions" and row["status"] >= 500]
    report.failed_attempts = len(failed)
    in_flight = [
        row
        for row in failed
        if row["upstream"].split(",")[-1].strip() == killed
        and row["start"] <= events["killed_at"] + 0.05
        and row["end"] >= events["kill_at"] - 0.05
    ]
    report.failed_on_killed_node_in_flight = len(in_flight)
    # After the kill, nginx may still write a request on a connection it kept alive to the dead node,
    # before it has read that connection's close (on a loaded machine, a few hundred ms). It cannot know
    # whether the node got the POST, so it answers 502 instead of passing it on; the client retries with
    # its key. Such a request tried the dead node only: a new connection would have been refused and the
    # request passed to the next node (a row listing more than one node).
    stale = [
        row
        for row in failed
        if row not in in_flight
        and row["upstream"].strip() == killed
        and events["killed_at"] < row["start"] < events["restart_killed_at"]
    ]
    report.failed_on_killed_node_stale_connection = len(stale)
    others = [row for row in failed if row not in in_flight and row not in stale]
    ports = {f"127.0.0.1:{n.port}": f"node{i + 1}" for i, n in enumerate(cluster.nodes)}
    report.check(
        not others,
        f"{len(others)} failed attempts were not in flight on the killed node: "
        f"{[(ports.get(r['upstream'], r['upstream']), r) for r in others[:5]]}; events "
        f"{ {k: v for k, v in events.items() if k.endswith('_at')} }; nginx said: "
        f"{cluster.nginx.errors()[-5:]}",
    )
    report.check(len(in_flight) <= cfg.connections + 1, "more failures than requests could be in flight")
    report.check(len(stale) <= 64, "more failures on kept-alive connections than nginx keeps (keepalive 64)")
    client_failures = sum(len(o.failures) for o in outcomes)
    report.check(
        client_failures <= len(failed) + cfg.connections,
        f"clients saw {client_failures} failed attempts, nginx logged {len(failed)}",
    )

    # The ledger: one row per answered request, its sum what the clients were shown. The restarted
    # node settles the killed one's journal first (bills a retry superseded are dropped): wait for it.
    journal = Path(cluster.nodes[0].settings["data_dir"]) / "ledger-journal"
    deadline = time.monotonic() + 60
    while len(list(journal.glob("*.lock"))) > 1 and time.monotonic() < deadline:
        time.sleep(0.5)
    seen = sum((o.cost for o in outcomes if o.cost is not None), Decimal(0))
    rows = [r for owner in owners for r in ledger(cluster.database_url, owner)]
    report.ledger_rows = len(rows)
    total = sum((Decimal(r.cost_usd) for r in rows), Decimal(0))
    report.ledger_usd, report.seen_usd = str(total), str(seen)
    report.check(len(rows) == report.answered, f"{len(rows)} ledger rows for {report.answered} answers")
    report.check(total == seen, f"ledger {total} USD, clients were shown {seen} USD")

    burst = events.get("burst", [])
    report.rate_limit_admitted = burst.count(200)
    report.rate_limit_refused = burst.count(429)
    report.check(
        report.rate_limit_admitted == cfg.rate_limit and report.rate_limit_refused == cfg.rate_limit,
        f"rate limit {cfg.rate_limit}/min admitted {report.rate_limit_admitted} of {len(burst)}",
    )


def _check_budget(report: Report, cfg: Config, cluster: Cluster, flood: list[tuple[int, Decimal | None]]) -> None:
    assert cluster.nginx is not None
    statuses = [status for status, _ in flood]
    report.budget_admitted = statuses.count(200)
    report.budget_refused = statuses.count(402)
    report.check(
        report.budget_admitted == cfg.budget_calls and report.budget_refused == 2 * cfg.budget_calls,
        f"a budget of {cfg.budget_calls} calls admitted {report.budget_admitted} of {len(flood)} "
        f"and refused {report.budget_refused} (statuses {sorted(set(statuses))})",
    )
    # Only the flood is refused with 402: the nodes that refused it show the budget is shared, not per node.
    refusing = {row["upstream"] for row in cluster.nginx.log() if row["status"] == 402}
    report.budget_refused_by_nodes = len(refusing)
    report.check(len(refusing) > 1, f"the budget's refusals came from {len(refusing)} node(s): {refusing}")
    rows = ledger(cluster.database_url, "scale-budget")
    deadline = time.monotonic() + 10  # bills are written behind the answers: give the last ones a moment
    while len(rows) < report.budget_admitted and time.monotonic() < deadline:
        time.sleep(0.2)
        rows = ledger(cluster.database_url, "scale-budget")
    seen = sum((cost for _, cost in flood if cost is not None), Decimal(0))
    total = sum((Decimal(r.cost_usd) for r in rows), Decimal(0))
    report.budget_ledger_rows = len(rows)
    report.budget_ledger_usd, report.budget_seen_usd = str(total), str(seen)
    report.check(len(rows) == cfg.budget_calls, f"{len(rows)} bills for a budget of {cfg.budget_calls} calls")
    report.check(
        total == seen == cfg.budget_calls * METERED_CALL_USD,
        f"budgeted key: ledger {total} USD, shown {seen} USD, budget {cfg.budget_calls * METERED_CALL_USD} USD",
    )


def _check_batch(report: Report, cfg: Config, cluster: Cluster, batch: dict[str, Any]) -> None:
    output = batch.get("_output", [])
    ids = [line["custom_id"] for line in output]
    report.batch_items = len(ids)
    report.check(batch["status"] == "completed", f"batch ended {batch['status']}: {batch.get('request_counts')}")
    report.check(
        sorted(ids) == [f"item-{i:05d}" for i in range(cfg.batch_lines)],
        f"batch output: {len(ids)} lines, {len(set(ids))} distinct custom_ids of {cfg.batch_lines}",
    )
    report.check(all(line["response"]["status_code"] == 200 for line in output), "a batch item failed")
    billed = ledger(cluster.database_url, "scale-batch")
    report.check(
        len(billed) == cfg.batch_lines and len({r.request_id for r in billed}) == cfg.batch_lines,
        f"batch billed {len(billed)} rows for {cfg.batch_lines} items",
    )


def _ready_statuses(cluster: Cluster) -> list[int]:
    out = []
    for node in cluster.nodes:
        try:
            out.append(httpx.get(node.url + "/ready", timeout=5).status_code)
        except httpx.HTTPError:
            out.append(0)
    return out


def _redis_outage(report: Report, cfg: Config, cluster: Cluster, key: str, owners: list[str]) -> None:
    """Redis stops for ``redis_outage`` seconds under a trickle of requests, then comes back empty."""
    assert cluster.nginx is not None
    url = cluster.nginx.url
    before_rows = sum(len(ledger(cluster.database_url, o)) for o in owners)
    cluster.redis.halt()
    halted = time.monotonic()
    outcomes = asyncio.run(_trickle(url, key, cfg.outage_requests, cfg.redis_outage * 0.8))
    report.redis_down_ready = _ready_statuses(cluster)
    time.sleep(max(0.0, cfg.redis_outage - (time.monotonic() - halted)))
    cluster.redis.start()
    back = time.monotonic()
    while _ready_statuses(cluster) != [200, 200, 200] and time.monotonic() - back < 60:
        time.sleep(0.2)
    report.redis_back_seconds = round(time.monotonic() - back, 1)
    report.redis_down_served = sum(1 for o in outcomes if o.status == 200)
    report.redis_down_failed = len(outcomes) - report.redis_down_served
    report.check(
        report.redis_down_served == len(outcomes),
        f"with Redis down {report.redis_down_failed} of {len(outcomes)} requests failed",
    )
    report.check(
        report.redis_down_ready == [503, 503, 503],
        f"/ready with Redis down: {report.redis_down_ready} (documented: 503 on every node)",
    )
    report.check(_ready_statuses(cluster) == [200, 200, 200], "nodes not ready 60 s after Redis came back")
    seen = sum((o.cost for o in outcomes if o.cost is not None), Decimal(0))
    after = [r for o in owners for r in ledger(cluster.database_url, o)]
    report.check(
        len(after) - before_rows == report.redis_down_served,
        f"{len(after) - before_rows} ledger rows for {report.redis_down_served} answers with Redis down",
    )
    report.check(
        sum((Decimal(r.cost_usd) for r in after), Decimal(0)) == Decimal(report.ledger_usd) + seen,
        "the ledger does not match the costs shown during the Redis outage",
    )
    # Limits hold again without any restart: a new limited key admits exactly its limit.
    with _admin(url) as admin:
        r = admin.post("/v1/keys", json={"owner": "scale-after", "name": "after", "rpm": 5})
        fresh = r.json()["key"]
    time.sleep(1.5)
    statuses = asyncio.run(_burst(url, fresh, 10))
    report.rate_limit_after_redis = statuses.count(200)
    report.check(
        statuses.count(200) == 5 and statuses.count(429) == 5,
        f"after Redis came back, a 5/min key admitted {statuses.count(200)} of 10",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=Config.requests)
    parser.add_argument("--connections", type=int, default=Config.connections)
    parser.add_argument("--batch-lines", type=int, default=Config.batch_lines)
    parser.add_argument("--redis-outage", type=float, default=Config.redis_outage)
    parser.add_argument("--keep", action="store_true", help="leave everything running and the folder in place")
    args = parser.parse_args()
    report = run(
        Config(
            requests=args.requests,
            connections=args.connections,
            batch_lines=args.batch_lines,
            redis_outage=args.redis_outage,
            keep=args.keep,
        )
    )
    print(json.dumps(report.__dict__, indent=2, default=str))
    return 1 if report.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
