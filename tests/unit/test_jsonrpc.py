"""The agent's JSON-RPC transport: answers parsed once, every failure classified."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

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


@pytest.fixture
def url() -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


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
