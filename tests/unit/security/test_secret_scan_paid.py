"""Real payments leave no key and no decrypted token in the dump or the logs.

A real harness and mock API; the agent (working as the application role, as
the app does) pays for four requests with a session token set; then the
ledger is dumped and the dump and everything logged are scanned for the
agent's, the seller's and the harness's keys and the token.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app import db_roles
from autopay_app.agent import Agent
from autopay_app.config import load_settings
from autopay_app.devtools.secret_scan import keypair_secrets, scan, session_token_secrets
from autopay_app.ledger import agents
from autopay_app.ledger.backup import backup
from autopay_app.models import Agent as AgentRow
from autopay_app.secrets import SecretBox
from harness.testing import run_harness
from mock_premium_api.testing import run_mock_api

SECRET_KEY = "test-secret-key-of-at-least-32-characters!"
PATHS = (
    "/api/market-feed?symbols=SOL",
    "/api/arbitrage-signals",
    "/api/knowledge/insights?topic=SOL",
    "/api/knowledge/sentiment?asset=SOL",
)


@pytest.fixture()
def log_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "logs"
    directory.mkdir()
    handler = logging.FileHandler(directory / "run.log")
    root, engine_log = logging.getLogger(), logging.getLogger("sqlalchemy.engine")
    old = root.level, engine_log.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    engine_log.setLevel(logging.INFO)  # statements and their parameters
    yield directory
    root.removeHandler(handler)
    handler.close()
    root.setLevel(old[0])
    engine_log.setLevel(old[1])


def test_paid_run_leaves_no_secret(database_url: str, tmp_path: Path, log_dir: Path) -> None:
    harness_dir, mock_dir, home = tmp_path / "harness", tmp_path / "mock-api", tmp_path / "home"
    mock_dir.mkdir()
    engine = sa.create_engine(database_url)
    db_roles.install(engine)
    with run_harness(harness_dir, slot_ms=20) as harness:
        env = {
            "MOCK_API_STATE_DIR": str(mock_dir),
            "CASH_TOKEN_PROGRAM": harness.cash_token_program,
            "USDC_MINT": harness.usdc_mint,
        }
        with run_mock_api(
            facilitator_url=harness.facilitator_url,
            rpc_url=harness.rpc_url,
            cash_mint=harness.cash_mint,
            env=env,
        ) as api:
            settings = replace(
                load_settings({}),
                home=home,
                secret_key=SECRET_KEY,
                solana_rpc_url=harness.rpc_url,
                facilitator_url=harness.facilitator_url,
                premium_api_url=api.url,
                cash_mint=harness.cash_mint,
                keypair_path=home / "agent-keypair.json",
            )
            agent = Agent(settings, engine, retry_base=0.01, http_timeout=5.0)
            try:
                harness.fund(agent.address, usdc=1, cash=1)
                box = SecretBox(SECRET_KEY)
                with Session(engine, expire_on_commit=False) as session:
                    row = session.get(AgentRow, agent.agent_id)
                    session.commit()
                    assert row is not None
                    agents.set_session_token(session, row, "sess_paid-run-token-0123456789", box)
                results = [agent.fetch(api.url + path) for path in PATHS]
            finally:
                agent.close()
    assert [r.status for r in results] == ["ACCESSED"] * len(PATHS), [r.error for r in results]

    archive = backup(database_url, tmp_path / "dumps").path
    with Session(engine) as session:
        secrets = keypair_secrets(home, harness_dir, mock_dir) + session_token_secrets(session, box)
    engine.dispose()
    assert {s.label for s in secrets} >= {
        "keypair agent-keypair.json",
        "keypair facilitator-keypair.json",  # the harness's fee payer
        "keypair seller-keypair.json",  # the mock API's
        f"session token of {row.name}",
    }
    assert (log_dir / "run.log").stat().st_size > 0
    assert scan([archive, log_dir], secrets) == []
