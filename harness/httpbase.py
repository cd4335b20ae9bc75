"""A small, fast HTTP/1.1 server base shared by the RPC and facilitator endpoints.

``ThreadingHTTPServer`` with Nagle off and every response written in one ``sendall``:
Python's handler otherwise writes headers and body separately, and with Nagle and
delayed ACKs each call then costs ~40 ms. Bodies are capped (``MAX_BODY``), and the
handler never lets an exception escape into the server loop.
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)
MAX_BODY = 256 * 1024
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class BodyTooLarge(Exception):
    """The request body is over ``MAX_BODY``."""


class Server(ThreadingHTTPServer):
    """A threading HTTP server carrying a reference to the harness application."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type, app: Any) -> None:
        super().__init__(address, handler)
        self.app = app

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (reset, broken pipe) is routine; anything else is logged."""
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            log.debug("client %s went away", client_address)
            return
        log.exception("error while serving %s", client_address)


class FastHandler(BaseHTTPRequestHandler):
    """Base handler: one write per response, bounded bodies, quiet logs."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s - %s", self.address_string(), format % args)

    def read_body(self) -> bytes:
        """Read the request body, refusing bodies over ``MAX_BODY``."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            raise BodyTooLarge
        return self.rfile.read(length) if length else b""

    def reply(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Send a complete response in one write."""
        lines = [
            f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
        ]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + body)

    def reply_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        """Send a JSON response."""
        self.reply(status, json.dumps(payload).encode(), headers=headers)

    def reply_too_large(self) -> None:
        """Answer 413 and drop the connection without reading the body."""
        self.close_connection = True
        self.reply_json(
            413,
            {
                "jsonrpc": "2.0",
                "id": None,
                "error": {"code": -32600, "message": "Request body too large"},
            },
        )

    def http_fault(self, mode: str | None, hang_s: float) -> None:
        """Carry out an HTTP-level fault: 500, 429, connection reset or hang."""
        if mode == "http_500":
            self.reply_json(500, {"error": "injected fault: internal server error"})
        elif mode == "http_429":
            self.reply_json(
                429, {"error": "injected fault: too many requests"}, {"Retry-After": "1"}
            )
        elif mode == "reset":
            self.reset_connection()
        elif mode == "hang":
            time.sleep(hang_s)
            self.close_connection = True

    def reset_connection(self) -> None:
        """Close the socket with SO_LINGER 0 so the peer sees a connection reset."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
