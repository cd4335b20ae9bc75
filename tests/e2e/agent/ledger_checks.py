"""Assertions shared by the agent's end-to-end tests: the ledger against the chain."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from autopay_app.agent import Agent


def rows(engine: sa.Engine, sql: str, **params: object) -> list[sa.Row]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(sql), params))


def verified_sum(engine: sa.Engine, agent: Agent, currency: str) -> Decimal:
    assert agent.wait_verified()  # fetches return before their VERIFIED is written
    return Decimal(
        rows(
            engine,
            "SELECT coalesce(sum(amount), 0) FROM payments WHERE agent_id = :a "
            "AND status = 'VERIFIED' AND currency = :c",
            a=agent.agent_id,
            c=currency,
        )[0][0]
    )


def chain_spent(agent: Agent, before: dict[str, Decimal]) -> dict[str, Decimal]:
    now = agent.chain.balances(agent.address)
    return {"USDC": before["USDC"] - now.usdc, "CASH": before["CASH"] - now.cash}


def balances(agent: Agent) -> dict[str, Decimal]:
    read = agent.chain.balances(agent.address)
    return {"USDC": read.usdc, "CASH": read.cash}


def assert_money_conserved(engine: sa.Engine, agent: Agent, before: dict[str, Decimal]) -> None:
    spent = chain_spent(agent, before)
    for currency in ("USDC", "CASH"):
        assert spent[currency] == verified_sum(engine, agent, currency), currency


def transfers_per_request(engine: sa.Engine, agent: Agent) -> list[int]:
    """How many payments that moved money (not FAILED) each request has."""
    return [
        r[0]
        for r in rows(
            engine,
            "SELECT count(*) FILTER (WHERE p.status <> 'FAILED') "
            "FROM api_requests r LEFT JOIN payments p "
            "ON p.api_request_id = r.id WHERE r.agent_id = :a "
            "GROUP BY r.id",
            a=agent.agent_id,
        )
    ]
