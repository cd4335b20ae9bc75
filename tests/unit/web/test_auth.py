"""Login, session cookies, CSRF, the rate limit and the API token."""

from __future__ import annotations

from dataclasses import replace

from autopay_app import create_app
from autopay_app.cli.serve import ensure_admin_password
from autopay_app.secrets import load_or_create_api_token
from autopay_app.web.security import api_token, ensure_api_token
from tests.unit.web.conftest import PASSWORD


def test_pages_redirect_to_login(client):
    answer = client.get("/payments?status=VERIFIED")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/login?next=/payments")


def test_login_sets_httponly_samesite_cookie_and_redirects_to_next(client, auth):
    token = auth.csrf("/login")
    answer = client.post(
        "/login", data={"password": PASSWORD, "csrf_token": token, "next": "/audit"}
    )
    assert answer.status_code == 302 and answer.headers["Location"] == "/audit"
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/audit").status_code == 200


def test_login_refuses_open_redirect(client, auth):
    token = auth.csrf("/login")
    answer = client.post(
        "/login", data={"password": PASSWORD, "csrf_token": token, "next": "//evil.example/"}
    )
    assert answer.headers["Location"] == "/"


def test_wrong_password_is_401_and_stays_logged_out(client, auth):
    answer = auth.login("not it")
    assert answer.status_code == 401
    assert "Wrong password" in answer.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_login_without_csrf_token_is_400(client):
    answer = client.post("/login", data={"password": PASSWORD})
    assert answer.status_code == 400
    assert "CSRF" in answer.get_data(as_text=True)


def test_logout_needs_csrf_and_ends_the_session(client, auth):
    auth.login()
    assert client.post("/logout").status_code == 400
    token = auth.csrf("/")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/").status_code == 302


def test_no_password_configured_explains_how_to_set_one(database_url, settings):
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "AUTOPAY_SETTINGS": replace(settings, admin_password=None),
        }
    )
    page = app.test_client().get("/login").get_data(as_text=True)
    assert "AUTOPAY_ADMIN_PASSWORD" in page
    assert api_token(app) is None  # no token until serve or demo generates one
    password, generated = ensure_admin_password(app)
    assert generated and len(password) >= 16
    token, created = ensure_api_token(app)
    assert created and api_token(app) == token and password not in token
    assert ensure_api_token(app) == (token, False)


def test_session_key_is_derived_not_the_secret_key(app, settings):
    assert app.config["SECRET_KEY"] != settings.secret_key
    assert len(app.config["SECRET_KEY"]) == 64


def test_configured_api_token_replaces_the_generated_one(app, client):
    app.config["AUTOPAY_API_TOKEN"] = "configured-token-1234567890"
    assert client.get("/api/v1/agents", headers={"Authorization": "Bearer x"}).status_code == 401
    ok = client.get(
        "/api/v1/agents", headers={"Authorization": "Bearer configured-token-1234567890"}
    )
    assert ok.status_code == 200


def test_api_token_comes_from_settings(database_url, settings, monkeypatch):
    monkeypatch.setenv("AUTOPAY_API_TOKEN", "from-the-environment-is-ignored-here")
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "AUTOPAY_SETTINGS": replace(settings, api_token="settings-token-1234567890"),
        }
    )
    client = app.test_client()
    ok = client.get("/api/v1/agents", headers={"Authorization": "Bearer settings-token-1234567890"})
    assert ok.status_code == 200
    stored, _ = load_or_create_api_token(None, settings.home)  # AUTOPAY_API_TOKEN wins
    generated = {"Authorization": f"Bearer {stored}"}
    assert client.get("/api/v1/agents", headers=generated).status_code == 401
    env = {"Authorization": "Bearer from-the-environment-is-ignored-here"}
    assert client.get("/api/v1/agents", headers=env).status_code == 401
    from autopay_app.extensions import db

    with app.app_context():
        db.engine.dispose()
