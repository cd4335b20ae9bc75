"""Balance guard: no signing below the price or the threshold.

A WalletBalance row younger than ``balance_max_age`` is trusted; otherwise (and
always while paused) the balance is read fresh from the RPC. The latest row is
re-read from the database at most once a second (its age is still the row's
own). Below the amount or the threshold: a LOW_BALANCE audit event with top-up
instructions, payments paused (InsufficientFunds, nothing signed); a later read
with funds resumes them.

After every payment the row is refreshed from the chain (:func:`after_payment`),
so the dashboard and the API show what the chain shows: in the background, on
the agent's I/O pool, so the payment itself waits for nothing. Concurrent
payments share the reads: one refresh runs at a time and reads again while
payments finished during its read, so the last read always follows the last
payment.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal

from autopay_app.agent import io
from autopay_app.agent.context import AgentContext, policy
from autopay_app.agent.errors import AgentError, InsufficientFunds
from autopay_app.ledger import balances, direct

LATEST = "latest-balance"
log = logging.getLogger(__name__)


def refresh(ctx: AgentContext) -> balances.BalanceRead:
    """Read balances from the chain and record them (with pause/resume events)."""
    read = io.rpc(ctx, lambda c: c.balances(ctx.address))
    row = balances.BalanceRead(read.sol, read.usdc, read.cash)
    low = [a for a in policy(ctx).allowed_assets if row.of(a) < ctx.threshold]
    balances.record(ctx.session(), ctx.agent_id, ctx.address, row, ctx.threshold, low)
    ctx.cache.forget(LATEST)
    return row


def _snapshot(ctx: AgentContext) -> balances.Snapshot | None:
    with direct.autocommit(ctx.engine) as conn:
        return balances.snapshot(conn, ctx.agent_id)


def current(ctx: AgentContext) -> tuple[balances.BalanceRead, bool]:
    """The balance to decide on, and whether it was read fresh from the chain."""
    row = ctx.cache.get(LATEST, lambda: _snapshot(ctx))
    if row is not None and not row.low_balance_event:
        age = (datetime.now(UTC) - row.last_checked).total_seconds()
        if age <= ctx.balance_max_age:
            return row.read, False
    return refresh(ctx), True


def _covers(ctx: AgentContext, read: balances.BalanceRead, asset: str, amount: Decimal) -> bool:
    return read.of(asset) >= amount and read.of(asset) >= ctx.threshold


def has_funds(ctx: AgentContext, asset: str, amount: Decimal) -> bool:
    read, fresh = current(ctx)
    if _covers(ctx, read, asset, amount):
        return True
    return not fresh and _covers(ctx, refresh(ctx), asset, amount)


def ensure_funds(ctx: AgentContext, asset: str, amount: Decimal) -> None:
    """Raise InsufficientFunds unless ``asset`` covers ``amount`` (read fresh first)."""
    read = refresh(ctx)
    if _covers(ctx, read, asset, amount):
        return
    need = max(amount, ctx.threshold) * 10
    tip = balances.top_up(ctx.address, asset, read.of(asset), need)
    raise InsufficientFunds(
        f"{asset} balance {read.of(asset)} is below the price {amount} or the threshold "
        f"{ctx.threshold}: top up {tip['amount']} {asset} at {ctx.address} ({tip['how']})"
    )


# ------------------------------------------------------- after every payment
def after_payment(ctx: AgentContext, asset: str) -> None:
    """Refresh the balance row after a payment in ``asset``, off the payment's path.

    Never raises: the payment's record is already written, and a failed read
    (RPC down) leaves the row to the next refresh. One read runs at a time; it
    reads again while payments finished during it, so the last read follows the
    last payment. A payment changes only its asset (the facilitator pays the
    fee): that balance is read and set in one statement, unless it crosses the
    threshold, which takes the full :func:`refresh` and its LOW_BALANCE event.
    """
    state = ctx.balance_refresh
    with state.lock:
        state.due.add(asset)
        if state.running:
            return  # the refresh running now reads again before it stops
        state.running = True
        state.idle.clear()
    try:
        io.in_background(ctx, lambda: _refresh_until_current(ctx))
    except RuntimeError:  # the agent is closing: its pool takes no more work
        _stop_refreshing(ctx)


def wait_refreshed(ctx: AgentContext, timeout: float = 30.0) -> bool:
    """Wait until no post-payment refresh is running or due; False on timeout."""
    return ctx.balance_refresh.idle.wait(timeout)


def _refresh_until_current(ctx: AgentContext) -> None:
    state = ctx.balance_refresh
    while True:
        with state.lock:  # stop in the same critical section that saw nothing due
            if not state.due:
                state.running = False
                state.idle.set()
                return
            due, state.due = state.due, set()
        try:
            for asset in sorted(due):
                _refresh_asset(ctx, asset)
        except Exception as exc:  # noqa: BLE001 - see after_payment
            level = logging.WARNING if isinstance(exc, AgentError) else logging.ERROR
            log.log(level, "balance refresh after a payment failed: %s", exc)
            _stop_refreshing(ctx)
            return


def _stop_refreshing(ctx: AgentContext) -> None:
    state = ctx.balance_refresh
    with state.lock:
        state.running = False
        state.due.clear()
        state.idle.set()


def _refresh_asset(ctx: AgentContext, asset: str) -> None:
    amount = io.rpc(ctx, lambda c: c.token_balance(ctx.address, asset))
    with direct.autocommit(ctx.engine) as conn:
        written = balances.set_asset(conn, ctx.agent_id, ctx.address, asset, amount)
    if written:
        ctx.cache.put(LATEST, written)  # the row as written: the next decision reads nothing
    else:
        refresh(ctx)
