"""Per-agent tick intervals: the prioritizer job ticks each agent on its own cadence."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from autopay_app.agent import Agent
from autopay_app.ledger import job_runs, monitoring
from autopay_app.models import MonitorSettings
from autopay_app.scheduler import tick as tick_module
from autopay_app.scheduler.core import run_recorded
from autopay_app.scheduler.jobs import prioritizer_job
from autopay_app.web import phase3_panel
from tests.e2e.scheduler.conftest import Stack, config, monitor


def _two_agents(phase3_agent: Callable[..., Agent], stack: Stack, app_for: Any) -> tuple:
    slow, fast = phase3_agent(usdc=1), phase3_agent(usdc=1)
    for agent in (slow, fast):
        monitor(agent, stack, {"/api/knowledge/insights": "1"})
    monitoring.update_settings(slow.session(), slow.agent_id, tick_seconds=Decimal(3600))
    app = app_for(slow)
    app.extensions["autopay_agents"][fast.name] = fast
    return app, slow, fast


def _job(app: Any, tick_s: float = 60.0) -> dict[str, Any]:
    with app.app_context():
        return prioritizer_job(app, config(tick_s=tick_s))


def _age(engine: sa.Engine, agent: Agent, seconds: float) -> None:
    """Move the agent's last tick ``seconds`` into the past (as if time went by)."""
    with engine.begin() as conn:
        conn.execute(
            sa.update(MonitorSettings)
            .where(MonitorSettings.agent_id == agent.agent_id)
            .values(last_tick_at=MonitorSettings.last_tick_at - timedelta(seconds=seconds))
        )


def test_each_agent_ticks_when_its_own_interval_has_passed(
    stack: Stack,
    phase3_agent: Callable[..., Agent],
    app_for: Callable[[Agent], Any],
    engine: sa.Engine,
) -> None:
    app, slow, fast = _two_agents(phase3_agent, stack, app_for)
    started = datetime.now(UTC)
    first = _job(app)
    assert set(first["agents"]) == {slow.name, fast.name} and first["errors"] == []
    assert first["agents"][slow.name]["tick_s"] == 3600.0
    assert first["agents"][fast.name]["tick_s"] == 60.0
    # the next run is when the earliest agent (the default 60 s) is due again
    next_run = datetime.fromisoformat(first["next_run_at"])
    assert started + timedelta(seconds=59) < next_run < datetime.now(UTC) + timedelta(seconds=61)

    again = _job(app)
    assert again["agents"] == {} and set(again["waiting"]) == {slow.name, fast.name}
    assert 3500 < again["waiting"][slow.name] <= 3600 and 50 < again["waiting"][fast.name] <= 60

    _age(engine, slow, 61)
    _age(engine, fast, 61)
    third = _job(app)
    assert set(third["agents"]) == {fast.name} and set(third["waiting"]) == {slow.name}

    _age(engine, slow, 3600)
    assert set(_job(app)["agents"]) == {slow.name}

    # a shorter interval set from the dashboard or the CLI is honoured at the next run
    monitoring.update_settings(fast.session(), fast.agent_id, tick_seconds=Decimal(5))
    _age(engine, fast, 5)
    fourth = _job(app)
    assert set(fourth["agents"]) == {fast.name} and fourth["agents"][fast.name]["tick_s"] == 5.0
    next_run = datetime.fromisoformat(fourth["next_run_at"])
    assert next_run <= datetime.now(UTC) + timedelta(seconds=5)
    last = phase3_panel.settings_summary(fast.session(), fast.agent_id)["last_tick_at"]
    assert last is not None and datetime.fromisoformat(last) > started


def test_a_failed_tick_is_recorded_and_not_retried_before_its_interval(
    stack: Stack,
    phase3_agent: Callable[..., Agent],
    app_for: Callable[[Agent], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    agent = phase3_agent(usdc=1)
    monitor(agent, stack, {"/api/knowledge/insights": "1"})
    monitoring.update_settings(agent.session(), agent.agent_id, tick_seconds=Decimal(600))
    app = app_for(agent)
    calls = []

    def broken(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("now"))
        raise RuntimeError("seller exploded")

    monkeypatch.setattr(tick_module, "tick", broken)
    outcome = run_recorded(app, "prioritizer", config(tick_s=60.0))
    assert outcome is not None and outcome["errors"] == [
        f"{agent.name}: RuntimeError: seller exploded"
    ]
    assert len(calls) == 1
    later = _job(app)
    assert len(calls) == 1 and 590 < later["waiting"][agent.name] <= 600
    runs = [r for r in job_runs.recent(agent.session()) if r.job == "prioritizer"]
    assert runs[0].status == "ERROR" and "seller exploded" in runs[0].error
