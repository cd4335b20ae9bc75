"""Security headers on every answer of the mock API, the payment gate's included.

A WSGI layer outside everything else. JSON answers get a policy that allows
nothing at all (``default-src 'none'``); the SDK's browser paywall (HTML with
inline scripts that talk to a Solana RPC) keeps its scripts but cannot be
framed. Every answer: ``nosniff``, ``X-Frame-Options: DENY``, no referrer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

JSON_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
PAGE_POLICY = "frame-ancestors 'none'; base-uri 'none'; object-src 'none'; form-action 'self'"
ALWAYS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
)


class SecurityHeaders:
    """WSGI middleware adding the headers above unless the app set them itself."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            present = {name.lower() for name, _ in headers}
            kind = next((v for k, v in headers if k.lower() == "content-type"), "")
            policy = PAGE_POLICY if "html" in kind else JSON_POLICY
            extra = [*ALWAYS, ("Content-Security-Policy", policy)]
            headers = headers + [(k, v) for k, v in extra if k.lower() not in present]
            return start_response(status, headers, exc_info)

        return self._app(environ, start)


class AsgiSecurityHeaders:
    """The same headers for the ASGI side (the MCP tools' streamable HTTP): JSON and
    event streams only, so the policy that allows nothing."""

    def __init__(self, app: Any) -> None:
        self._app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def secured(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.decode("latin-1").lower() for name, _ in headers}
                extra = [*ALWAYS, ("Content-Security-Policy", JSON_POLICY)]
                headers += [
                    (k.lower().encode(), v.encode()) for k, v in extra if k.lower() not in present
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self._app(scope, receive, secured)
