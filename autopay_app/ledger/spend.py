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


def spent_since(
    session: Session, agent_id: uuid.UUID, hours: int, endpoint: str | None = None
) -> Decimal:
    """What the agent committed (every payment not FAILED) in the last ``hours``."""
    query = sa.select(sa.func.coalesce(sa.func.sum(Payment.amount), 0)).where(
        Payment.agent_id == agent_id,
        Payment.status != PaymentStatus.FAILED,
        Payment.created_at > sa.func.now() - sa.func.make_interval(0, 0, 0, 0, hours),
    )
    if endpoint is not None:
        query = query.join(ApiRequest, ApiRequest.id == Payment.api_request_id).where(
            ApiRequest.endpoint == endpoint
        )
    return Decimal(session.scalar(query) or 0)


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
        hour, day = spent_since(session, agent_id, 1), spent_since(session, agent_id, 24)
        per_api = endpoint in (policy.api_caps or {})
        api_hour = spent_since(session, agent_id, 1, endpoint) if per_api else None
        api_day = spent_since(session, agent_id, 24, endpoint) if per_api else None
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
