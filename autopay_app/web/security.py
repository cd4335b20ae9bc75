"""Login, session cookies, CSRF, rate limits and the API token.

The dashboard is for one administrator: the password is AUTOPAY_ADMIN_PASSWORD
(``autopay serve`` and ``autopay demo`` generate and print one when it is
unset). The Flask session key is derived (HKDF, its own label) from the same
key material as the secrets at rest, so neither key reveals the other.

The JSON API takes ``Authorization: Bearer <token>``: AUTOPAY_API_TOKEN
(``Settings.api_token``) when set, otherwise a token derived from the admin password
(:func:`derived_api_token`, printed by ``autopay serve``). A browser that is
logged in may call the API with its session cookie instead; its state-changing
calls then need the CSRF token in the ``X-CSRFToken`` header, exactly as every
dashboard form carries it in a hidden field. A bearer token is not sent by the
browser on its own, so bearer calls need no CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, current_app, request, session
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

from autopay_app.config import Settings
from autopay_app.secrets import load_or_create_key_material

csrf = CSRFProtect()

#: Failed and successful login attempts allowed per client address.
LOGIN_LIMIT = "10 per minute"
_SESSION_INFO = b"autopay-agent flask session v1"
_TOKEN_LABEL = b"autopay-agent api token v1"


def settings() -> Settings:
    return current_app.config["AUTOPAY_SETTINGS"]  # type: ignore[no-any-return]


def session_key(settings: Settings) -> str:
    """The Flask SECRET_KEY: HKDF of the key material under its own label."""
    material = load_or_create_key_material(settings.secret_key, settings.home)
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_SESSION_INFO)
    return hkdf.derive(material.encode()).hex()


def derived_api_token(password: str) -> str:
    """The API token derived from the admin password (HMAC-SHA256, hex, 40 characters)."""
    return hmac.new(password.encode(), _TOKEN_LABEL, hashlib.sha256).hexdigest()[:40]


def admin_password(app: Flask | None = None) -> str | None:
    app = app or current_app
    configured = app.config.get("AUTOPAY_ADMIN_PASSWORD")
    return configured or app.config["AUTOPAY_SETTINGS"].admin_password


def api_token(app: Flask | None = None) -> str | None:
    """The bearer token the API accepts (None when no password or token is configured).

    ``app.config["AUTOPAY_API_TOKEN"]`` (a test override, or ``Settings.api_token``
    copied there by :func:`init_security`) wins; then the settings in force now.
    """
    app = app or current_app
    configured = app.config.get("AUTOPAY_API_TOKEN") or app.config["AUTOPAY_SETTINGS"].api_token
    if configured:
        return str(configured)
    password = admin_password(app)
    return derived_api_token(password) if password else None


def check_password(candidate: str) -> bool:
    expected = admin_password()
    return bool(expected) and hmac.compare_digest(candidate.encode(), expected.encode())


def bearer_ok() -> bool:
    """True when the request carries the API's bearer token."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expected = api_token()
    if scheme.lower() != "bearer" or not expected:
        return False
    return hmac.compare_digest(token.strip().encode(), expected.encode())


def safe_next(target: str | None, default: str) -> str:
    """``target`` when it is a path on this site, else ``default`` (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return default


def logged_in() -> bool:
    return bool(session.get("admin"))


def limiter() -> Limiter:
    return current_app.extensions["autopay_limiter"]  # type: ignore[no-any-return]


def init_security(app: Flask) -> None:
    """Session cookie policy, SECRET_KEY, CSRF and a limiter of the app's own."""
    settings_ = app.config["AUTOPAY_SETTINGS"]
    app.config["SECRET_KEY"] = session_key(settings_)
    app.config.setdefault("AUTOPAY_API_TOKEN", settings_.api_token)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="autopay_session",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
    )
    csrf.init_app(app)
    # One limiter per app: tests build many apps and must not share counters. The
    # storage (AUTOPAY_RATELIMIT_STORAGE_URL) is memory:// by default, which counts per
    # process; several gunicorn workers share limits only through Redis or memcached.
    # If that storage is down, the limits fall back to memory rather than failing logins.
    app.extensions["autopay_limiter"] = Limiter(
        get_remote_address,
        app=app,
        storage_uri=settings_.ratelimit_storage_url,
        default_limits=[],
        headers_enabled=True,
        in_memory_fallback_enabled=True,
    )
