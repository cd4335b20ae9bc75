"""Fixtures for the dashboard and API tests: a password, a logged-in client, demo data."""

from __future__ import annotations

import re
import threading
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask, jsonify
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from autopay_app.config import Settings, load_settings
from autopay_app.devtools import seed
from autopay_app.models import CircuitBreaker
from autopay_app.secrets import load_or_create_api_token

PASSWORD = "correct horse battery staple"
SELLER_BREAKER = "seller:127.0.0.1:8402"
CATALOG = {
    "x402Version": 2,
    "items": [
        {
            "resource": "http://127.0.0.1:8402/api/market-feed",
            "path": "/api/market-feed",
            "method": "GET",
            "description": "Spot prices",
            "category": "MARKET_DATA",
            "ttl_seconds": 15,
            "query": {"symbols": "comma-separated symbols"},
            "prices": {"USDC": "0.01", "CASH": "0.01"},
        }
    ],
}


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    """The shared settings plus an admin password; the premium API is unreachable."""
    return replace(
        load_settings({}),
        home=tmp_path / "home",
        secret_key="test-secret-key-of-at-least-32-characters!",
        admin_password=PASSWORD,
        premium_api_url="http://127.0.0.1:9",
    )


class AuthActions:
    """Log in through the form and read the CSRF token the pages carry."""

    def __init__(self, client: FlaskClient) -> None:
        self._client = client

    def login(self, password: str = PASSWORD):  # type: ignore[no-untyped-def]
        return self._client.post(
            "/login", data={"password": password, "csrf_token": self.csrf("/login")}
        )

    def csrf(self, page: str = "/") -> str:
        html = self._client.get(page).get_data(as_text=True)
        match = re.search(r'name="csrf-token" content="([^"]+)"', html)
        assert match, f"no CSRF token on {page}"
        return match.group(1)


@pytest.fixture()
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


@pytest.fixture()
def bearer(settings: Settings) -> dict[str, str]:
    """The API token, generated once under AUTOPAY_HOME as ``autopay serve`` does."""
    token, _ = load_or_create_api_token(None, settings.home)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture()
def demo(app: Flask) -> seed.SeedReport:
    """The demo data of ``autopay seed`` (which includes the seller's CLOSED breaker).

    Written in an app context of its own: a context held over the test would be
    shared by every test-client request (and with it ``g``, where Flask-WTF
    caches the CSRF token).
    """
    from autopay_app.extensions import db

    with app.app_context(), Session(db.engine) as session:
        report = seed.seed_demo(session)
        with session.begin():
            state = session.scalar(
                sa.select(CircuitBreaker.state).where(CircuitBreaker.name == SELLER_BREAKER)
            )
        assert state == "CLOSED"
        return report


@pytest.fixture()
def catalog_url():
    """A stand-in seller serving only its free catalog; yields its base URL."""
    app = Flask("catalog")
    app.get("/api/catalog")(lambda: jsonify(CATALOG))
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
