"""Scheduler end-to-end fixtures: the lead's stack (harness + mock API) and funded agents."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from autopay_app.agent import Agent
from autopay_app.ledger import monitoring
from autopay_app.models import Agent as AgentRow
from autopay_app.models import AutonomyLevel
from autopay_app.scheduler.config import SchedulerConfig
from tests.e2e.agent.conftest import Stack, agent_env, engine, make_agent, stack  # noqa: F401

#: The mock API's catalog: path -> (USDC price, ttl seconds).
CATALOG = {
    "/api/market-feed": (Decimal("0.01"), 15),
    "/api/arbitrage-signals": (Decimal("0.05"), 5),
    "/api/knowledge/insights": (Decimal("0.02"), 300),
    "/api/knowledge/sentiment": (Decimal("0.01"), 60),
}


@pytest.fixture()
def phase3_agent(
    make_agent: Callable[..., Agent],  # noqa: F811
    engine: sa.Engine,  # noqa: F811
) -> Callable[..., Agent]:
    """``phase3_agent(usdc=1, **agent_options)``: a funded agent switched to PHASE3."""

    def make(usdc: Any = 1, cash: Any = 0, **options: Any) -> Agent:
        agent = make_agent(usdc=usdc, cash=cash, **options)
        with engine.begin() as conn:
            conn.execute(
                sa.update(AgentRow)
                .where(AgentRow.id == agent.agent_id)
                .values(autonomy_level=AutonomyLevel.PHASE3)
            )
        return agent

    return make


def monitor(agent: Agent, stack: Stack, weights: dict[str, str], **settings: Any) -> None:  # noqa: F811
    """Monitor ``path -> weight`` on the stack's API, with the given budget settings."""
    session = agent.session()
    monitoring.ensure_settings(
        session,
        agent.agent_id,
        Decimal(settings.pop("daily_budget", "5")),
        Decimal(settings.pop("burst_fraction", "0.05")),
        int(settings.pop("max_buys_per_tick", 5)),
    )
    for path, weight in weights.items():
        monitoring.upsert_api(session, agent.agent_id, stack.url(path), weight=Decimal(weight))


def config(**changes: Any) -> SchedulerConfig:
    return replace(SchedulerConfig(), **changes)


@pytest.fixture()
def app_for(database_url: str, tmp_path: Any) -> Any:
    """``app_for(agent)``: a Flask app on the test database whose running agent is ``agent``."""
    from autopay_app import create_app
    from autopay_app.extensions import db

    apps = []

    def make(agent: Agent) -> Any:
        app = create_app(
            {
                "TESTING": True,
                "SQLALCHEMY_DATABASE_URI": database_url,
                "AUTOPAY_EXTERNAL_DB": True,
                "AUTOPAY_SETTINGS": agent.settings,
            }
        )
        app.extensions["autopay_agents"] = {"__default__": agent, agent.name: agent}
        apps.append(app)
        return app

    yield make
    for app in apps:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture()
def drain(app_for: Any) -> Callable[[Agent], None]:
    """``drain(agent)``: a real procrastinate worker runs the agent's queued paid fetches
    until the queue is empty (what ``autopay worker`` does, without waiting for more)."""
    from autopay_app.ledger import queue
    from autopay_app.tasks import worker

    apps: dict[str, Any] = {}

    def run(agent: Agent) -> None:
        app = apps.get(agent.name) or apps.setdefault(agent.name, app_for(agent))
        # A worker that finds only jobs whose per-agent lock is taken stops: go again.
        while queue.open_jobs(agent.session(), agent.name):
            worker.run(app, wait=False)

    return run
