"""The dashboard pages: overview, requests, payments, audit, interactive, autonomy, export.

Every page needs the admin session; state-changing forms carry the CSRF token.
Modules: ``pages`` (the ledger views), ``interactive`` (approve-before-pay and
autonomy levels), ``autonomy`` (the Phase 3 panel and its editing), ``export``
(research downloads).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, request, url_for

from autopay_app.web import security

bp = Blueprint("dashboard", __name__)


@bp.before_request
def require_login() -> Any:
    if not security.logged_in():
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    return None


from autopay_app.web import wallet, wallet_pay, wallet_topup  # noqa: E402, F401
from autopay_app.web.dashboard import autonomy, export, interactive, pages  # noqa: E402, F401
