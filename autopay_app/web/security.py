"""Login, server-side sessions, CSRF, slowed guessing, the API token, the Secure cookie.

The dashboard is for one administrator: the password is AUTOPAY_ADMIN_PASSWORD
(``autopay serve`` and ``autopay demo`` generate and print one when it is
unset). The Flask session key is derived (HKDF, its own label) from the same
key material as the secrets at rest, so neither key reveals the other. A login
opens a session kept on the server (:mod:`autopay_app.ledger.admin_sessions`):
the cookie carries only its token, so logout ends it even if the cookie was
copied, and a new password ends every session.

The JSON API takes ``Authorization: Bearer <token>``: AUTOPAY_API_TOKEN, or a
random token generated once into ``AUTOPAY_HOME/api.token`` (0600) and printed
by ``autopay serve`` / ``autopay demo`` when they create it; it is never derived
from the password. A browser that is logged in may call the API with its
session cookie instead; its state-changing calls then need the CSRF token in the
``X-CSRFToken`` header, exactly as every dashboard form carries it in a hidden
field. A bearer token is not sent by the browser on its own, so bearer calls
need no CSRF token.

Wrong passwords and wrong bearer tokens are slowed per client address and
account (:mod:`.throttle`): 429 with Retry-After, never a lockout of the right
secret. The session cookie is HttpOnly, SameSite=Lax, and Secure when the
request came over HTTPS (``request.is_secure``, so a proxy's word counts once
ProxyFix trusts it) or always/never as AUTOPAY_SECURE_COOKIES says.
"""

from __future__ import annotations

import hmac
import re
from datetime import timedelta
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, current_app, g, has_request_context, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

from autopay_app.config import Settings
from autopay_app.ledger import admin_sessions
from autopay_app.secrets import (
    load_or_create_api_token,
    load_or_create_key_material,
    read_api_token,
)
from autopay_app.web.context import ledger_session
from autopay_app.web.headers import init_headers
from autopay_app.web.throttle import throttle

csrf = CSRFProtect()

SESSION_LIFETIME = timedelta(hours=12)
LOGIN_ACCOUNT = "login:admin"
BEARER_ACCOUNT = "bearer:api"
_SESSION_INFO = b"autopay-agent flask session v1"
_PASSWORD_TAG = b"autopay-agent password tag v1"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def settings() -> Settings:
    return current_app.config["AUTOPAY_SETTINGS"]  # type: ignore[no-any-return]


def session_key(settings: Settings) -> str:
    """The Flask SECRET_KEY: HKDF of the key material under its own label."""
    material = load_or_create_key_material(settings.secret_key, settings.home)
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_SESSION_INFO)
    return hkdf.derive(material.encode()).hex()


def admin_password(app: Flask | None = None) -> str | None:
    app = app or current_app
    configured = app.config.get("AUTOPAY_ADMIN_PASSWORD")
    return configured or app.config["AUTOPAY_SETTINGS"].admin_password


def api_token(app: Flask | None = None) -> str | None:
    """The bearer token the API accepts (None until one is configured or generated).

    ``app.config["AUTOPAY_API_TOKEN"]`` (a test override) wins; then AUTOPAY_API_TOKEN;
    then ``AUTOPAY_HOME/api.token``, read when asked (another process may create it).
    """
    app = app or current_app
    cfg: Settings = app.config["AUTOPAY_SETTINGS"]
    return app.config.get("AUTOPAY_API_TOKEN") or read_api_token(cfg.api_token, cfg.home)


def ensure_api_token(app: Flask) -> tuple[str, bool]:
    """The API token, generated into ``AUTOPAY_HOME/api.token`` if there is none yet.

    Returns:
        The token and whether it was generated now (then it is shown, once).
    """
    known = app.config.get("AUTOPAY_API_TOKEN")
    if known:
        return str(known), False
    cfg: Settings = app.config["AUTOPAY_SETTINGS"]
    return load_or_create_api_token(cfg.api_token, cfg.home)


def check_password(candidate: str) -> bool:
    expected = admin_password()
    if not expected:
        return False
    return hmac.compare_digest(candidate.encode(), expected.encode())


def password_tag() -> str:
    """A keyed hash of the password in force: sessions opened under another one are over."""
    key = current_app.config["SECRET_KEY"].encode() + _PASSWORD_TAG
    return hmac.new(key, (admin_password() or "").encode(), "sha256").hexdigest()


def bearer_ok() -> bool:
    """True when the request carries the API's bearer token.

    Raises:
        SlowDown: Too many wrong tokens from this address lately (429, checked first).
    """
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    guard = throttle(BEARER_ACCOUNT)
    guard.check()
    expected = api_token()
    if expected and hmac.compare_digest(token.strip().encode(), expected.encode()):
        guard.succeeded()
        return True
    guard.failed()
    return False


def safe_next(target: str | None, default: str) -> str:
    """``target`` when it is a path on this site, else ``default`` (no open redirect).

    Browsers drop tabs and newlines from a URL and read ``\\`` as ``/``
    (``/\\t/evil.example`` becomes ``//evil.example``), so the check runs on the
    target as a browser would read it, and that reading is what is returned.
    """
    if not target:
        return default
    cleaned = _CONTROL.sub("", target).replace("\\", "/")
    if not cleaned.startswith("/") or cleaned.startswith("//"):
        return default
    parts = urlsplit(cleaned)
    return default if parts.scheme or parts.netloc else cleaned


def log_in() -> None:
    """Start a server-side session for this browser (after the password was checked)."""
    session.clear()
    session["sid"] = admin_sessions.open_session(ledger_session(), password_tag(), SESSION_LIFETIME)
    session.permanent = True
    g.logged_in = True


def log_out() -> None:
    token = session.get("sid")
    if isinstance(token, str):
        admin_sessions.close(ledger_session(), token)
    session.clear()
    g.logged_in = False


def logged_in() -> bool:
    """True when the cookie names a live session opened under the current password."""
    if "logged_in" not in g:
        token = session.get("sid")
        g.logged_in = (
            isinstance(token, str)
            and admin_password() is not None
            and admin_sessions.is_live(ledger_session(), token, password_tag())
        )
    return bool(g.logged_in)


def limiter() -> Limiter:
    return current_app.extensions["autopay_limiter"]  # type: ignore[no-any-return]


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed cookie, ``Secure`` per AUTOPAY_SECURE_COOKIES (auto: over HTTPS)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        mode = app.config["AUTOPAY_SETTINGS"].secure_cookies
        if mode != "auto":
            return bool(mode == "always")
        return has_request_context() and request.is_secure


def init_security(app: Flask) -> None:
    """Session cookie policy, SECRET_KEY, CSRF, security headers and a limiter of the app's own."""
    settings_ = app.config["AUTOPAY_SETTINGS"]
    app.config["SECRET_KEY"] = session_key(settings_)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="autopay_session",
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
    )
    app.session_interface = SessionCookies()
    app.jinja_env.globals["logged_in"] = logged_in
    csrf.init_app(app)
    init_headers(app)
    # One limiter per app: tests build many apps and must not share counters. The
    # storage (AUTOPAY_RATELIMIT_STORAGE_URL) is memory:// by default, which counts per
    # process; several gunicorn workers share limits only through Redis or memcached.
    # If that storage is down, the limits fall back to memory rather than failing logins.
    # The storage also holds the failure counts of the throttle (:mod:`.throttle`).
    app.extensions["autopay_limiter"] = Limiter(
        get_remote_address,
        app=app,
        storage_uri=settings_.ratelimit_storage_url,
        default_limits=[],
        headers_enabled=True,
        in_memory_fallback_enabled=True,
    )
