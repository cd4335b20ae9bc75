"""``/login`` and ``/logout``: one administrator, a rate-limited password form."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, session, url_for

from autopay_app.web import security

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    configured = security.admin_password() is not None
    if request.method == "GET":
        return render_template("auth/login.html", configured=configured)
    with security.limiter().limit(security.LOGIN_LIMIT, scope="login"):
        if security.check_password(request.form.get("password", "")):
            session.clear()
            session["admin"] = True
            session.permanent = True
            return redirect(
                security.safe_next(request.form.get("next"), url_for("dashboard.overview"))
            )
    flash("Wrong password." if configured else "No admin password is configured.", "error")
    return render_template("auth/login.html", configured=configured), 401


@bp.post("/logout")
def logout() -> Any:
    session.clear()
    return redirect(url_for("auth.login"))
