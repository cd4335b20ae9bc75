"""Balance guard: no signing below the price or the threshold.

A WalletBalance row younger than ``max_age`` is trusted; otherwise (and always
while paused) the balance is read fresh from the RPC. The latest row is re-read
from the database at most once a second (its age is still the row's own). Below the amount or the
threshold: a LOW_BALANCE audit event with top-up instructions, payments paused
(InsufficientFunds, nothing signed); a later read with funds resumes them.

After every payment the row is refreshed from the chain (:meth:`after_payment`),
so the dashboard and the API show what the chain shows: in the background, on
the agent's I/O pool, so the payment itself waits for nothing. Concurrent
payments share the reads: one refresh runs at a time and reads again while
payments finished during its read, so the last read always follows the last
payment.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from autopay_app.agent.errors import AgentError, InsufficientFunds
from autopay_app.ledger import balances

if TYPE_CHECKING:
    from autopay_app.agent.core import Agent

LATEST = "latest-balance"
log = logging.getLogger(__name__)


class BalanceGuard:
    def __init__(self, agent: Agent, max_age_s: float) -> None:
        self.agent = agent
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._due: set[str] = set()  # assets paid since the last read
        self._refreshing = False
        self._idle = threading.Event()
        self._idle.set()

    def after_payment(self, asset: str) -> None:
        """Refresh the balance row after a payment in ``asset``, off the payment's path.

        Never raises: the payment's record is already written, and a failed read
        (RPC down) leaves the row to the next refresh. One read runs at a time; it
        reads again while payments finished during it, so the last read follows the
        last payment. A payment changes only its asset (the facilitator pays the
        fee): that balance is read and set in one statement, unless it crosses the
        threshold, which takes the full :meth:`refresh` and its LOW_BALANCE event.
        """
        with self._lock:
            self._due.add(asset)
            if self._refreshing:
                return  # the refresh running now reads again before it stops
            self._refreshing = True
            self._idle.clear()
        try:
            self.agent.in_background(self._refresh_until_current)
        except RuntimeError:  # the agent is closing: its pool takes no more work
            self._stop_refreshing()

    def wait_refreshed(self, timeout: float = 30.0) -> bool:
        """Wait until no post-payment refresh is running or due; False on timeout."""
        return self._idle.wait(timeout)

    def _refresh_until_current(self) -> None:
        while True:
            with self._lock:  # stop in the same critical section that saw nothing due
                if not self._due:
                    self._refreshing = False
                    self._idle.set()
                    return
                due, self._due = self._due, set()
            try:
                for asset in sorted(due):
                    self._refresh_asset(asset)
            except Exception as exc:  # noqa: BLE001 - see after_payment
                level = logging.WARNING if isinstance(exc, AgentError) else logging.ERROR
                log.log(level, "balance refresh after a payment failed: %s", exc)
                self._stop_refreshing()
                return

    def _stop_refreshing(self) -> None:
        with self._lock:
            self._refreshing = False
            self._due.clear()
            self._idle.set()

    def _refresh_asset(self, asset: str) -> None:
        agent = self.agent
        amount = agent.rpc(lambda c: c.token_balance(agent.address, asset))
        with agent.write() as conn:
            written = balances.set_asset(conn, agent.agent_id, agent.address, asset, amount)
        if written:
            agent.forget(LATEST)
        else:
            self.refresh()

    def refresh(self) -> balances.BalanceRead:
        """Read balances from the chain and record them (with pause/resume events)."""
        agent = self.agent
        read = agent.rpc(lambda c: c.balances(agent.address))
        row = balances.BalanceRead(read.sol, read.usdc, read.cash)
        threshold = agent.threshold
        low = [a for a in agent.policy().allowed_assets if row.of(a) < threshold]
        balances.record(agent.session(), agent.agent_id, agent.address, row, threshold, low)
        agent.forget(LATEST)
        return row

    def current(self) -> tuple[balances.BalanceRead, bool]:
        agent = self.agent
        row = agent.cached(LATEST, lambda: balances.latest(agent.session(), agent.agent_id))
        if row is not None and not row.low_balance_event:
            age = (datetime.now(UTC) - row.last_checked).total_seconds()
            if age <= self.max_age_s:
                return balances.BalanceRead(
                    row.balance_sol, row.balance_usdc, row.balance_cash
                ), False
        return self.refresh(), True

    def _covers(self, read: balances.BalanceRead, asset: str, amount: Decimal) -> bool:
        return read.of(asset) >= amount and read.of(asset) >= self.agent.threshold

    def has_funds(self, asset: str, amount: Decimal) -> bool:
        read, fresh = self.current()
        if self._covers(read, asset, amount):
            return True
        return not fresh and self._covers(self.refresh(), asset, amount)

    def ensure_funds(self, asset: str, amount: Decimal) -> None:
        """Raise InsufficientFunds unless ``asset`` covers ``amount`` (read fresh first)."""
        read = self.refresh()
        if self._covers(read, asset, amount):
            return
        need = max(amount, self.agent.threshold) * 10
        tip = balances.top_up(self.agent.address, asset, read.of(asset), need)
        raise InsufficientFunds(
            f"{asset} balance {read.of(asset)} is below the price {amount} or the threshold "
            f"{self.agent.threshold}: top up {tip['amount']} {asset} at {self.agent.address} "
            f"({tip['how']})"
        )
