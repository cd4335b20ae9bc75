"""Shared fixtures: a real PostgreSQL, one fresh migrated database per test.

The server is the embedded one (under ``.autopay/test``) unless
``AUTOPAY_TEST_DATABASE_URL`` names another (CI also runs against the server on
127.0.0.1:5432), or ``--docker`` brings up the compose file's PostgreSQL through
pytest-docker. Migrations run once into a template database; each test gets a
copy (``CREATE DATABASE ... TEMPLATE``), so tests are isolated and may commit.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from autopay_app import create_app
from autopay_app.config import Settings, load_settings
from autopay_app.devtools import scratch

ROOT = Path(__file__).resolve().parent.parent
_counter = itertools.count()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--docker",
        action="store_true",
        help="run against the PostgreSQL of docker-compose.yml (pytest-docker)",
    )


@pytest.fixture(scope="session")
def docker_compose_file() -> str:
    return str(ROOT / "docker-compose.yml")


@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    """``pytest --docker`` needs only the compose file's PostgreSQL (and its secret)."""
    from autopay_app.cli.compose_secrets import write_compose_secrets

    write_compose_secrets(ROOT / "deploy" / "secrets")
    return ["up -d postgres"]


def _docker_url(request: pytest.FixtureRequest) -> str:
    import psycopg

    services = request.getfixturevalue("docker_services")
    ip = request.getfixturevalue("docker_ip")
    port = services.port_for("postgres", 5432)
    password = (ROOT / "deploy" / "secrets" / "postgres_password").read_text().strip()
    url = f"postgresql+psycopg://autopay:{password}@{ip}:{port}/autopay"

    def ready() -> bool:
        try:
            psycopg.connect(url.replace("+psycopg", ""), connect_timeout=2).close()
            return True
        except psycopg.OperationalError:
            return False

    services.wait_until_responsive(timeout=60, pause=0.5, check=ready)
    return url


@pytest.fixture(scope="session")
def server_url(request: pytest.FixtureRequest) -> str:
    """A SQLAlchemy URL of a database on the test server (any database; admin work only)."""
    if request.config.getoption("--docker"):
        return _docker_url(request)
    external = os.environ.get("AUTOPAY_TEST_DATABASE_URL")
    if external:
        from autopay_app.config import normalise_database_url

        return normalise_database_url(external)
    from autopay_app.embedded_db import ensure_database

    return ensure_database(ROOT / ".autopay" / "test", "postgres")


@pytest.fixture(scope="session")
def template_db(server_url: str) -> Iterator[str]:
    name = f"autopay_tmpl_{os.getpid()}"
    url = scratch.create_database(server_url, name)
    scratch.migrate(url)
    yield name
    scratch.drop_database(server_url, name)


@pytest.fixture()
def database_url(server_url: str, template_db: str) -> Iterator[str]:
    """A fresh, migrated database for this test."""
    name = f"autopay_t{os.getpid()}_{next(_counter)}"
    url = scratch.create_database(server_url, name, template=template_db)
    yield url
    scratch.drop_database(server_url, name)


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    return replace(
        load_settings({}),
        home=tmp_path / "home",
        secret_key="test-secret-key-of-at-least-32-characters!",
    )


@pytest.fixture()
def app(database_url: str, settings: Settings) -> Iterator[Flask]:
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "AUTOPAY_EXTERNAL_DB": True,
            "AUTOPAY_SETTINGS": settings,
        }
    )
    yield app
    from autopay_app.extensions import db

    for agent in {id(a): a for a in app.extensions.get("autopay_agents", {}).values()}.values():
        agent.close()  # its HTTP and RPC connections
    with app.app_context():
        db.engine.dispose()


@pytest.fixture()
def client(app: Flask):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture()
def runner(app: Flask):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()


@pytest.fixture()
def session(app: Flask) -> Iterator[Session]:
    """A session whose transactions the code under test owns (``with session.begin()``)."""
    from autopay_app.extensions import db

    with app.app_context():
        with Session(db.engine, expire_on_commit=False) as s:
            yield s
