"""The JSON API under ``/api/v1`` (OpenAPI 3.1 document at ``/api/v1/openapi.json``).

Authentication: ``Authorization: Bearer <token>`` (AUTOPAY_API_TOKEN, or the
token generated into ``AUTOPAY_HOME/api.token`` and printed once by ``autopay
serve``), or the dashboard's session cookie plus the ``X-CSRFToken`` header on
POST. Without either: 401; after many wrong tokens from one address: 429 with
Retry-After. Lists are newest first, ``limit`` (1-200, default 50) and an
opaque ``cursor`` (``next_cursor`` of the previous page). Every error is a JSON
body ``{"error": {"status", "name", "message"}}``.

Modules: ``reads`` (GET endpoints), ``actions`` (quotes, approvals, autonomy),
``monitored`` (the Phase 3 monitored APIs), ``openapi`` (the document).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Unauthorized

from autopay_app.web import security

bp = Blueprint("api", __name__, url_prefix="/api/v1")
security.csrf.exempt(bp)  # checked below, only for cookie-authenticated calls

PUBLIC = {"api.openapi"}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


@bp.before_request
def authenticate() -> Any:
    if request.endpoint in PUBLIC or security.bearer_ok():
        return None
    if security.logged_in():
        if request.method in UNSAFE:
            security.csrf.protect()
        return None
    raise Unauthorized(
        "authentication required: send 'Authorization: Bearer <token>' "
        "(AUTOPAY_API_TOKEN, or the token in AUTOPAY_HOME/api.token) or log in at /login",
        www_authenticate=WWWAuthenticate("Bearer", {"realm": "autopay"}),
    )


from autopay_app.web.api import actions, monitored, openapi, reads  # noqa: E402, F401
