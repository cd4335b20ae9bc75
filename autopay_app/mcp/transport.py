"""Serving the MCP server: stdio (the default) or streamable HTTP behind a bearer token.

Over HTTP every request must carry ``Authorization: Bearer <token>``, the JSON
API's token (AUTOPAY_API_TOKEN, or the one kept in ``AUTOPAY_HOME/api.token``,
generated there if there is none yet): without it the answer is 401 and the
MCP server never sees the request. Wrong tokens are slowed per client address as
the JSON API slows them (:mod:`autopay_app.web.throttle`: after 10 in 15 minutes,
429 with Retry-After for a doubling delay, the token not even checked meanwhile),
counted in AUTOPAY_RATELIMIT_STORAGE_URL's storage.
"""

from __future__ import annotations

import hmac
import json
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from limits.storage import MemoryStorage, Storage, storage_from_string
from mcp.server.mcpserver import MCPServer

from autopay_app.web.throttle import SlowDown, Throttle

Scope = dict[str, Any]
PATH = "/mcp"
ACCOUNT = "bearer:mcp"
#: On every answer, refusals included: JSON and event streams for a program, never a page.
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


class BearerGuard:
    """ASGI middleware: HTTP requests without the bearer token get 401 (JSON body);
    too many wrong ones from an address get 429 with Retry-After."""

    def __init__(self, app: Any, token: str, storage_url: str = "memory://") -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()
        storage = storage_from_string(storage_url)
        # A synchronous storage (what the URL schemes Autopay documents give).
        self.storage = storage if isinstance(storage, Storage) else MemoryStorage()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_security_headers(send)
        client = scope.get("client") or ("-", 0)
        guard = Throttle(self.storage, ACCOUNT, str(client[0]))
        try:
            guard.check()
        except SlowDown as exc:
            await _refuse(
                send, 429, str(exc.description), [(b"retry-after", str(exc.retry_after).encode())]
            )
            return
        if not self._authorized(scope):
            guard.failed()
            await _refuse(
                send,
                401,
                "send 'Authorization: Bearer <token>' (AUTOPAY_API_TOKEN, "
                "or the token in AUTOPAY_HOME/api.token)",
                [(b"www-authenticate", b'Bearer realm="autopay"')],
            )
            return
        guard.succeeded()
        await self.app(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", []):
            if name.lower() == b"authorization":
                return hmac.compare_digest(value.strip(), self.expected)
        return False


def _with_security_headers(send: Any) -> Any:
    async def secured(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            present = {name.lower() for name, _ in message.get("headers", [])}
            extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return secured


async def _refuse(send: Any, status: int, message: str, headers: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps({"error": {"status": status, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


@contextmanager
def quiet_stdout() -> Iterator[None]:
    """While building the agent, anything written to fd 1 (a child process, a print) goes
    to stderr: on stdio, stdout carries only the protocol."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def serve_stdio(server: MCPServer) -> None:
    server.run("stdio")


def serve_http(
    server: MCPServer, host: str, port: int, token: str, storage_url: str = "memory://"
) -> None:
    """Streamable HTTP at ``http://host:port/mcp``, behind ``token``; until interrupted."""
    import uvicorn

    app = BearerGuard(server.streamable_http_app(host=host), token, storage_url)
    # Bound here, so an address in use is this process's OSError (one line), not
    # uvicorn's log line after "serving" was printed.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError:
        listener.close()
        raise
    print(f"autopay mcp: serving http://{host}:{port}{PATH} (bearer token)", file=sys.stderr)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    uvicorn.Server(config).run(sockets=[listener])
