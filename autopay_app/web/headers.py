"""Security headers on every response of the dashboard and the JSON API.

The Content-Security-Policy allows scripts, styles, images and connections from
this origin only: no inline script, no inline style, no ``eval`` (htmx's own
indicator styles are turned off by its ``htmx-config`` meta tag and live in
``app.css``), no framing (``frame-ancestors 'none'`` and ``X-Frame-Options``),
forms post only here. Responses other than static assets carry ledger data or
a CSRF token and are never stored by a cache (``Cache-Control: no-store``).
"""

from __future__ import annotations

from flask import Flask, Response, request

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
STATIC_ENDPOINTS = frozenset({"web.static", "static"})


def security_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint not in STATIC_ENDPOINTS:
        response.headers["Cache-Control"] = "no-store"
    return response


def init_headers(app: Flask) -> None:
    app.after_request(security_headers)
