"""The agent's HTTP client: one urllib3 pool per origin, the environment read as requests reads it.

A real loopback server stands in for a seller (and for a proxy, which sees the
request in absolute form); nothing is mocked.
"""

from __future__ import annotations

import base64
import gzip
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from autopay_app.agent.errors import NetworkFailure, ResponseTooLarge, SellerTimeout
from autopay_app.agent.http import Http


@dataclass
class Seen:
    lines: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    peers: list[int] = field(default_factory=list)


@pytest.fixture
def server() -> Iterator[tuple[str, Seen]]:
    seen = Seen()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            seen.lines.append(self.requestline)
            seen.headers.append(dict(self.headers))
            seen.peers.append(self.client_address[1])
            body = b'{"ok": true, "pad": "' + b"x" * 2000 + b'"}'
            gzipped = "gzip" in self.headers.get("Accept-Encoding", "") and "/gz" in self.path
            if gzipped:
                body = gzip.compress(body)
            self.send_response(402 if "/pay" in self.path else 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Twice", "a")  # a header given twice
            self.send_header("X-Twice", "b")
            if gzipped:
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))


def test_get_answers_with_status_headers_and_body_over_one_kept_alive_connection(
    server: tuple[str, Seen],
) -> None:
    base, seen = server
    http = Http(5)
    try:
        first = http.get(base + "/pay/x?city=Paris&n=1", {"X-PAYMENT": "abc"})
        second = http.get(base + "/data")
    finally:
        http.close()
    assert first.status == 402 and second.status == 200
    assert first.json_or_text()["ok"] is True
    assert first.headers["X-Twice"] == "a, b"  # repeated headers joined, as requests did
    assert seen.lines[0] == "GET /pay/x?city=Paris&n=1 HTTP/1.1"
    assert seen.headers[0]["X-PAYMENT"] == "abc"
    assert seen.headers[0]["User-Agent"] == "autopay-agent"
    assert "Authorization" not in seen.headers[0]
    assert seen.peers[0] == seen.peers[1]  # the same connection, kept alive


def test_a_gzip_body_is_decoded(server: tuple[str, Seen]) -> None:
    base, _ = server
    http = Http(5)
    try:
        answer = http.get(base + "/gz")
    finally:
        http.close()
    assert answer.json_or_text()["ok"] is True


def test_a_body_over_the_cap_fails_and_its_connection_is_not_reused(
    server: tuple[str, Seen],
) -> None:
    base, seen = server
    http = Http(5, max_body=1000)
    try:
        with pytest.raises(ResponseTooLarge):
            http.get(base + "/data")
        http.max_body = 100_000
        assert http.get(base + "/data").status == 200
    finally:
        http.close()
    assert seen.peers[0] != seen.peers[1]


def test_the_proxy_of_the_environment_is_used_unless_no_proxy_names_the_host(
    server: tuple[str, Seen], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy, seen = server  # the loopback server plays the proxy: it sees absolute URLs
    monkeypatch.setenv("HTTP_PROXY", proxy)
    http = Http(5)
    try:
        assert http.get("http://seller.invalid:8402/data?x=1").status == 200
    finally:
        http.close()
    assert seen.lines[-1] == "GET http://seller.invalid:8402/data?x=1 HTTP/1.1"

    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    http = Http(5)
    try:
        assert http.get(proxy + "/data").status == 200  # straight to the seller
    finally:
        http.close()
    assert seen.lines[-1] == "GET /data HTTP/1.1"


def test_netrc_credentials_are_sent_unless_the_caller_gives_its_own(
    server: tuple[str, Seen], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    base, seen = server
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login buyer password s3cret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    http = Http(5)
    try:
        http.get(base + "/data")
        http.get(base + "/data", {"authorization": "Bearer mine"})
    finally:
        http.close()
    assert seen.headers[0]["Authorization"] == "Basic " + base64.b64encode(b"buyer:s3cret").decode(
        "ascii"
    )
    sent = [v for k, v in seen.headers[1].items() if k.lower() == "authorization"]
    assert sent == ["Bearer mine"]


def test_a_refused_connection_is_a_network_failure_not_a_timeout() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    http = Http(2)
    try:
        with pytest.raises(NetworkFailure, match="unreachable") as caught:
            http.get(f"http://127.0.0.1:{port}/data")
    finally:
        http.close()
    assert not isinstance(caught.value, SellerTimeout)
