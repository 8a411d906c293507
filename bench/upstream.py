"""The mock upstream: nginx answering chat completions from config, so it costs microseconds."""

from __future__ import annotations

import os
import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path

import fixtures
from procs import Proc, free_ports, wait_port

# Streaming is chosen by port, not by the request body (nginx cannot branch on
# the body without a module): every target maps the model `mock-stream` to the
# stream port and `mock` to the chat port, and forwards `stream: true` as usual.


@dataclass
class Upstream:
    chat_port: int
    stream_port: int
    stream200_port: int
    proc: Proc

    def url(self, port: int) -> str:
        return f"http://127.0.0.1:{port}/v1"

    @property
    def chat_url(self) -> str:
        return self.url(self.chat_port)

    @property
    def stream_url(self) -> str:
        return self.url(self.stream_port)

    @property
    def stream200_url(self) -> str:
        return self.url(self.stream200_port)

    def stop(self) -> None:
        self.proc.stop()


def _server(port: int, content_type: str, body_file: Path) -> str:
    # nginx's `return` cannot carry a 50 kB body and its static handler refuses
    # POST, so the POST is answered 405 and error_page turns that into an
    # internal GET of the body file with status 200.
    return f"""
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location = /v1/chat/completions {{
            error_page 405 =200 /_body;
            return 405;
        }}
        location = /_body {{
            internal;
            alias {body_file};
            default_type {content_type};
            add_header Cache-Control no-cache;
        }}
        location / {{ return 404; }}
    }}"""


def start(work: Path, workers: int = 1) -> Upstream:
    """Run nginx in the foreground under `work`, on three free loopback ports."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    prefix = work / "nginx"
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    chat, stream, stream200 = free_ports(3)
    bodies = prefix / "bodies"
    bodies.mkdir(exist_ok=True)
    files = {
        "chat": (bodies / "chat.json", fixtures.completion_body()),
        "stream": (bodies / "stream12.sse", fixtures.sse_body(12)),
        "stream200": (bodies / "stream200.sse", fixtures.sse_body(200)),
    }
    for path, text in files.values():
        path.write_text(text)
    user = ""
    if os.geteuid() == 0:
        # Root's nginx would drop workers to `nobody`; stay as the caller.
        name = pwd.getpwuid(os.geteuid()).pw_name
        user = f"user {name};"
    conf = f"""
{user}
worker_processes {workers};
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 4096; multi_accept on; }}
http {{
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    client_body_temp_path {prefix}/tmp_body;
    proxy_temp_path {prefix}/tmp_proxy;
    fastcgi_temp_path {prefix}/tmp_fastcgi;
    uwsgi_temp_path {prefix}/tmp_uwsgi;
    scgi_temp_path {prefix}/tmp_scgi;
    client_body_buffer_size 64k;
    sendfile on;
    etag off;
    if_modified_since off;
    max_ranges 0;
    tcp_nopush off;
    tcp_nodelay on;
    {_server(chat, "application/json", files["chat"][0])}
    {_server(stream, "text/event-stream", files["stream"][0])}
    {_server(stream200, "text/event-stream", files["stream200"][0])}
}}
"""
    conf_path = prefix / "nginx.conf"
    conf_path.write_text(conf)
    proc = Proc("nginx", [nginx, "-p", str(prefix), "-c", str(conf_path)], work / "logs")
    for port in (chat, stream, stream200):
        wait_port(port, proc, timeout=15)
    return Upstream(chat, stream, stream200, proc)
