"""A clean run: every request paid once, verified on chain, money conserved."""

from __future__ import annotations

import base64
from collections.abc import Callable

import sqlalchemy as sa
from solders.transaction import VersionedTransaction

from autopay_app.agent import Agent, blockhash
from tests.e2e.agent.conftest import Stack
from tests.e2e.agent.ledger_checks import (
    assert_money_conserved,
    balances,
    rows,
    transfers_per_request,
)

PATHS = (
    "/api/market-feed?symbols=SOL,BTC,ETH",
    "/api/arbitrage-signals",
    "/api/knowledge/insights?topic=SOL",
    "/api/knowledge/sentiment?asset=SOL",
)


def test_twenty_paid_requests_leave_a_complete_consistent_ledger(
    stack: Stack, make_agent: Callable[..., Agent], engine: sa.Engine
) -> None:
    agent = make_agent(usdc=2, cash=2)
    before = balances(agent)
    results = [
        agent.fetch(stack.url(PATHS[i % 4]), asset="CASH" if i % 5 == 0 else None)
        for i in range(20)
    ]

    assert [r.status for r in results] == ["ACCESSED"] * 20, [r.error for r in results]
    assert all(r.data and "as_of" in r.data for r in results)
    assert len({r.payment_hash for r in results}) == 20
    assert {r.asset for r in results} == {"USDC", "CASH"}
    assert agent.wait_verified()  # each fetch returned its data before its VERIFIED
    payments = rows(
        engine,
        "SELECT status::text, payment_hash, payer_signature, memo, "
        "verification_callback IS NOT NULL FROM payments WHERE agent_id = :a",
        a=agent.agent_id,
    )
    assert len(payments) == 20 and {p[0] for p in payments} == {"VERIFIED"}
    assert all(p[1] and p[2] and p[3] and p[4] for p in payments)
    logs = rows(
        engine,
        "SELECT p.payment_hash, t.solana_tx_metadata->>'signature', t.gas_fees "
        "FROM transaction_logs t JOIN payments p ON p.id = t.payment_id "
        "WHERE p.agent_id = :a",
        a=agent.agent_id,
    )
    assert len(logs) == 20 and all(h == s and fee is not None for h, s, fee in logs)
    history = rows(
        engine,
        "SELECT related_id, array_agg(details->>'to' ORDER BY created_at) "
        "FROM audit_events WHERE agent_id = :a AND related_id IN "
        "(SELECT id FROM payments) GROUP BY related_id",
        a=agent.agent_id,
    )
    assert len(history) == 20
    # The agent's own key signs before the reservation: the row is written SIGNED.
    assert all(h[1] == ["SIGNED", "CONFIRMED", "VERIFIED"] for h in history)
    statuses = rows(
        engine,
        "SELECT status::text, count(*) FROM api_requests WHERE agent_id = :a GROUP BY status",
        a=agent.agent_id,
    )
    assert statuses == [("ACCESSED", 20)]
    assert transfers_per_request(engine, agent) == [1] * 20
    assert_money_conserved(engine, agent, before)


def test_v1_and_v2_instructions_are_stored_and_understood(
    stack: Stack, make_agent: Callable[..., Agent], engine: sa.Engine
) -> None:
    agent = make_agent()
    result = agent.fetch(stack.url(PATHS[0]))
    assert result.status == "ACCESSED"
    stored = rows(
        engine,
        "SELECT x402_instructions, response_headers FROM api_requests WHERE id = :r",
        r=result.request_id,
    )[0]
    assert stored[0]["x402Version"] in (1, 2) and stored[0]["accepts"]
    assert any(k.lower() == "payment-required" for k in stored[1]["402"])
    assert any(k.lower() == "payment-response" for k in stored[1]["200"])


def test_fetch_result_links_the_explorer(stack: Stack, make_agent: Callable[..., Agent]) -> None:
    result = make_agent().fetch(stack.url(PATHS[1]))
    assert result.explorer_url == (
        f"https://explorer.solana.com/tx/{result.payment_hash}?cluster=devnet"
    )


def test_the_data_is_returned_before_the_chain_read_and_verified_after_it(
    stack: Stack, make_agent: Callable[..., Agent], engine: sa.Engine
) -> None:
    """The agent's own read of the transfer (getTransaction) is slow: the fetch returns its
    data with the delivery durable (CONFIRMED, ACCESSED) without waiting for it, and the
    payment is VERIFIED once the read ends (``wait_verified``)."""
    agent = make_agent()
    status = "SELECT p.status::text, r.status::text FROM payments p " + (
        "JOIN api_requests r ON r.id = p.api_request_id WHERE r.id = :r"
    )
    stack.harness.set_fault(method="getTransaction", delay_ms=1500)
    try:
        result = agent.fetch(stack.url(PATHS[0]))
        assert result.status == "ACCESSED", result.error
        assert rows(engine, status, r=result.request_id) == [("CONFIRMED", "ACCESSED")]
        assert result.wait_verified(timeout=30)
    finally:
        stack.harness.clear_faults()
    assert rows(engine, status, r=result.request_id) == [("VERIFIED", "ACCESSED")]
    assert agent.wait_verified(timeout=0)  # nothing left running


def _blockhashes(engine: sa.Engine, agent: Agent) -> list[str]:
    signed = rows(
        engine,
        "SELECT signed_transaction FROM payments WHERE agent_id = :a ORDER BY created_at",
        a=agent.agent_id,
    )
    return [
        str(VersionedTransaction.from_bytes(base64.b64decode(tx)).message.recent_blockhash)
        for (tx,) in signed
    ]


def test_payments_reuse_a_blockhash_while_surely_valid_and_each_lands(
    stack: Stack, make_agent: Callable[..., Agent], engine: sa.Engine
) -> None:
    """Three payments in a row are signed with one blockhash (read once), each its own
    transaction, each VERIFIED; once the agent sees that slots have passed (here a balance
    read after the chain moved on), the next payment reads a new one, and lands too."""
    agent = make_agent()
    results = [agent.fetch(stack.url(PATHS[i])) for i in range(3)]
    assert [r.status for r in results] == ["ACCESSED"] * 3, [r.error for r in results]
    assert len({r.payment_hash for r in results}) == 3
    assert len(set(_blockhashes(engine, agent))) == 1
    stack.harness.advance_slots(blockhash.REUSE_SLOTS)
    agent.refresh_balances()  # an answer naming the new slot
    assert agent.fetch(stack.url(PATHS[3])).status == "ACCESSED"
    assert agent.wait_verified()
    used = _blockhashes(engine, agent)
    assert len(used) == 4 and used[3] != used[0]
    statuses = rows(
        engine, "SELECT status::text FROM payments WHERE agent_id = :a", a=agent.agent_id
    )
    assert statuses == [("VERIFIED",)] * 4
