"""Budget pacing: a token bucket that spreads the daily budget over the day.

The bucket fills at ``daily_budget / 86400`` per second and holds at most
``capacity = max(burst_fraction * daily_budget, dearest price)`` (so every
API stays affordable eventually); every purchase takes its price out::

    tokens(t) = min(capacity, tokens(t0) + daily_budget * (t - t0) / 86400)
    allowance this tick = min(tokens(t), hourly cap left, daily budget left)

A fresh bucket starts full. Over any 24 hours the agent spends at most
``capacity + daily_budget``, and in any hour about 1/24 of the budget (+ the
burst), instead of the whole budget in the first minutes; the hard ceiling of
``daily_budget`` per rolling 24 hours is enforced separately by the ranker.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

DAY_S = Decimal(86400)


def capacity(daily_budget: Decimal, burst_fraction: Decimal, dearest: Decimal) -> Decimal:
    """Size of the bucket."""
    return max(daily_budget * burst_fraction, dearest)


def rate_per_s(daily_budget: Decimal) -> Decimal:
    return daily_budget / DAY_S


def refill(
    tokens: Decimal | None, at: datetime | None, now: datetime, daily_budget: Decimal, cap: Decimal
) -> Decimal:
    """Tokens in the bucket at ``now`` (a new bucket, or a clock going back, adds nothing)."""
    if tokens is None or at is None:
        return cap
    elapsed = max(Decimal(str((now - at).total_seconds())), Decimal(0))
    return min(cap, tokens + rate_per_s(daily_budget) * elapsed)


def seconds_until(tokens: Decimal, price: Decimal, daily_budget: Decimal) -> float:
    """How long until the bucket holds ``price`` (0 when it already does)."""
    if tokens >= price:
        return 0.0
    if daily_budget <= 0:
        return float("inf")
    return float((price - tokens) / rate_per_s(daily_budget))
