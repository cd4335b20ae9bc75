"""The facilitator's keep-alive HTTP client: one connection reused, a closed one replaced,
failures as httpx's exceptions (what the seller maps to 503)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from mock_premium_api.keepalive import KeepAliveClient


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/hang":
            time.sleep(1.0)
        answer = json.dumps({"got": json.loads(body), "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
        if self.path == "/once":
            self.close_connection = True  # hang up once answered, without saying so


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    connections = 0


@pytest.fixture
def server() -> Iterator[_Server]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _url(server: _Server, path: str) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}{path}"


def test_one_connection_carries_every_request(server: _Server) -> None:
    client = KeepAliveClient(timeout=5)
    for n in range(5):
        answer = client.post(_url(server, "/settle"), json={"n": n})
        assert answer.status_code == 200
        assert answer.json() == {"got": {"n": n}, "path": "/settle"}
        assert answer.headers["content-type"] == "application/json"
    assert server.connections == 1
    client.close()


def test_a_connection_the_peer_closed_is_replaced(server: _Server) -> None:
    client = KeepAliveClient(timeout=5)
    assert client.post(_url(server, "/once"), json={}).status_code == 200
    time.sleep(0.1)
    assert client.post(_url(server, "/settle"), json={"n": 2}).json()["got"] == {"n": 2}
    assert server.connections == 2
    client.close()


def test_failures_are_httpx_exceptions(server: _Server) -> None:
    with pytest.raises(httpx.ReadTimeout):
        KeepAliveClient(timeout=0.2).post(_url(server, "/hang"), json={})
    with pytest.raises(httpx.ConnectError):
        KeepAliveClient(timeout=1).get("http://127.0.0.1:9/supported")


def test_only_a_plain_http_facilitator_without_a_proxy_gets_it(monkeypatch) -> None:
    from mock_premium_api import keepalive
    from mock_premium_api.x402_setup import GuardedFacilitatorClient

    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert keepalive.suits("http://127.0.0.1:8403")
    assert not keepalive.suits("https://facilitator.example.com")
    monkeypatch.setenv("http_proxy", "http://proxy.example.com:3128")
    assert not keepalive.suits("http://facilitator.example.com:8403")
    monkeypatch.setenv("no_proxy", "facilitator.example.com")
    assert keepalive.suits("http://facilitator.example.com:8403")
    monkeypatch.delenv("http_proxy")
    rpc = object()
    local = GuardedFacilitatorClient("http://127.0.0.1:9", 1.0, rpc)  # type: ignore[arg-type]
    public = GuardedFacilitatorClient("https://facilitator.example.com", 1.0, rpc)  # type: ignore[arg-type]
    assert local.keeps_alive and not public.keeps_alive
    local.close()
    public.close()
