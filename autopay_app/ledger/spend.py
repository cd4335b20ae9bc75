"""Spend windows and reservations: caps hold under concurrency.

A payment is reserved by inserting its row (status INITIATED) inside a
transaction that holds a per-agent advisory lock and re-reads what the agent
has already committed in the rolling hour and day (per agent and per API).
Two payments that together exceed a cap cannot both be reserved; a reservation
is released by marking the payment FAILED (failed payments do not count).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.models import ApiRequest, Currency, Payment, PaymentStatus, SpendPolicy


class CapExceeded(Exception):
    """A reservation would exceed a cap; the message says which."""


@dataclass(frozen=True)
class Reservation:
    payment_id: uuid.UUID
    spent_hour: Decimal
    spent_day: Decimal


def windows(
    session: Session, agent_id: uuid.UUID, endpoint: str | None = None
) -> tuple[Decimal, Decimal]:
    """What the agent committed (every payment not FAILED) in the last hour and day."""
    hour = sa.func.now() - sa.text("interval '1 hour'")
    day = sa.func.now() - sa.text("interval '1 day'")
    query = sa.select(
        sa.func.coalesce(sa.func.sum(Payment.amount).filter(Payment.created_at > hour), 0),
        sa.func.coalesce(sa.func.sum(Payment.amount), 0),
    ).where(
        Payment.agent_id == agent_id,
        Payment.status != PaymentStatus.FAILED,
        Payment.created_at > day,
    )
    if endpoint is not None:
        query = query.join(ApiRequest, ApiRequest.id == Payment.api_request_id).where(
            ApiRequest.endpoint == endpoint
        )
    spent_hour, spent_day = session.execute(query).one()
    return Decimal(spent_hour), Decimal(spent_day)


def spent_since(
    session: Session, agent_id: uuid.UUID, hours: int, endpoint: str | None = None
) -> Decimal:
    """What the agent committed in the last ``hours`` (1 or 24)."""
    if hours not in (1, 24):
        raise ValueError("spend windows are 1 and 24 hours")
    spent_hour, spent_day = windows(session, agent_id, endpoint)
    return spent_hour if hours == 1 else spent_day


def _check(
    policy: SpendPolicy,
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


def reserve(
    session: Session,
    *,
    agent_id: uuid.UUID,
    request_id: uuid.UUID,
    amount: Decimal,
    currency: Currency,
    amount_atomic: int,
    asset_mint: str,
    pay_to: str,
    network: str,
    facilitator_url: str | None,
    x402_version: int,
    endpoint: str,
) -> Reservation:
    """Reserve ``amount`` for a payment, or raise :class:`CapExceeded`."""
    with session.begin():
        session.execute(
            sa.select(
                sa.func.pg_advisory_xact_lock(
                    sa.func.hashtextextended("autopay-spend:" + str(agent_id), 0)
                )
            )
        )
        policy = session.scalar(sa.select(SpendPolicy).where(SpendPolicy.agent_id == agent_id))
        if policy is None:
            raise CapExceeded("the agent has no spend policy")
        hour, day = windows(session, agent_id)
        api_hour: Decimal | None = None
        api_day: Decimal | None = None
        if endpoint in (policy.api_caps or {}):
            api_hour, api_day = windows(session, agent_id, endpoint)
        _check(policy, amount, hour, day, api_hour, api_day, endpoint)
        payment = Payment(
            api_request_id=request_id,
            agent_id=agent_id,
            amount=amount,
            currency=currency,
            amount_atomic=amount_atomic,
            asset_mint=asset_mint,
            pay_to=pay_to,
            network=network,
            facilitator_url=facilitator_url,
            x402_version=x402_version,
            status=PaymentStatus.INITIATED,
        )
        session.add(payment)
    return Reservation(payment.id, hour, day)
