"""The dashboard and the JSON API: the ledger in the browser.

Design:

* ``auth`` (``/login``, ``/logout``), ``dashboard`` (``/``, ``/requests``,
  ``/payments``, ``/audit``, ``/interactive``, ``/autonomy``, ``/export``) and ``api``
  (``/api/v1/...``, documented at ``/api/v1/openapi.json``) are blueprints
  registered by :func:`register_blueprints`.
* Views are thin: they parse the query string (:mod:`.params`,
  :mod:`.filters`), call the ledger (:mod:`autopay_app.ledger.dashboard`,
  :mod:`~autopay_app.ledger.overview`, :mod:`~autopay_app.ledger.export`,
  :mod:`~autopay_app.ledger.monitoring` through :mod:`.autonomy`) or the
  agent's interactive service, and render a Jinja template or a JSON body
  (:mod:`.serialize`).
* Templates live in ``web/templates`` (the Phase 3 panel partial
  ``phase3_panel.html`` is built by :mod:`.phase3_panel`).
* Security (:mod:`.security`): one admin password, HttpOnly SameSite session
  cookies, CSRF on every state-changing form and cookie-authenticated API
  call, a rate-limited login, a bearer token for the API.
* Live updates poll small HTML fragments with htmx; the spend chart is
  Chart.js. Both are vendored under ``static/vendor`` with their licences; no
  build step, no CDN.
* Interactive mode (:mod:`.approvals`) calls the app's agents
  (:mod:`autopay_app.agent.runtime`), imported lazily so the rest of the
  dashboard works without the agent.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, jsonify, render_template, request
from flask.json.provider import DefaultJSONProvider
from flask_limiter.errors import RateLimitExceeded
from werkzeug.exceptions import HTTPException

from autopay_app.web.context import init_context
from autopay_app.web.params import BadParameter
from autopay_app.web.security import init_security

EXPLORER = "https://explorer.solana.com/tx/{signature}?cluster=devnet"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")

#: Carries the templates and the static files (``url_for("web.static", ...)``). Served
#: under /assets: the app's own /static rule (Flask's default, for a folder autopay_app
#: does not have) would shadow a blueprint's /static and answer 404.
assets = Blueprint(
    "web", __name__, template_folder="templates", static_folder="static", static_url_path="/assets"
)


def register_blueprints(app: Flask) -> None:
    """Security, the per-request session, the three blueprints and the error pages."""
    from autopay_app.web.api import bp as api_bp
    from autopay_app.web.auth import bp as auth_bp
    from autopay_app.web.dashboard import bp as dashboard_bp

    app.json = BoundedJSON(app)
    init_security(app)
    init_context(app)
    app.before_request(refuse_nul_bytes)
    app.register_blueprint(assets)
    app.register_blueprint(auth_bp)
    app.register_blueprint(dashboard_bp)
    app.register_blueprint(api_bp)
    app.register_error_handler(HTTPException, _http_error)
    app.jinja_env.filters["pretty"] = pretty_json
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["atomic"] = atomic
    app.jinja_env.globals.update(explorer_url=explorer_url, harness_tx_url=harness_tx_url)


class BoundedJSON(DefaultJSONProvider):
    """Flask's JSON, but a body nested past the recursion limit is bad JSON (a 400), not a 500."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


def refuse_nul_bytes() -> None:
    """A NUL in a query parameter or form field is a 400 naming it (PostgreSQL refuses NUL
    in text, so it would otherwise fail deep inside a query)."""
    for source in (request.args, request.form):
        for name, value in source.items(multi=True):
            if "\x00" in name or "\x00" in value:
                raise BadParameter(name.replace("\x00", "\\0")[:40], "contains a NUL character")


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def money(value: Decimal | None) -> str:
    """A token amount without trailing zeros ("0.025"), or a dash."""
    if value is None:
        return "—"
    text = format(Decimal(value).normalize(), "f")
    return text


def atomic(value: Any, decimals: int = 6) -> str:
    """Atomic units of a 6-decimal token (USDC, CASH) as a token amount."""
    try:
        return money(Decimal(str(value)).scaleb(-decimals))
    except (ArithmeticError, ValueError, TypeError):
        return "—"


def explorer_url(signature: str) -> str:
    return EXPLORER.format(signature=signature)


def harness_tx_url(signature: str) -> str | None:
    """The local harness's view of the transaction, when the RPC is the local harness."""
    rpc = current_app.config["AUTOPAY_SETTINGS"].solana_rpc_url
    if urlsplit(rpc).hostname not in LOCAL_HOSTS:
        return None
    return f"{rpc.rstrip('/')}/_harness/tx/{signature}"


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/wallet/"))


def _http_error(exc: HTTPException) -> Any:
    """JSON bodies under /api/, a small page elsewhere; never a traceback."""
    code = exc.code or 500
    message = exc.description or exc.name
    if isinstance(exc, RateLimitExceeded):
        message = f"too many attempts: {exc.description}; try again later"
    if wants_json():
        response = jsonify(error={"status": code, "name": exc.name, "message": message})
    else:
        response = current_app.make_response(
            (render_template("error.html", code=code, name=exc.name, message=message), code)
        )
    response.status_code = code
    for key, value in exc.get_headers():
        if key.lower() not in ("content-type", "content-length"):
            response.headers[key] = value
    return response
