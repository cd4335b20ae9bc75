"""Balance guard: no signing below the price or the threshold.

A WalletBalance row younger than ``balance_max_age`` is trusted; otherwise (and
always while paused) the balance is read fresh from the RPC. The latest row is
re-read from the database at most once a second (its age is still the row's
own). Below the amount or the threshold: a LOW_BALANCE audit event with top-up
instructions, payments paused (InsufficientFunds, nothing signed); a later read
with funds resumes them.

After every payment the row follows the chain (:func:`after_payment`), so the
dashboard and the API show what the chain shows: in the background, on the
agent's I/O pool, so the payment itself waits for nothing. The agent's own
verification read of the transfer already shows the balance after it (the
transaction's post token balance): that value is written, without another RPC,
when its slot is newer than what the row reflects; otherwise (no verified read,
a wallet's payment, two payments in one slot) the balance is read from the
chain. Concurrent payments share the work: one refresh runs at a time and runs
again while payments finished during it, so the row always follows the last
payment.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from autopay_app.agent import io
from autopay_app.agent.context import AgentContext, policy
from autopay_app.agent.errors import AgentError, InsufficientFunds
from autopay_app.agent.states import Check
from autopay_app.agent.verify import Verified
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
    for asset, slot in read.slots.items():
        _reflects(ctx, asset, slot, full_read=True)
    return row


def _reflects(ctx: AgentContext, asset: str, slot: int | None, *, full_read: bool) -> None:
    """The row's ``asset`` balance now reflects the chain at ``slot``."""
    if slot is None:
        return
    state = ctx.balance_refresh
    with state.lock:
        if slot >= state.slots.get(asset, (-1, False))[0]:
            state.slots[asset] = (slot, full_read)


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
def after_payment(ctx: AgentContext, asset: str, check: Future[Check] | None = None) -> None:
    """Bring the balance row up to date after a payment in ``asset``, off the payment's
    path; ``check``: the payment's verification read of its transfer (None: the balance
    is read from the chain).

    Never raises: the payment's record is already written, and a failed read
    (RPC down) leaves the row to the next refresh. One refresh runs at a time; it
    runs again while payments finished during it, so the row follows the last
    payment. A payment changes only its asset (the facilitator pays the fee):
    that balance is set in one statement, unless it crosses the threshold, which
    takes the full :func:`refresh` and its LOW_BALANCE event.
    """
    state = ctx.balance_refresh
    with state.lock:
        state.due.setdefault(asset, []).append(check)
        if state.running:
            return  # the refresh running now runs again before it stops
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
            due, state.due = state.due, {}
        try:
            for asset in sorted(due):
                _refresh_asset(ctx, asset, due[asset])
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


def _refresh_asset(ctx: AgentContext, asset: str, checks: list[Future[Check] | None]) -> None:
    after = _balance_after(ctx, asset, checks)
    slot: int | None
    if after is None:
        amount, slot = io.rpc(ctx, lambda c: c.token_balance_at(ctx.address, asset))
    elif after.amount is None:
        return  # the row reflects a later slot already
    else:
        amount, slot = after.amount, after.slot
    with direct.autocommit(ctx.engine) as conn:
        written = balances.set_asset(conn, ctx.agent_id, ctx.address, asset, amount)
    if written:
        ctx.cache.put(LATEST, written)  # the row as written: the next decision reads nothing
        _reflects(ctx, asset, slot, full_read=after is None)
    else:
        refresh(ctx)


@dataclass(frozen=True)
class After:
    """The agent's balance of an asset after its newest payment, as its own verification
    read showed it (``amount`` None: the row already reflects a later slot)."""

    amount: Decimal | None
    slot: int


def _verified(check: Future[Check] | None) -> Verified | None:
    try:
        return check.result()[0] if check is not None else None
    except Exception:  # noqa: BLE001 - no verified read: the balance is read from the chain
        return None


def _balance_after(
    ctx: AgentContext, asset: str, checks: list[Future[Check] | None]
) -> After | None:
    """The balance after the newest of these payments, from their verification reads;
    None when only a chain read can tell (a payment without a verified read, or two of
    them in one slot, or one in the slot of the payment that wrote the row)."""
    newest: list[tuple[int, Decimal]] = []
    for check in checks:
        verified = _verified(check)
        if verified is None or verified.payer_after is None or verified.slot is None:
            return None
        newest.append((verified.slot, verified.payer_after))
    slot, amount = max(newest)
    if sum(1 for s, _ in newest if s == slot) > 1:
        return None  # their order within the slot is unknown
    with ctx.balance_refresh.lock:
        row_slot, full_read = ctx.balance_refresh.slots.get(asset, (-1, True))
    if slot < row_slot or (slot == row_slot and full_read):
        return After(None, slot)
    if slot == row_slot:
        return None  # another payment of that slot wrote the row
    return After(amount, slot)
