"""The JSON API and the mock premium API under schemathesis: no 5xx.

A real harness (local Solana and facilitator) and a real mock API process
serve the module (``conftest.py``); the mock API is fuzzed over HTTP from its own
``/openapi.json``, the JSON API in-process over WSGI from
``/api/v1/openapi.json`` with the bearer token, with the demo data in its
database and the mock API as its premium API (so quotes, the catalog and
approvals reach a real seller).
"""

from __future__ import annotations

import base64
import os
from typing import Any

import requests
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error

from autopay_app.web.security import ensure_api_token
from fuzz import oracles
from harness.testing import HarnessInfo
from mock_premium_api.catalog import ENDPOINTS
from mock_premium_api.testing import MockApiInfo

#: ``AUTOPAY_FUZZ_EXAMPLES`` raises it for a longer search.
EXAMPLES_PER_OPERATION = int(os.environ.get("AUTOPAY_FUZZ_EXAMPLES", "50"))


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


def test_json_api_answers_no_5xx(seeded_app: Flask) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", seeded_app)
    token, _ = ensure_api_token(seeded_app)  # what `autopay serve` does
    headers = {"Authorization": f"Bearer {token}"}
    count = _fuzz_every_operation(schema, lambda case: case.call(headers=headers))
    assert count >= 10
