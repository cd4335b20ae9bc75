"""The JSON API and the mock premium API under schemathesis: no 5xx (issue 8, item 4).

A real harness (local Solana and facilitator) and a real mock API process
serve the module; the mock API is fuzzed over HTTP from its own
``/openapi.json``, the JSON API in-process over WSGI from
``/api/v1/openapi.json`` with the bearer token, with the demo data in its
database and the mock API as its premium API (so quotes, the catalog and
approvals reach a real seller).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from sqlalchemy.orm import Session

from autopay_app.config import Settings, load_settings
from autopay_app.ledger import seed
from autopay_app.web.security import api_token
from fuzz import oracles
from harness.testing import HarnessInfo, run_harness
from mock_premium_api.catalog import ENDPOINTS
from mock_premium_api.testing import MockApiInfo, run_mock_api

EXAMPLES_PER_OPERATION = 50


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


def _fuzz_every_operation(schema: Any, call: Any) -> int:
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:

        @hypothesis_settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: schemathesis.Case) -> None:
            case.validate_response(call(case), checks=[not_a_server_error])

        run()
    return len(operations)


def test_mock_api_answers_no_5xx(stack: tuple[HarnessInfo, MockApiInfo]) -> None:
    _, api = stack
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    count = _fuzz_every_operation(schema, lambda case: case.call(base_url=api.url, timeout=30))
    assert count == 2 + len(ENDPOINTS)  # health, catalog and the paid ones (not the document)


def test_mock_api_refuses_a_v1_payment_with_a_stray_account_index(
    stack: tuple[HarnessInfo, MockApiInfo],
) -> None:
    """Regression (atheris): this v1 X-PAYMENT used to crash the gate with a 500."""
    _, api = stack
    header = oracles.b64_json(
        {
            "x402Version": 1,
            "scheme": "exact",
            "network": "solana-devnet",
            "payload": {
                "transaction": base64.b64encode(oracles.transfer_with_stray_index()).decode()
            },
        }
    )
    answer = requests.get(f"{api.url}/api/market-feed", headers={"X-PAYMENT": header}, timeout=30)
    assert answer.status_code == 402, answer.text[:500]
    assert answer.json()["error"] == "invalid_exact_svm_payload_transaction_could_not_be_decoded"


@pytest.fixture()
def settings(  # the shared fixture, with a password and the mock API as premium API
    tmp_path: Path, stack: tuple[HarnessInfo, MockApiInfo]
) -> Settings:
    harness, api = stack
    return replace(
        load_settings({}),
        home=tmp_path / "home",
        secret_key="test-secret-key-of-at-least-32-characters!",
        admin_password="fuzzing password of some length",
        premium_api_url=api.url,
        solana_rpc_url=harness.rpc_url,
        facilitator_url=harness.facilitator_url,
        cash_mint=harness.cash_mint,
    )


@pytest.fixture()
def seeded_app(app: Flask) -> Flask:
    from autopay_app.extensions import db

    with app.app_context(), Session(db.engine) as session:
        seed.seed_demo(session)
    return app


def test_json_api_answers_no_5xx(seeded_app: Flask) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", seeded_app)
    headers = {"Authorization": f"Bearer {api_token(seeded_app)}"}
    count = _fuzz_every_operation(schema, lambda case: case.call(headers=headers))
    assert count >= 10
