"""Serving the MCP server: stdio (the default) or streamable HTTP behind a bearer token.

Over HTTP every request must carry ``Authorization: Bearer <token>``, the JSON
API's token (AUTOPAY_API_TOKEN, or the one kept in ``AUTOPAY_HOME/api.token``,
generated there if there is none yet): without it the answer is 401 and the
MCP server never sees the request.
"""

from __future__ import annotations

import hmac
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mcp.server.mcpserver import MCPServer

Scope = dict[str, Any]
PATH = "/mcp"


class BearerGuard:
    """ASGI middleware: HTTP requests without the bearer token get 401 (JSON body)."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not self._authorized(scope):
            body = json.dumps(
                {
                    "error": {
                        "status": 401,
                        "message": "send 'Authorization: Bearer <token>' (AUTOPAY_API_TOKEN, "
                        "or the token in AUTOPAY_HOME/api.token)",
                    }
                }
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"www-authenticate", b'Bearer realm="autopay"'),
                        (b"cache-control", b"no-store"),
                        (b"x-content-type-options", b"nosniff"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", []):
            if name.lower() == b"authorization":
                return hmac.compare_digest(value.strip(), self.expected)
        return False


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


def serve_http(server: MCPServer, host: str, port: int, token: str) -> None:
    """Streamable HTTP at ``http://host:port/mcp``, behind ``token``; until interrupted."""
    import uvicorn

    app = BearerGuard(server.streamable_http_app(host=host), token)
    print(f"autopay mcp: serving http://{host}:{port}{PATH} (bearer token)", file=sys.stderr)
    uvicorn.run(app, host=host, port=port, log_level="warning", lifespan="on")
