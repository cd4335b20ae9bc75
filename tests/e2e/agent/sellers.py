"""Scripted sellers on loopback for tests: hostile 402s, failing answers, counted hits.

These stand in for arbitrary third-party APIs on the internet (outside the
product); the real seller in these tests is the mock premium API.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

Handler = Callable[[Request], Response]


@dataclass
class Seller:
    url: str
    hits: list[str] = field(default_factory=list)
    handler: Handler | None = None


@contextmanager
def scripted_seller(handler: Handler) -> Iterator[Seller]:
    seller = Seller(url="", handler=handler)

    @Request.application
    def app(request: Request) -> Response:
        seller.hits.append(request.path)
        assert seller.handler is not None
        return seller.handler(request)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    seller.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield seller
    finally:
        server.shutdown()
        thread.join(5)


def answer_402(document: Any, *, as_header: bool = True, raw: bytes | None = None) -> Response:
    """A 402 carrying ``document`` (v2 header) or ``raw`` bytes as the header value."""
    headers = {}
    body = json.dumps(document) if not isinstance(document, bytes) else document
    if as_header:
        value = (
            raw
            if raw is not None
            else base64.b64encode(body.encode() if isinstance(body, str) else body)
        )
        headers["PAYMENT-REQUIRED"] = value.decode("latin-1")
    return Response(body, status=402, headers=headers, content_type="application/json")


@dataclass
class Connection:
    """What a raw seller saw of one connection: bytes it managed to send, for how long."""

    sent: int = 0
    seconds: float = 0.0
    client_hung_up: bool = False


@dataclass
class RawSeller:
    url: str
    connections: list[Connection] = field(default_factory=list)


Script = Callable[[Any, Connection], None]


def _serve_one(sock: Any, script: Script, seen: Connection) -> None:
    import time

    started = time.monotonic()
    try:
        sock.recv(65536)  # the request head (the agent sends a bodiless GET)
        script(sock, seen)
    except OSError:  # reset or broken pipe: the client hung up
        seen.client_hung_up = True
    finally:
        seen.seconds = time.monotonic() - started
        sock.close()


@contextmanager
def raw_seller(script: Script) -> Iterator[RawSeller]:
    """A seller speaking raw HTTP/1.1 over a socket: ``script(sock, connection)`` answers.

    It stands in for a hostile server on the internet that a WSGI server could
    not imitate: endless chunked or close-delimited bodies, trickled bytes.
    """
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    seller = RawSeller(url=f"http://127.0.0.1:{listener.getsockname()[1]}")
    stop = threading.Event()
    workers: list[threading.Thread] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            seen = Connection()
            seller.connections.append(seen)
            worker = threading.Thread(target=_serve_one, args=(sock, script, seen), daemon=True)
            workers.append(worker)
            worker.start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield seller
    finally:
        stop.set()
        thread.join(5)
        listener.close()
        for worker in workers:
            worker.join(60)


def endless_body(framing: str, total: int, chunk: int = 64 * 1024) -> Script:
    """Answer 200 with ``total`` bytes of body framed by ``framing``.

    ``chunked``: Transfer-Encoding chunked; ``close``: no length, ended by closing;
    ``length``: an honest Content-Length.
    """
    head = {
        "chunked": b"Transfer-Encoding: chunked\r\n",
        "close": b"Connection: close\r\n",
        "length": f"Content-Length: {total}\r\n".encode(),
    }[framing]

    def script(sock: Any, seen: Connection) -> None:
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + head + b"\r\n")
        block = b"7" * chunk
        frame = f"{chunk:x}\r\n".encode() + block + b"\r\n" if framing == "chunked" else block
        while seen.sent < total:
            sock.sendall(frame)
            seen.sent += chunk
        if framing == "chunked":
            sock.sendall(b"0\r\n\r\n")

    return script


def trickle(where: str, every_s: float, for_s: float) -> Script:
    """Send one byte every ``every_s`` seconds for ``for_s`` seconds, in the headers or body."""
    import time

    def script(sock: Any, seen: Connection) -> None:
        if where == "body":
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        else:
            sock.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        ends = time.monotonic() + for_s
        while time.monotonic() < ends:
            sock.sendall(b"a")
            seen.sent += 1
            time.sleep(every_s)

    return script


def small_json(sock: Any, seen: Connection) -> None:
    """A well-behaved free answer."""
    body = b'{"ok": true}'
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
    sock.sendall(f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    seen.sent = len(body)
