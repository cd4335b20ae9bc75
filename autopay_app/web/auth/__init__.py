"""``/login`` and ``/logout``: one administrator, a password form slowed after failures."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from autopay_app.web import security
from autopay_app.web.throttle import SlowDown, throttle

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    configured = security.admin_password() is not None
    if request.method == "GET":
        return render_template("auth/login.html", configured=configured)
    guard = throttle(security.LOGIN_ACCOUNT)
    try:
        guard.check()  # before the password is looked at: a guess learns nothing
    except SlowDown as slow:
        flash(f"Too many failed attempts: try again in {slow.retry_after} s.", "error")
        page = render_template("auth/login.html", configured=configured)
        return page, 429, {"Retry-After": str(slow.retry_after)}
    if security.check_password(request.form.get("password", "")):
        guard.succeeded()
        security.log_in()
        return redirect(security.safe_next(request.form.get("next"), url_for("dashboard.overview")))
    guard.failed()
    flash("Wrong password." if configured else "No admin password is configured.", "error")
    return render_template("auth/login.html", configured=configured), 401


@bp.post("/logout")
def logout() -> Any:
    security.log_out()
    return redirect(url_for("auth.login"))
