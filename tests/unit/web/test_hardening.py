"""The dashboard and API under an adversarial probe: redirects, tokens, sessions, headers.

Each test reproduces a finding of the probe (issue "Security hardening"): an open
redirect through ``next``, a bearer token derived from the password and open to
unlimited guessing, sessions that outlive logout, a lockout that locked the
right password out, missing security headers.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import replace
from urllib.parse import urljoin, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autopay_app import create_app
from autopay_app.secrets import load_or_create_api_token
from tests.unit.web.conftest import PASSWORD

HOSTILE_NEXT = [
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "\t//evil.example",
    "/\x00/evil.example",
    "/\x0b/evil.example",
    "\\\\evil.example",
    "/\\evil.example",
    "\\/evil.example",
    "//evil.example",
    " //evil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    "evil.example",
]


def _as_a_browser_follows(location: str) -> str:
    """Where a browser goes: it drops tab, CR and LF and reads a backslash as a slash."""
    cleaned = re.sub(r"[\t\r\n]", "", location).strip("\x00 ").replace("\\", "/")
    return urljoin("http://localhost/somewhere", cleaned)


def _login_to(client, auth, target: str):
    token = auth.csrf("/login")
    return client.post("/login", data={"password": PASSWORD, "csrf_token": token, "next": target})


# ---------------------------------------------------------------- 6. open redirect
@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_login_next_is_only_a_path_on_this_site(client, auth, target):
    answer = _login_to(client, auth, target)
    if "\x00" in target:  # refused before the form is read at all
        assert answer.status_code == 400 and "Location" not in answer.headers
        return
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/"


def test_next_from_the_login_link_with_an_encoded_tab_goes_home(client, auth):
    page = client.get("/login?next=/%09/evil.example").get_data(as_text=True)
    hidden = re.search(r'name="next" value="([^"]*)"', page)
    assert hidden is not None
    answer = _login_to(client, auth, hidden.group(1).replace("&#9;", "\t"))
    assert answer.headers["Location"] == "/"


def test_next_keeps_a_genuine_path_and_query(client, auth):
    answer = _login_to(client, auth, "/payments?status=VERIFIED&limit=5")
    assert answer.headers["Location"] == "/payments?status=VERIFIED&limit=5"


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(target=st.text(alphabet=st.sampled_from("/\\\t\r\n\x00 .:@%?#aeEvil"), max_size=24))
def test_no_next_leaves_the_site(app, target):
    from autopay_app.web.security import safe_next

    with app.test_request_context("/login"):
        where = safe_next(target, "/")
    assert urlsplit(_as_a_browser_follows(where)).netloc == "localhost", (target, where)


# ---------------------------------------------------------------- 7. API token
def _old_derived_token(password: str) -> str:
    return hmac.new(password.encode(), b"autopay-agent api token v1", hashlib.sha256).hexdigest()[
        :40
    ]


def test_the_api_token_is_generated_not_derived_from_the_password(client, demo, settings):
    token, created = load_or_create_api_token(None, settings.home)
    assert created and token != _old_derived_token(PASSWORD) and len(token) >= 40
    derived = {"Authorization": f"Bearer {_old_derived_token(PASSWORD)}"}
    assert client.get("/api/v1/agents", headers=derived).status_code == 401
    ok = client.get("/api/v1/agents", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    assert load_or_create_api_token(None, settings.home) == (token, False)


def test_failed_bearer_tokens_are_rate_limited(client, demo, bearer):
    codes = [
        client.get("/api/v1/agents", headers={"Authorization": f"Bearer guess-{i}"}).status_code
        for i in range(30)
    ]
    assert codes[:10] == [401] * 10
    assert 429 in codes
    limited = client.get("/api/v1/agents", headers=bearer)  # no answer to a guess now
    assert limited.status_code == 429
    wait = int(limited.headers["Retry-After"])
    assert limited.json["error"]["status"] == 429
    time.sleep(wait)
    assert client.get("/api/v1/agents", headers=bearer).status_code == 200


def test_bearer_guesses_from_elsewhere_do_not_limit_this_client(client, demo, bearer):
    other = {"REMOTE_ADDR": "10.0.0.9"}
    for i in range(20):
        client.get("/api/v1/agents", headers={"Authorization": f"Bearer g{i}"}, environ_base=other)
    assert client.get("/api/v1/agents", headers=bearer).status_code == 200


# ---------------------------------------------------------------- 8. sessions
def _session_cookie(client) -> str:
    cookie = client.get_cookie("autopay_session")
    assert cookie is not None
    return cookie.value


def test_a_cookie_saved_before_logout_no_longer_works(client, auth):
    auth.login()
    saved = _session_cookie(client)
    assert client.get("/").status_code == 200
    assert client.post("/logout", data={"csrf_token": auth.csrf("/")}).status_code == 302
    client.set_cookie("autopay_session", saved)
    assert client.get("/").status_code == 302
    assert client.get("/api/v1/agents").status_code == 401


def test_changing_the_password_ends_every_session(app, client, auth):
    auth.login()
    assert client.get("/").status_code == 200
    app.config["AUTOPAY_ADMIN_PASSWORD"] = "a brand new password"
    assert client.get("/").status_code == 302


def test_logout_ends_only_its_own_session(app, client, auth):
    auth.login()
    other = app.test_client()
    token = re.search(
        r'name="csrf-token" content="([^"]+)"', other.get("/login").get_data(as_text=True)
    )
    assert token is not None
    other.post("/login", data={"password": PASSWORD, "csrf_token": token.group(1)})
    assert other.get("/").status_code == 200
    client.post("/logout", data={"csrf_token": auth.csrf("/")})
    assert client.get("/").status_code == 302
    assert other.get("/").status_code == 200


def test_failed_logins_delay_but_never_lock_out_the_right_password(client, auth):
    token = auth.csrf("/login")
    codes = [
        client.post("/login", data={"password": "x", "csrf_token": token}).status_code
        for _ in range(12)
    ]
    assert codes[:10] == [401] * 10
    assert codes[-1] == 429
    slowed = client.post("/login", data={"password": PASSWORD, "csrf_token": token})
    assert slowed.status_code == 429
    assert "try again in" in slowed.get_data(as_text=True)
    time.sleep(int(slowed.headers["Retry-After"]))
    answer = client.post("/login", data={"password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 302 and answer.headers["Location"] == "/"


def test_failed_logins_from_one_address_do_not_slow_another(app, client, auth):
    token = auth.csrf("/login")
    for _ in range(15):
        client.post(
            "/login",
            data={"password": "x", "csrf_token": token},
            environ_base={"REMOTE_ADDR": "10.0.0.7"},
        )
    answer = client.post("/login", data={"password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 302


# ---------------------------------------------------------------- 9. headers
def _assert_security_headers(answer, *, ledger: bool) -> None:
    csp = answer.headers.get("Content-Security-Policy", "")
    directives = dict((d.strip().split(" ", 1) + [""])[:2] for d in csp.split(";") if d.strip())
    assert "'unsafe-inline'" not in directives.get("script-src", "unsafe")
    assert directives.get("script-src") == "'self'", csp
    assert directives.get("frame-ancestors") == "'none'", csp
    assert directives.get("object-src") == "'none'", csp
    assert answer.headers.get("X-Frame-Options") == "DENY"
    assert answer.headers.get("X-Content-Type-Options") == "nosniff"
    assert answer.headers.get("Referrer-Policy") in ("no-referrer", "same-origin")
    if ledger:
        assert "no-store" in answer.headers.get("Cache-Control", "")


def test_every_page_sends_security_headers(client, auth, demo, bearer):
    _assert_security_headers(client.get("/login"), ledger=False)
    with client.get("/assets/css/app.css") as asset:
        _assert_security_headers(asset, ledger=False)
    _assert_security_headers(client.get("/api/v1/openapi.json"), ledger=False)
    _assert_security_headers(client.get("/api/v1/agents", headers=bearer), ledger=True)
    _assert_security_headers(client.get("/api/v1/agents"), ledger=True)  # a 401
    auth.login()
    for page in ("/", "/requests", "/payments", "/audit", "/interactive", "/autonomy", "/export"):
        answer = client.get(page)
        assert answer.status_code == 200, page
        _assert_security_headers(answer, ledger=True)
        html = answer.get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), f"inline script on {page}"
        assert not re.search(r"\son[a-z]+\s*=", html), f"inline event handler on {page}"
        assert not re.search(r"\sstyle\s*=", html), f"inline style on {page}"
    _assert_security_headers(client.get("/no-such-page"), ledger=False)
    _assert_security_headers(client.get("/overview/cards"), ledger=True)


def test_session_cookie_is_secure_over_https(client, auth):
    token = auth.csrf("/login")
    plain = client.post("/login", data={"password": PASSWORD, "csrf_token": token})
    assert "Secure" not in plain.headers["Set-Cookie"]
    https = client.post(
        "/login",
        data={"password": PASSWORD, "csrf_token": token},
        base_url="https://localhost",
    )
    assert "; Secure" in https.headers["Set-Cookie"]


def test_secure_cookie_setting_forces_the_flag(database_url, settings):
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "AUTOPAY_SETTINGS": replace(settings, secure_cookies="always"),
        }
    )
    client = app.test_client()
    page = client.get("/login")
    assert "; Secure" in page.headers["Set-Cookie"]
    from autopay_app.extensions import db

    with app.app_context():
        db.engine.dispose()
