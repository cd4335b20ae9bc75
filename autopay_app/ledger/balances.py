"""Wallet balance reads: the latest per agent, and the low-balance transitions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from autopay_app.ledger import direct
from autopay_app.models import AuditEvent, AuditEventType, Severity, WalletBalance

#: One statement per asset column (names from this table only, never from input).
_SET_ASSET = {
    asset: f"""
UPDATE wallet_balances SET {column} = %(amount)s
WHERE agent_id = %(agent_id)s AND wallet_address = %(address)s AND NOT low_balance_event
  AND %(amount)s >= threshold
"""
    for asset, column in (("USDC", "balance_usdc"), ("CASH", "balance_cash"))
}


@dataclass(frozen=True)
class BalanceRead:
    sol: Decimal
    usdc: Decimal
    cash: Decimal

    def of(self, asset: str) -> Decimal:
        return {"SOL": self.sol, "USDC": self.usdc, "CASH": self.cash}[asset]


def latest(session: Session, agent_id: uuid.UUID) -> WalletBalance | None:
    with session.begin():
        return session.scalar(
            sa.select(WalletBalance)
            .where(WalletBalance.agent_id == agent_id)
            .order_by(WalletBalance.last_checked.desc())
            .limit(1)
        )


def set_asset(
    conn: direct.Connection, agent_id: uuid.UUID, address: str, asset: str, amount: Decimal
) -> bool:
    """Set one asset's balance on the agent's row, as read after a payment.

    One statement on an autocommit ``conn``. It writes nothing, and returns False,
    when there is no row yet, the row is paused (low), or ``amount`` is below the
    threshold: a low/not-low change goes through :func:`record`, which writes its
    LOW_BALANCE event. ``last_checked`` stays the time of the last full read.
    """
    params = {"agent_id": agent_id, "address": address, "amount": amount}
    return conn.execute(_SET_ASSET[asset], params, prepare=True).rowcount == 1


def top_up(address: str, asset: str, have: Decimal, need: Decimal) -> dict[str, str]:
    return {
        "address": address,
        "asset": asset,
        "amount": str(max(need - have, Decimal(0))),
        "how": f"autopay fund {address} --{asset.lower()} {max(need - have, Decimal(0))}",
    }


def record(
    session: Session,
    agent_id: uuid.UUID,
    address: str,
    read: BalanceRead,
    threshold: Decimal,
    low_assets: list[str],
) -> WalletBalance:
    """Upsert the balance row; on a change of low/not-low write LOW_BALANCE or a resume event."""
    now = datetime.now(UTC)
    low = bool(low_assets)
    with session.begin():
        was = session.scalar(
            sa.select(WalletBalance.low_balance_event).where(
                WalletBalance.agent_id == agent_id, WalletBalance.wallet_address == address
            )
        )
        session.execute(
            insert(WalletBalance)
            .values(
                agent_id=agent_id,
                wallet_address=address,
                balance_sol=read.sol,
                balance_usdc=read.usdc,
                balance_cash=read.cash,
                threshold=threshold,
                last_checked=now,
                low_balance_event=low,
            )
            .on_conflict_do_update(
                constraint="uq_wallet_balances_agent_wallet",
                set_={
                    "balance_sol": read.sol,
                    "balance_usdc": read.usdc,
                    "balance_cash": read.cash,
                    "threshold": threshold,
                    "last_checked": now,
                    "low_balance_event": low,
                },
            )
        )
        if low and not was:
            session.add(
                AuditEvent(
                    agent_id=agent_id,
                    event_type=AuditEventType.LOW_BALANCE,
                    severity=Severity.WARNING,
                    details={
                        "state": "PAUSED",
                        "assets": low_assets,
                        "threshold": str(threshold),
                        "balances": {
                            "USDC": str(read.usdc),
                            "CASH": str(read.cash),
                            "SOL": str(read.sol),
                        },
                        "top_up": [
                            top_up(address, a, read.of(a), threshold * 10) for a in low_assets
                        ],
                    },
                )
            )
        elif was and not low:
            session.add(
                AuditEvent(
                    agent_id=agent_id,
                    event_type=AuditEventType.LOW_BALANCE,
                    severity=Severity.INFO,
                    details={
                        "state": "RESUMED",
                        "balances": {"USDC": str(read.usdc), "CASH": str(read.cash)},
                    },
                )
            )
        return session.scalars(
            sa.select(WalletBalance).where(
                WalletBalance.agent_id == agent_id, WalletBalance.wallet_address == address
            )
        ).one()
