"""The agent's JSON-RPC transport: answers parsed once, every failure classified."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from autopay_app.agent import jsonrpc
from autopay_app.agent.errors import NetworkFailure, RateLimited, RpcTimeout
from autopay_app.agent.jsonrpc import JsonRpc

#: What the test server answers, by JSON-RPC method: (status, body, delay in seconds).
ANSWERS: dict[str, tuple[int, bytes, float]] = {
    "ok": (200, json.dumps({"jsonrpc": "2.0", "id": 1, "result": {"value": 7}}).encode(), 0),
    "error": (200, b'{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"no"}}', 0),
    "limited": (429, b"slow down", 0),
    "broken": (502, b"bad gateway", 0),
    "garbage": (200, b"<html>", 0),
    "slow": (200, b'{"jsonrpc":"2.0","id":1,"result":1}', 1.0),
}


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        asked = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        status, body, delay = ANSWERS[asked["method"]]
        threading.Event().wait(delay)
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the timed-out client hung up before the slow answer: expected


def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture
def url() -> Iterator[str]:
    yield from _serve(_Handler)


def test_a_result_is_returned_as_json(url: str) -> None:
    rpc = JsonRpc(url)
    assert [rpc.call("ok", []) for _ in range(3)] == [{"value": 7}] * 3  # one kept connection
    rpc.close()


@pytest.mark.parametrize(
    ("method", "error", "words"),
    [
        ("error", NetworkFailure, "RPC error"),
        ("limited", RateLimited, "429"),
        ("broken", NetworkFailure, "HTTP 502"),
        ("garbage", NetworkFailure, "not JSON"),
    ],
)
def test_a_bad_answer_is_a_classified_failure(
    url: str, method: str, error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        JsonRpc(url).call(method, [])


def test_a_slow_node_is_a_timeout_and_a_closed_port_is_unreachable(url: str) -> None:
    with pytest.raises(RpcTimeout):
        JsonRpc(url, timeout=0.2).call("slow", [])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(NetworkFailure, match="unreachable"):
        JsonRpc(f"http://127.0.0.1:{port}/", timeout=0.5).call("ok", [])


class _KeepAliveHandler(_Handler):
    """HTTP/1.1: the connection stays open between answers (the harness's way); the
    method ``hang-up`` answers, then closes the connection without saying so."""

    protocol_version = "HTTP/1.1"
    peers: list[object] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.peers.append(self.client_address)
        asked = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body = ANSWERS["ok"][1]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        if asked["method"] == "hang-up":
            self.close_connection = True


@pytest.fixture
def keep_alive_url() -> Iterator[str]:
    _KeepAliveHandler.peers = []
    yield from _serve(_KeepAliveHandler)


def test_a_thread_keeps_its_connection_and_replaces_one_the_server_closed(
    keep_alive_url: str,
) -> None:
    rpc = JsonRpc(keep_alive_url)
    assert [rpc.call("ok", []) for _ in range(3)] == [{"value": 7}] * 3
    assert len(set(_KeepAliveHandler.peers)) == 1  # one connection for the three calls
    assert rpc.call("hang-up", []) == {"value": 7}
    threading.Event().wait(0.05)  # the server's close reaches the client
    assert rpc.call("ok", []) == {"value": 7}  # not a failure: a new connection
    assert len(set(_KeepAliveHandler.peers)) == 2
    rpc.close()
    assert rpc.call("ok", []) == {"value": 7}  # usable after close, as urllib3's pool is
    rpc.close()


def test_threads_call_in_parallel_each_on_its_own_connection(keep_alive_url: str) -> None:
    rpc = JsonRpc(keep_alive_url)
    results: list[object] = []

    def calls() -> None:
        results.extend(rpc.call("ok", []) for _ in range(5))

    threads = [threading.Thread(target=calls) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [{"value": 7}] * 20
    assert len(set(_KeepAliveHandler.peers)) == 4
    rpc.close()


@pytest.mark.parametrize(
    ("url", "env", "direct"),
    [
        ("http://127.0.0.1:8899/", {}, True),
        ("https://api.devnet.solana.com/", {}, False),
        ("http://node.example:8899/", {"HTTP_PROXY": "http://proxy.example:3128"}, False),
        (
            "http://127.0.0.1:8899/",
            {"HTTP_PROXY": "http://proxy.example:3128", "NO_PROXY": "127.0.0.1"},
            True,
        ),
    ],
)
def test_only_a_plain_unproxied_http_url_goes_direct(
    monkeypatch: pytest.MonkeyPatch, url: str, env: dict[str, str], direct: bool
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    transport = jsonrpc._transport(url, 1.0, 2)
    assert isinstance(transport, jsonrpc._Direct) is direct
    transport.close()
