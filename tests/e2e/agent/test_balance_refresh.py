"""After every payment the agent's balance row follows the chain (what the dashboard shows)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from functools import partial
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from autopay_app.agent import Agent, guard
from autopay_app.agent.context import BalanceRefresh
from autopay_app.agent.states import Check
from autopay_app.agent.verify import Verified
from tests.e2e.agent.conftest import Stack
from tests.e2e.agent.ledger_checks import balances, rows

pytestmark = pytest.mark.e2e
FEED = "/api/market-feed"


def _row(engine: sa.Engine, agent: Agent) -> dict[str, Decimal]:
    ((usdc, cash),) = rows(
        engine,
        "SELECT balance_usdc, balance_cash FROM wallet_balances WHERE agent_id = :a",
        a=agent.agent_id,
    )
    return {"USDC": Decimal(usdc), "CASH": Decimal(cash)}


def test_the_row_follows_each_payment_and_concurrent_ones(
    stack: Stack, make_agent: Callable[..., Agent], engine: sa.Engine
) -> None:
    agent = make_agent(usdc=2, cash=2)
    assert agent.fetch(stack.url(FEED), asset="USDC").status == "ACCESSED"
    assert agent.wait_refreshed()
    assert _row(engine, agent) == balances(agent)  # within the guard's 10 s trust window

    urls = [stack.url(FEED + f"?symbols=SOL&n={i}") for i in range(8)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda u: agent.fetch(u, asset="CASH"), urls))
    assert [r.status for r in results] == ["ACCESSED"] * 8
    assert agent.wait_refreshed()
    assert _row(engine, agent) == balances(agent)
    assert balances(agent)["CASH"] == Decimal(2) - 8 * Decimal("0.01")


def test_a_verified_payment_sets_the_row_from_its_own_transaction(
    stack: Stack, make_agent: Callable[..., Agent], engine: sa.Engine
) -> None:
    """The verification read shows the balance after the transfer: no second RPC."""
    agent = make_agent(usdc=2, cash=2)
    reads: list[str] = []
    chain = agent.ctx.chain
    read = chain.token_balance_at

    def counted(owner: str, asset: str) -> tuple[Decimal, int | None]:
        reads.append(asset)
        return read(owner, asset)

    chain.token_balance_at = counted  # type: ignore[method-assign]
    assert agent.fetch(stack.url(FEED), asset="USDC").status == "ACCESSED"
    assert agent.wait_refreshed()
    assert reads == ["USDC", "CASH"]  # the first decision's full read (no row yet)
    for i in range(3):
        reads.clear()
        result = agent.fetch(stack.url(FEED + f"?symbols=SOL&n={i}"), asset="USDC")
        assert result.status == "ACCESSED"
        assert agent.wait_refreshed()
        assert reads == []  # the row came from the payment's own transaction
        assert _row(engine, agent) == balances(agent)
    assert balances(agent)["USDC"] == Decimal(2) - 4 * Decimal("0.01")


def _checked(slot: int, after: str) -> Future[Check]:
    done: Future[Check] = Future()
    done.set_result((Verified({}, 5000, Decimal(after), slot), None))
    return done


def test_only_a_newer_slot_is_taken_from_a_transaction() -> None:
    """Payments verified in one slot, or in the slot of the row's own read, are read from
    the chain (their order is unknown); an older one never overwrites a newer row."""
    ctx = SimpleNamespace(balance_refresh=BalanceRefresh())
    after = partial(guard._balance_after, ctx, "USDC")  # type: ignore[arg-type]
    assert after([_checked(10, "1.9"), _checked(12, "1.8")]) == guard.After(Decimal("1.8"), 12)
    assert after([_checked(12, "1.8"), _checked(12, "1.7")]) is None  # same slot: read
    assert after([_checked(12, "1.8"), None]) is None  # one without a verified read
    failed: Future[Check] = Future()
    failed.set_result((None, None))
    assert after([failed]) is None
    ctx.balance_refresh.slots["USDC"] = (12, False)  # a payment of slot 12 wrote the row
    assert after([_checked(12, "1.7")]) is None
    assert after([_checked(11, "1.9")]) == guard.After(None, 11)  # older: nothing to write
    ctx.balance_refresh.slots["USDC"] = (12, True)  # a full read at slot 12
    assert after([_checked(12, "1.7")]) == guard.After(None, 12)
    assert after([_checked(13, "1.6")]) == guard.After(Decimal("1.6"), 13)
