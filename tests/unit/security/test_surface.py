"""Every state-changing route refuses a cookie-authenticated request without a CSRF token,
and login cannot be brute-forced."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from autopay_app.config import Settings, load_settings
from tests.factories import make_agent, scalar

PASSWORD = "correct horse battery staple"
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
COUNTED = (
    "agents",
    "api_requests",
    "payments",
    "audit_events",
    "monitored_apis",
    "monitor_settings",
    "payment_approvals",
)


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    return replace(
        load_settings({}),
        home=tmp_path / "home",
        secret_key="test-secret-key-of-at-least-32-characters!",
        admin_password=PASSWORD,
        premium_api_url="http://127.0.0.1:9",
    )


def _csrf(client: FlaskClient, page: str = "/login") -> str:
    html = client.get(page).get_data(as_text=True)
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, f"no CSRF token on {page}"
    return match.group(1)


def _login(client: FlaskClient) -> None:
    answer = client.post("/login", data={"password": PASSWORD, "csrf_token": _csrf(client)})
    assert answer.status_code == 302


def _state_changing_urls(app: Flask, agent_id: uuid.UUID) -> list[tuple[str, str]]:
    urls = []
    for rule in app.url_map.iter_rules():
        values = {
            arg: str(agent_id if arg == "agent_id" else uuid.uuid4()) for arg in rule.arguments
        }
        with app.test_request_context():
            from flask import url_for

            url = url_for(rule.endpoint, **values)
        urls += [(method, url) for method in sorted(rule.methods & STATE_CHANGING)]
    return urls


@contextmanager
def _db(app: Flask) -> Iterator[Session]:
    """A session in an app context of its own: one held over the test would share ``g``
    (where Flask-WTF caches the CSRF token) with every test-client request."""
    from autopay_app.extensions import db

    with app.app_context(), Session(db.engine, expire_on_commit=False) as session:
        yield session


def _agent_id(app: Flask) -> uuid.UUID:
    with _db(app) as session, session.begin():
        return make_agent(session).id


def _counts(app: Flask) -> dict[str, int]:
    with _db(app) as session:
        return {t: scalar(session, f"SELECT count(*) FROM {t}") for t in COUNTED}


def test_every_state_changing_route_needs_the_csrf_token(app: Flask, client: FlaskClient) -> None:
    agent_id = _agent_id(app)
    _login(client)
    urls = _state_changing_urls(app, agent_id)
    assert len(urls) >= 10 and ("POST", "/logout") in urls
    before = _counts(app)
    body = {"agent_id": str(agent_id), "url": "http://127.0.0.1:9/x", "level": "PHASE2"}

    for method, url in urls:
        for kwargs in ({"data": body}, {"json": body}):
            answer = client.open(url, method=method, **kwargs)
            assert answer.status_code == 400, (method, url, answer.status_code)
            assert "CSRF" in answer.get_data(as_text=True), (method, url)

    assert _counts(app) == before
    assert client.get("/").status_code == 200  # still logged in: logout was refused too


def test_the_refusal_is_the_missing_token(app: Flask, client: FlaskClient) -> None:
    """Positive control: the same requests with the token get past the CSRF check."""
    agent_id = _agent_id(app)
    _login(client)
    token = _csrf(client, "/")
    for method, url in _state_changing_urls(app, agent_id):
        if url in ("/logout", "/login"):
            continue
        answer = client.open(url, method=method, json={}, headers={"X-CSRFToken": token})
        assert "CSRF" not in answer.get_data(as_text=True), (method, url, answer.status_code)
    answer = client.post("/logout", data={"csrf_token": token})
    assert answer.status_code == 302


def test_brute_force_stops_before_the_right_password(client: FlaskClient) -> None:
    token = _csrf(client)
    wrong = [
        client.post("/login", data={"password": f"guess {i}", "csrf_token": token}).status_code
        for i in range(10)
    ]
    right = client.post("/login", data={"password": PASSWORD, "csrf_token": token})
    assert wrong == [401] * 10
    assert right.status_code == 429 and "Retry-After" in right.headers
    assert client.get("/").status_code == 302  # not logged in
