"""Per-agent tick intervals: which agents are due, and when the prioritizer job runs next.

Each agent ticks every ``monitor_settings.tick_seconds`` (NULL: the scheduler's
``AUTOPAY_TICK_S``), counted from ``last_tick_at``, the start of its last tick.
The prioritizer job runs every ``AUTOPAY_TICK_S``; after each run it reports
when the earliest agent falls due and the scheduler pulls the job's next run
forward to that moment. So an agent with a shorter interval ticks on time,
one with a longer interval is skipped until its time comes, and an interval
changed from the CLI or the dashboard is seen within ``AUTOPAY_TICK_S``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

#: A tick this close to due counts as due: the job may wake a little early.
EARLY_S = 0.05


def interval_s(tick_seconds: Decimal | None, default_s: float) -> float:
    """The agent's tick interval in seconds (``default_s`` when it has none of its own)."""
    return default_s if tick_seconds is None else float(tick_seconds)


def due_at(last_tick: datetime | None, interval: float, now: datetime) -> datetime:
    """When the agent is next due: ``now`` if it never ticked, else one interval after.

    A clock that went back (``last_tick`` in the future) delays the agent by at
    most one interval from ``now``.
    """
    if last_tick is None:
        return now
    step = timedelta(seconds=interval)
    return min(last_tick + step, now + step)


def is_due(at: datetime, now: datetime) -> bool:
    """Has ``at`` come (give or take :data:`EARLY_S`)?"""
    return (at - now).total_seconds() <= EARLY_S
