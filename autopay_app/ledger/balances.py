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

_SNAPSHOT_COLUMNS = "balance_sol, balance_usdc, balance_cash, last_checked, low_balance_event"
#: One statement per asset column (names from this table only, never from input).
_SET_ASSET = {
    asset: f"""
WITH {direct.NO_FLUSH_CTE}
UPDATE wallet_balances SET {column} = %(amount)s
FROM no_flush
WHERE agent_id = %(agent_id)s AND wallet_address = %(address)s AND NOT low_balance_event
  AND %(amount)s >= threshold
RETURNING {_SNAPSHOT_COLUMNS}
"""  # a lost write is read again from the chain: its commit does not wait for the flush
    for asset, column in (("USDC", "balance_usdc"), ("CASH", "balance_cash"))
}
_SNAPSHOT = f"""
SELECT {_SNAPSHOT_COLUMNS} FROM wallet_balances WHERE agent_id = %(agent_id)s
ORDER BY last_checked DESC LIMIT 1
"""


@dataclass(frozen=True)
class Snapshot:
    """What the balance guard decides on: the agent's latest row, as plain values."""

    sol: Decimal
    usdc: Decimal
    cash: Decimal
    last_checked: datetime
    low_balance_event: bool

    @property
    def read(self) -> BalanceRead:
        return BalanceRead(self.sol, self.usdc, self.cash)


def snapshot(conn: direct.Connection, agent_id: uuid.UUID) -> Snapshot | None:
    """The agent's latest balance row (one prepared statement; the guard's hot read)."""
    row = conn.execute(_SNAPSHOT, {"agent_id": agent_id}, prepare=True).fetchone()
    return Snapshot(*row) if row else None


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
) -> Snapshot | None:
    """Set one asset's balance on the agent's row, as read after a payment; returns the
    row as written.

    One statement on an autocommit ``conn``. It writes nothing, and returns None,
    when there is no row yet, the row is paused (low), or ``amount`` is below the
    threshold: a low/not-low change goes through :func:`record`, which writes its
    LOW_BALANCE event. ``last_checked`` stays the time of the last full read.
    """
    params = {"agent_id": agent_id, "address": address, "amount": amount}
    row = conn.execute(_SET_ASSET[asset], params, prepare=True).fetchone()
    return Snapshot(*row) if row else None


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
