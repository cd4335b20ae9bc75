"""Per-agent tick intervals: who is due, and when the job runs next."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from autopay_app.scheduler import cadence

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_interval_is_the_agents_own_or_the_default() -> None:
    assert cadence.interval_s(None, 60.0) == 60.0
    assert cadence.interval_s(Decimal("2.5"), 60.0) == 2.5


def test_an_agent_is_due_once_its_interval_has_passed_since_its_last_tick() -> None:
    assert cadence.due_at(None, 30.0, NOW) == NOW  # never ticked: due now
    last = NOW - timedelta(seconds=20)
    due = cadence.due_at(last, 30.0, NOW)
    assert due == NOW + timedelta(seconds=10) and not cadence.is_due(due, NOW)
    assert cadence.is_due(due, NOW + timedelta(seconds=10))
    assert cadence.is_due(due, NOW + timedelta(seconds=9.97))  # a job waking a little early
    assert not cadence.is_due(due, NOW + timedelta(seconds=9.9))
    # a clock that went back waits at most one interval from now
    ahead = NOW + timedelta(hours=5)
    assert cadence.due_at(ahead, 30.0, NOW) == NOW + timedelta(seconds=30)
