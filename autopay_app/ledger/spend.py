"""Spend windows and reservations: caps hold under concurrency.

A payment is reserved by one statement, ``autopay_reserve_payment()`` (migration
0016, :func:`autopay_app.ledger.payments.reserve`): it takes a per-agent advisory
lock, then re-reads (with a snapshot taken after the lock was granted) what the
agent has already committed in the rolling hour and day, per agent and per API,
and inserts the row (INITIATED, or SIGNED with bytes signed before the lock) only
if the caps allow it, so two payments that together exceed a cap cannot both be
reserved. :func:`checked` says why a reservation was refused. A reservation is
released by marking the payment FAILED (failed payments do not count); a refused
or rolled-back reservation leaves no row at all.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.models import (
    SpendMinute,
    SpendPolicy,
)


class CapExceeded(Exception):
    """A reservation would exceed a cap; the message says which."""


class Unsettled(Exception):
    """An earlier payment for the same resource may still land: settle it first."""


@dataclass(frozen=True)
class _Caps:
    per_request_cap: Decimal
    hourly_cap: Decimal
    daily_cap: Decimal
    api_caps: dict[str, Any] | None


def _spent(
    agent_id: uuid.UUID | sa.BindParameter[Any], endpoint: str | sa.BindParameter[Any] | None = None
) -> sa.Select[Decimal, Decimal]:
    """What the agent committed (every payment not FAILED) in the last hour and day, from
    the per-minute sums (:class:`~autopay_app.models.SpendMinute`): a window starts at
    the minute boundary before ``now - length``, so it errs by at most a minute on the
    safe side."""
    hour = sa.func.date_trunc("minute", sa.func.now() - sa.text("interval '1 hour'"))
    day = sa.func.date_trunc("minute", sa.func.now() - sa.text("interval '1 day'"))
    query = sa.select(
        sa.func.coalesce(
            sa.func.sum(SpendMinute.amount).filter(SpendMinute.minute >= hour), 0
        ).label("hour"),
        sa.func.coalesce(sa.func.sum(SpendMinute.amount), 0).label("day"),
    ).where(SpendMinute.agent_id == agent_id, SpendMinute.minute >= day)
    if endpoint is not None:
        query = query.where(SpendMinute.endpoint == endpoint)
    return query


def windows(
    session: Session | sa.Connection, agent_id: uuid.UUID, endpoint: str | None = None
) -> tuple[Decimal, Decimal]:
    """What the agent committed (every payment not FAILED) in the last hour and day."""
    spent_hour, spent_day = session.execute(_spent(agent_id, endpoint)).one()
    return Decimal(str(spent_hour)), Decimal(str(spent_day))


def spent_since(
    session: Session, agent_id: uuid.UUID, hours: int, endpoint: str | None = None
) -> Decimal:
    """What the agent committed in the last ``hours`` (1 or 24)."""
    if hours not in (1, 24):
        raise ValueError("spend windows are 1 and 24 hours")
    spent_hour, spent_day = windows(session, agent_id, endpoint)
    return spent_hour if hours == 1 else spent_day


def _check(
    policy: SpendPolicy | _Caps,
    amount: Decimal,
    hour: Decimal,
    day: Decimal,
    api_hour: Decimal | None,
    api_day: Decimal | None,
    endpoint: str,
) -> None:
    if amount > policy.per_request_cap:
        raise CapExceeded(f"{amount} is above the per-request cap {policy.per_request_cap}")
    if hour + amount > policy.hourly_cap:
        raise CapExceeded(f"hourly cap {policy.hourly_cap}: {hour} spent, {amount} more refused")
    if day + amount > policy.daily_cap:
        raise CapExceeded(f"daily cap {policy.daily_cap}: {day} spent, {amount} more refused")
    caps = (policy.api_caps or {}).get(endpoint) or {}
    for window, spent in (("hourly", api_hour), ("daily", api_day)):
        cap = caps.get(window)
        if cap is not None and spent is not None and spent + amount > Decimal(str(cap)):
            raise CapExceeded(f"{window} cap {cap} for {endpoint}: {spent} spent")


def checked(
    row: dict[str, Any] | None, amount: Decimal, endpoint: str, url: str | None
) -> tuple[Decimal, Decimal]:
    """Check ``amount`` against the caps read under the spend lock (``row``: what
    ``autopay_reserve_payment()`` read, migration 0016); returns the hour's and the day's
    spend before it. The function decides with the same rules; this says why it refused.

    Raises:
        CapExceeded: A cap would be exceeded.
        Unsettled: An earlier payment for ``url`` is SIGNED and its request FAILED:
            its fate must be settled from the chain before paying again.
    """
    if row is None:
        raise CapExceeded("the agent has no spend policy")
    if row["unsettled"]:
        raise Unsettled(f"an earlier payment for {url} is not settled")
    policy = _Caps(row["per_request_cap"], row["hourly_cap"], row["daily_cap"], row["api_caps"])
    hour, day = Decimal(row["hour"]), Decimal(row["day"])
    capped = endpoint in (row["api_caps"] or {})
    api_hour = Decimal(row["api_hour"]) if capped else None
    api_day = Decimal(row["api_day"]) if capped else None
    _check(policy, amount, hour, day, api_hour, api_day, endpoint)
    return hour, day
