"""Serving settings: workers, rate-limit storage, secrets from files, and ProxyFix."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from flask import request, url_for
from limits.storage import MemoryStorage, RedisStorage

from autopay_app import create_app
from autopay_app.config import Settings, default_web_workers, load_settings
from autopay_app.errors import ConfigError
from autopay_app.web.security import limiter


def test_serving_defaults_suit_the_machine() -> None:
    s = load_settings({})
    assert s.web_workers == default_web_workers() == min(2 * (os.cpu_count() or 1) + 1, 8)
    assert (s.web_threads, s.serve_scheduler, s.proxy_hops) == (4, True, 0)
    assert s.ratelimit_storage_url == "memory://"
    custom = load_settings(
        {
            "AUTOPAY_WEB_WORKERS": "3",
            "AUTOPAY_WEB_THREADS": "16",
            "AUTOPAY_SERVE_SCHEDULER": "0",
            "AUTOPAY_RATELIMIT_STORAGE_URL": "redis://cache:6379/2",
            "AUTOPAY_PROXY_HOPS": "1",
        }
    )
    assert (custom.web_workers, custom.web_threads, custom.serve_scheduler) == (3, 16, False)
    assert (custom.ratelimit_storage_url, custom.proxy_hops) == ("redis://cache:6379/2", 1)


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"AUTOPAY_WEB_WORKERS": "0"}, "AUTOPAY_WEB_WORKERS"),
        ({"AUTOPAY_WEB_THREADS": "many"}, "AUTOPAY_WEB_THREADS"),
        ({"AUTOPAY_SERVE_SCHEDULER": "maybe"}, "AUTOPAY_SERVE_SCHEDULER"),
        ({"AUTOPAY_RATELIMIT_STORAGE_URL": "postgres://db/x"}, "AUTOPAY_RATELIMIT_STORAGE_URL"),
        ({"AUTOPAY_RATELIMIT_STORAGE_URL": "redis"}, "AUTOPAY_RATELIMIT_STORAGE_URL"),
        ({"AUTOPAY_PROXY_HOPS": "-1"}, "AUTOPAY_PROXY_HOPS"),
        ({"AUTOPAY_SECRET_KEY_FILE": "/nonexistent/secret"}, "AUTOPAY_SECRET_KEY_FILE"),
    ],
)
def test_bad_serving_values_name_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings(env)


def test_secrets_can_come_from_files(tmp_path: Path) -> None:
    key = tmp_path / "secret_key"
    key.write_text("k" * 40 + "\n")
    url = tmp_path / "database_url"
    url.write_text("postgresql://autopay:s3cret@db:5432/autopay\n")
    password = tmp_path / "admin_password"
    password.write_text("from-a-file\n")
    s = load_settings(
        {
            "AUTOPAY_SECRET_KEY_FILE": str(key),
            "DATABASE_URL_FILE": str(url),
            "AUTOPAY_ADMIN_PASSWORD_FILE": str(password),
        }
    )
    assert s.secret_key == "k" * 40
    assert s.database_url == "postgresql+psycopg://autopay:s3cret@db:5432/autopay"
    assert s.admin_password == "from-a-file"
    empty = tmp_path / "empty"
    empty.write_text("")
    with pytest.raises(ConfigError, match="AUTOPAY_API_TOKEN_FILE: .* is empty"):
        load_settings({"AUTOPAY_API_TOKEN_FILE": str(empty)})
    # A value set directly wins over its file.
    assert (
        load_settings(
            {"AUTOPAY_ADMIN_PASSWORD": "direct", "AUTOPAY_ADMIN_PASSWORD_FILE": str(password)}
        ).admin_password
        == "direct"
    )


def _app(database_url: str, settings: Settings):  # type: ignore[no-untyped-def]
    return create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "AUTOPAY_EXTERNAL_DB": True,
            "AUTOPAY_SETTINGS": settings,
        }
    )


def test_the_limiter_uses_the_configured_storage(database_url: str, settings: Settings) -> None:
    with _app(database_url, settings).app_context():
        assert isinstance(limiter().storage, MemoryStorage)
    shared = replace(settings, ratelimit_storage_url="redis://127.0.0.1:1/0")
    with _app(database_url, shared).app_context():
        assert isinstance(limiter().storage, RedisStorage)


def _probe(app):  # type: ignore[no-untyped-def]
    @app.get("/_probe")
    def probe() -> dict[str, str]:
        return {"remote": request.remote_addr or "", "url": url_for("auth.login", _external=True)}

    return app.test_client()


FORWARDED = {
    "X-Forwarded-For": "203.0.113.7",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "pay.example.org",
    "X-Forwarded-Port": "443",
}


def test_behind_a_proxy_client_addresses_and_urls_come_from_its_headers(
    database_url: str, settings: Settings
) -> None:
    behind = _probe(_app(database_url, replace(settings, proxy_hops=1)))
    answer = behind.get("/_probe", headers=FORWARDED, environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert answer.json == {"remote": "203.0.113.7", "url": "https://pay.example.org/login"}

    direct = _probe(_app(database_url, settings))  # AUTOPAY_PROXY_HOPS=0: headers ignored
    answer = direct.get("/_probe", headers=FORWARDED, environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert answer.json == {"remote": "10.0.0.2", "url": "http://localhost/login"}


def test_behind_a_proxy_login_limits_count_per_client(
    database_url: str, settings: Settings
) -> None:
    app = _app(database_url, replace(settings, proxy_hops=1, admin_password="right"))
    app.config["WTF_CSRF_ENABLED"] = False
    client = app.test_client()

    def login(client_ip: str) -> int:
        return client.post(
            "/login",
            data={"password": "wrong"},
            headers={"X-Forwarded-For": client_ip},
            environ_base={"REMOTE_ADDR": "10.0.0.2"},  # the proxy
        ).status_code

    assert [login("198.51.100.1") for _ in range(11)] == [401] * 10 + [429]
    assert login("198.51.100.2") == 401  # another client behind the same proxy
