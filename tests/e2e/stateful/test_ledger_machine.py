"""A hypothesis state machine over the agent, its ledger and the chain.

Rules: fetch, fetch under a fault (seller 5xx after settlement, facilitator or RPC
failures: retries happen), crash the agent at a named point of the flow (a real
``autopay fetch`` process exiting hard), top up, reconcile. Invariants after
every step: money is conserved within what the ledger committed, caps are never
exceeded, no balance is negative; after each reconciliation, the chain's
transfers equal the VERIFIED payments and no request is left unfinished.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from autopay_app.agent import Agent, crash
from autopay_app.config import load_settings
from autopay_app.ledger import policies
from harness.testing import run_harness
from mock_premium_api.testing import run_mock_api

PATHS = (
    "/api/market-feed?symbols=SOL",
    "/api/arbitrage-signals",
    "/api/knowledge/sentiment?asset=BTC",
)
HOURLY_CAP = Decimal("0.3")
FAULTS = {
    "seller_5xx": ("mock", {"error_rate_after_settle": 0.5, "seed": 3}),
    "settle_500": (
        "harness",
        {"method": "facilitator.settle", "mode": "http_500", "error_rate": 0.5, "seed": 5},
    ),
    "rpc_tx_error": (
        "harness",
        {"method": "getTransaction", "mode": "rpc_error", "error_rate": 0.5, "seed": 7},
    ),
    "rpc_latency": ("harness", {"method": "*", "delay_ms": 30}),
}
_n = itertools.count()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    with (
        run_harness(tmp_path_factory.mktemp("h"), slot_ms=20) as h,
        run_mock_api(
            facilitator_url=h.facilitator_url, rpc_url=h.rpc_url, cash_mint=h.cash_mint
        ) as api,
    ):
        yield h, api


class LedgerMachine(RuleBasedStateMachine):
    h: Any
    api: Any
    engine: sa.Engine
    home: Path
    database_url: str

    def __init__(self) -> None:
        super().__init__()
        n = next(_n)
        self.keypair_path = self.home / f"machine-{n}.json"
        self.name = f"machine-{n}"
        settings = replace(
            load_settings({}),
            home=self.home,
            solana_rpc_url=self.h.rpc_url,
            facilitator_url=self.h.facilitator_url,
            premium_api_url=self.api.url,
            cash_mint=self.h.cash_mint,
            keypair_path=self.keypair_path,
        )
        self.agent = Agent(
            settings,
            self.engine,
            name=self.name,
            retry_base=0.01,
            http_timeout=3.0,
            breaker_threshold=1000,
        )
        policies.update(
            self.agent.session(),
            self.agent.agent_id,
            hourly_cap=HOURLY_CAP,
            daily_cap=HOURLY_CAP,
            allowed_assets=["USDC"],
        )
        self.funded = Decimal("0.2")
        self.h.fund(self.agent.address, usdc=self.funded)

    def teardown(self) -> None:
        self.h.clear_faults()
        self.agent.close()

    # ---------------------------------------------------------------- rules
    @rule(path=st.sampled_from(PATHS))
    def fetch(self, path: str) -> None:
        result = self.agent.fetch(self.api.url + path)
        assert result.status in ("ACCESSED", "FAILED")

    @rule(path=st.sampled_from(PATHS), fault=st.sampled_from(sorted(FAULTS)))
    def fetch_under_fault(self, path: str, fault: str) -> None:
        where, spec = FAULTS[fault]
        if where == "harness":
            self.h.set_fault(**spec)
        else:
            import requests

            requests.post(self.api.url + "/_mock/faults", json=spec, timeout=5).close()
        try:
            self.agent.fetch(self.api.url + path)
        finally:
            self.h.clear_faults()
            import requests

            requests.delete(self.api.url + "/_mock/faults", timeout=5).close()

    @rule(point=st.sampled_from(crash.POINTS), path=st.sampled_from(PATHS))
    def crash_and_restart(self, point: str, path: str) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url.replace("+psycopg", ""),
            "AUTOPAY_HOME": str(self.home),
            "AUTOPAY_KEYPAIR": str(self.keypair_path),
            "AUTOPAY_AGENT_NAME": self.name,
            "SOLANA_RPC_URL": self.h.rpc_url,
            "X402_FACILITATOR_URL": self.h.facilitator_url,
            "PREMIUM_API_URL": self.api.url,
            "CASH_MINT": self.h.cash_mint,
            "AUTOPAY_RETRY_BASE_S": "0.01",
            "AUTOPAY_CRASH_AT": point,
        }
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                "from autopay_app.cli import main; main()",
                "fetch",
                self.api.url + path,
            ],
            env=env,
            capture_output=True,
            timeout=60,
        )
        assert done.returncode in (crash.EXIT_CODE, 1), done.stderr[-2000:]

    @rule(amount=st.sampled_from(["0.05", "0.1", "0.3"]))
    def top_up(self, amount: str) -> None:
        self.h.fund(self.agent.address, usdc=amount)
        self.funded += Decimal(amount)

    @rule()
    def reconcile(self) -> None:
        self.h.advance_slots(400)  # every outstanding blockhash expires: fates are decidable
        self.agent.reconcile(older_than_s=0)
        assert self._sum("status = 'VERIFIED'") == self._spent_on_chain()
        assert self._count("api_requests", "status NOT IN ('ACCESSED', 'FAILED')") == 0
        assert self._count("payments", "status IN ('INITIATED', 'SIGNED', 'CONFIRMED')") == 0

    # ----------------------------------------------------------- invariants
    @invariant()
    def money_is_conserved_within_what_was_committed(self) -> None:
        spent = self._spent_on_chain()
        assert self._sum("status = 'VERIFIED'") <= spent <= self._sum("status <> 'FAILED'")

    @invariant()
    def caps_are_never_exceeded(self) -> None:
        assert self._sum("status <> 'FAILED'") <= HOURLY_CAP

    @invariant()
    def no_balance_is_negative(self) -> None:
        assert self.agent.chain.balances(self.agent.address).usdc >= 0
        assert self._count("wallet_balances", "balance_usdc < 0 OR balance_cash < 0") == 0

    @invariant()
    def every_status_change_is_exactly_one_audit_event(self) -> None:
        """Per payment and per request, the status events chain from nothing to the row's
        status, one event per transition, each naming the agent as its actor."""
        for table, key in (("payments", "payment_id"), ("api_requests", "api_request_id")):
            with self.engine.connect() as conn:
                histories = conn.execute(
                    sa.text(
                        f"SELECT t.status::text, array_agg(e.details->>'from' ORDER BY "
                        f"e.created_at), array_agg(e.details->>'to' ORDER BY e.created_at), "
                        f"array_agg(e.details->>'actor') FROM {table} t JOIN audit_events e "
                        f"ON e.related_id = t.id AND e.details ? '{key}' AND e.details ? 'to' "
                        f"WHERE t.agent_id = :a GROUP BY t.id, t.status"
                    ),
                    {"a": self.agent.agent_id},
                ).all()
            assert len(histories) == self._count(table, "true")  # every row has its history
            for status, moves_from, moves_to, actors in histories:
                assert moves_from == [None, *moves_to[:-1]], (table, moves_from, moves_to)
                assert moves_to[-1] == status and None not in moves_to
                assert all(a != b for a, b in zip(moves_from[1:], moves_to[1:], strict=True))
                assert {a.split(":")[0] for a in actors} == {"agent"}, actors

    # -------------------------------------------------------------- helpers
    def _spent_on_chain(self) -> Decimal:
        return self.funded - self.agent.chain.balances(self.agent.address).usdc

    def _sum(self, where: str) -> Decimal:
        with self.engine.connect() as conn:
            return Decimal(
                conn.scalar(
                    sa.text(
                        "SELECT coalesce(sum(amount), 0) FROM payments "
                        f"WHERE agent_id = :a AND {where}"
                    ),
                    {"a": self.agent.agent_id},
                )
            )

    def _count(self, table: str, where: str) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.scalar(
                    sa.text(f"SELECT count(*) FROM {table} WHERE agent_id = :a AND {where}"),
                    {"a": self.agent.agent_id},
                )
            )


def test_ledger_state_machine(stack: tuple[Any, Any], database_url: str, tmp_path: Path) -> None:
    h, api = stack
    engine = sa.create_engine(database_url)
    LedgerMachine.h, LedgerMachine.api, LedgerMachine.engine = h, api, engine
    LedgerMachine.home, LedgerMachine.database_url = tmp_path, database_url
    try:
        run_state_machine_as_test(
            LedgerMachine,
            settings=settings(
                max_examples=6,
                stateful_step_count=10,
                deadline=None,
                suppress_health_check=list(HealthCheck),
            ),
        )
    finally:
        engine.dispose()
