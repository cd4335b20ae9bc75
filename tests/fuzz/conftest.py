"""Fuzzing fixtures: a real harness and mock API per module, the app pointed at them,
and the demo data of ``autopay seed`` in its database."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from autopay_app.config import Settings, load_settings
from autopay_app.devtools import seed
from harness.testing import HarnessInfo, run_harness
from mock_premium_api.testing import MockApiInfo, run_mock_api

_modules = itertools.count()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HarnessInfo, MockApiInfo]]:
    with run_harness(tmp_path_factory.mktemp("harness")) as harness:
        env = {
            "MOCK_API_STATE_DIR": str(tmp_path_factory.mktemp("mock-api-state")),
            "CASH_TOKEN_PROGRAM": harness.cash_token_program,
            "USDC_MINT": harness.usdc_mint,
        }
        with run_mock_api(
            facilitator_url=harness.facilitator_url,
            rpc_url=harness.rpc_url,
            cash_mint=harness.cash_mint,
            env=env,
        ) as api:
            yield harness, api


def fuzz_settings(home: Path, stack: tuple[HarnessInfo, MockApiInfo]) -> Settings:
    """Settings with a password and the stack's mock API as the premium API."""
    harness, api = stack
    return replace(
        load_settings({}),
        home=home,
        secret_key="test-secret-key-of-at-least-32-characters!",
        admin_password="fuzzing password of some length",
        premium_api_url=api.url,
        solana_rpc_url=harness.rpc_url,
        facilitator_url=harness.facilitator_url,
        cash_mint=harness.cash_mint,
        keypair_path=home / "agent-keypair.json",
    )


@pytest.fixture()
def settings(tmp_path: Path, stack: tuple[HarnessInfo, MockApiInfo]) -> Settings:
    """The shared fixture, with a password and the mock API as premium API."""
    return fuzz_settings(tmp_path / "home", stack)


@contextmanager
def seeded(app: Flask) -> Iterator[Flask]:
    """``app`` with the demo data; its agents and connections closed afterwards."""
    from autopay_app.extensions import db

    with app.app_context(), Session(db.engine) as session:
        seed.seed_demo(session)
    try:
        yield app
    finally:
        for agent in {id(a): a for a in app.extensions.get("autopay_agents", {}).values()}.values():
            agent.close()
        with app.app_context():
            db.engine.dispose()


@pytest.fixture()
def seeded_app(app: Flask) -> Flask:
    from autopay_app.extensions import db

    with app.app_context(), Session(db.engine) as session:
        seed.seed_demo(session)
    return app


@pytest.fixture(scope="module")
def module_app(
    server_url: str,
    template_db: str,
    stack: tuple[HarnessInfo, MockApiInfo],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Flask]:
    """One seeded app and database for a whole module (state builds up across examples)."""
    from autopay_app import create_app
    from autopay_app.devtools import scratch

    name = f"autopay_fuzz_{os.getpid()}_{next(_modules)}"
    url = scratch.create_database(server_url, name, template=template_db)
    settings = fuzz_settings(tmp_path_factory.mktemp("home"), stack)
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": url,
            "AUTOPAY_EXTERNAL_DB": True,
            "AUTOPAY_SETTINGS": settings,
        }
    )
    try:
        with seeded(app):
            yield app
    finally:
        scratch.drop_database(server_url, name)
