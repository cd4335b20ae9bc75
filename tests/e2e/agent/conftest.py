"""End-to-end fixtures: a real harness, facilitator and mock API, and agents on a test database."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from autopay_app.agent import Agent
from autopay_app.config import load_settings
from harness.testing import HarnessInfo, run_harness
from mock_premium_api.testing import MockApiInfo, run_mock_api

_n = itertools.count()


@dataclass(frozen=True)
class Stack:
    harness: HarnessInfo
    api: MockApiInfo

    def url(self, path: str) -> str:
        return self.api.url + path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state = tmp_path_factory.mktemp("harness")
    with (
        run_harness(state, slot_ms=20) as h,
        run_mock_api(
            facilitator_url=h.facilitator_url, rpc_url=h.rpc_url, cash_mint=h.cash_mint
        ) as api,
    ):
        yield Stack(h, api)


@pytest.fixture()
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(database_url, pool_size=12)
    yield engine
    engine.dispose()


def allow(agent: Agent, hosts: list[str], recipients: list[str] | None = None) -> None:
    """Open the agent's policy to other sellers (what ``autopay agent policy`` does)."""
    from autopay_app.ledger import policies

    policies.update(
        agent.session(), agent.agent_id, allowed_hosts=hosts, allowed_recipients=recipients or []
    )
    agent.forget("policy")


def agent_env(stack: Stack, home: Path, database_url: str) -> dict[str, str]:
    """Environment for an ``autopay`` subprocess talking to this stack and database."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "AUTOPAY_HOME": str(home),
        "SOLANA_RPC_URL": stack.harness.rpc_url,
        "X402_FACILITATOR_URL": stack.harness.facilitator_url,
        "PREMIUM_API_URL": stack.api.url,
        "CASH_MINT": stack.harness.cash_mint,
        "AUTOPAY_RETRY_BASE_S": "0.01",
        "AUTOPAY_HTTP_TIMEOUT_S": "5",
    }


@pytest.fixture()
def make_agent(stack: Stack, engine: sa.Engine, tmp_path: Path) -> Iterator[Callable[..., Agent]]:
    """``make_agent(usdc=1, cash=1, **agent_options)``: a funded agent with its own keypair."""
    made: list[Agent] = []

    def make(usdc: Any = 1, cash: Any = 1, **options: Any) -> Agent:
        n = next(_n)
        settings = replace(
            load_settings({}),
            home=tmp_path,
            solana_rpc_url=stack.harness.rpc_url,
            facilitator_url=stack.harness.facilitator_url,
            premium_api_url=stack.api.url,
            cash_mint=stack.harness.cash_mint,
            keypair_path=tmp_path / f"agent-{n}.json",
        )
        options.setdefault("retry_base", 0.01)
        options.setdefault("http_timeout", 5.0)
        agent = Agent(settings, engine, **options)
        made.append(agent)
        stack.harness.fund(agent.address, usdc=usdc, cash=cash)
        return agent

    yield make
    for agent in made:
        agent.close()
