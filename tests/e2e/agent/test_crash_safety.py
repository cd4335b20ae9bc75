"""Crash safety: exit hard at each point of the flow (and SIGKILL mid-settlement), restart,
reconcile: exactly one transfer or none, at most one terminal payment row, never a second
payment. The agent's key signs first: a crash then leaves no payment row at all. The
reservation and the write-ahead row commit together (SIGNED, one statement): a crash right
after it leaves that row, failed by reconciliation once its blockhash has expired (nothing
was sent)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from autopay_app.agent import Agent, crash, wallet
from autopay_app.agent.chain import Chain
from tests.e2e.agent.conftest import Stack, agent_env
from tests.e2e.agent.ledger_checks import rows

FEED = "/api/market-feed?symbols=ETH"
TRANSFERS = {
    "after_reserve": 0,
    "after_sign": 0,
    "after_write_ahead": 0,
    "after_send": 1,
    "after_200": 1,
    "before_verify": 1,  # the data was returned; VERIFIED not written: reconciliation
    "after_verify": 1,
}
#: Payment rows left: none when the process died before the reservation's commit.
ROWS = {point: 0 if point == "after_sign" else 1 for point in TRANSFERS}


def autopay(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from autopay_app.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _setup(stack: Stack, tmp_path: Path, database_url: str) -> tuple[dict[str, str], str, Chain]:
    env = agent_env(stack, tmp_path, database_url)
    env["AUTOPAY_KEYPAIR"] = str(tmp_path / "crash-agent.json")
    address = str(wallet.load_or_create(Path(env["AUTOPAY_KEYPAIR"])).pubkey())
    stack.harness.fund(address, usdc=1, cash=0)
    chain = Chain(stack.harness.rpc_url, stack.harness.usdc_mint, stack.harness.cash_mint)
    return env, address, chain


def _payments(engine: sa.Engine) -> list[sa.Row]:
    return rows(
        engine,
        "SELECT p.status::text, r.status::text, p.amount FROM payments p "
        "JOIN api_requests r ON r.id = p.api_request_id",
    )


@pytest.mark.parametrize("point", crash.POINTS)
def test_crash_point_then_restart_leaves_one_transfer_or_none(
    point: str, stack: Stack, tmp_path: Path, database_url: str, engine: sa.Engine
) -> None:
    env, address, chain = _setup(stack, tmp_path, database_url)
    before = chain.balances(address).usdc
    crashed = autopay({**env, "AUTOPAY_CRASH_AT": point}, "fetch", stack.url(FEED))
    assert crashed.returncode == crash.EXIT_CODE, crashed.stderr

    first = autopay(env, "reconcile")
    assert first.returncode == 0, first.stderr
    if point in ("after_reserve", "after_write_ahead"):
        stack.harness.advance_slots(400)  # let its blockhash expire: now provably dead
        assert autopay(env, "reconcile").returncode == 0

    payments = _payments(engine)
    assert len(payments) == ROWS[point]
    moved = before - chain.balances(address).usdc
    if not payments:
        assert moved == 0
        (request_status,) = rows(engine, "SELECT status::text FROM api_requests")[0]
        assert request_status == "FAILED"  # reconciled: interrupted, nothing paid
        chain.close()
        return
    status, request_status, amount = payments[0]
    assert status in ("VERIFIED", "FAILED") and request_status in ("ACCESSED", "FAILED")
    assert moved == amount * TRANSFERS[point]
    assert (status == "VERIFIED") == (TRANSFERS[point] == 1)
    chain.close()


def _wait_for(engine: sa.Engine, sql: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if rows(engine, sql)[0][0]:
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {sql}")


def test_sigkill_while_settling_then_restart_pays_exactly_once(
    stack: Stack, tmp_path: Path, database_url: str, engine: sa.Engine
) -> None:
    env, address, chain = _setup(stack, tmp_path, database_url)
    before = chain.balances(address).usdc
    stack.harness.set_fault(method="facilitator.settle", delay_ms=1500)
    try:
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from autopay_app.cli import main; main()",
                "fetch",
                stack.url(FEED),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for(engine, "SELECT count(*) FROM payments WHERE status = 'SIGNED'")
        time.sleep(0.3)  # sent, the seller is settling
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        time.sleep(2.0)  # the settlement the seller started completes without the buyer
    finally:
        stack.harness.clear_faults()
    assert autopay(env, "reconcile").returncode == 0
    stack.harness.advance_slots(400)
    assert autopay(env, "reconcile").returncode == 0
    ((status, request_status, amount),) = _payments(engine)
    moved = before - chain.balances(address).usdc
    assert status in ("VERIFIED", "FAILED") and request_status == "FAILED"
    assert moved == (amount if status == "VERIFIED" else Decimal(0))
    chain.close()


def test_settlement_slower_than_the_agent_never_signs_a_second_payment(
    stack: Stack, make_agent: Callable[..., Agent], engine: sa.Engine
) -> None:
    agent = make_agent(usdc=1, cash=0, http_timeout=0.5, retry_base=0.05)
    before = agent.chain.balances(agent.address).usdc
    stack.harness.set_fault(method="facilitator.settle", delay_ms=1200)
    try:
        result = agent.fetch(stack.url(FEED))
        again = agent.fetch(stack.url(FEED))  # the same resource while the first is unsettled
    finally:
        stack.harness.clear_faults()
    signed = rows(
        engine,
        "SELECT count(DISTINCT payer_signature) FROM payments WHERE payer_signature IS NOT NULL",
    )[0][0]
    first_payments = rows(
        engine, "SELECT count(*) FROM payments WHERE api_request_id = :r", r=result.request_id
    )[0][0]
    assert first_payments == 1
    assert result.status == "ACCESSED" or result.category == "SETTLEMENT_PENDING"
    second = rows(
        engine, "SELECT created_at FROM payments WHERE api_request_id = :r", r=again.request_id
    )
    if not second:
        assert signed == 1  # refused to sign while the first was unsettled
    else:
        # It signed only after the first payment had left SIGNED (settled from the chain);
        # on a loaded machine its own settlement may then be pending too.
        (left_signed,) = rows(
            engine,
            "SELECT min(created_at) FROM audit_events WHERE related_id = :p"
            " AND details->>'from' = 'SIGNED'",
            p=result.payment_id,
        )[0]
        assert signed == 2 and left_signed is not None and left_signed <= second[0][0]
    time.sleep(1.5)
    agent.reconcile()
    stack.harness.advance_slots(400)
    agent.reconcile()
    verified = rows(
        engine, "SELECT coalesce(sum(amount), 0) FROM payments WHERE status = 'VERIFIED'"
    )[0][0]
    assert before - agent.chain.balances(agent.address).usdc == verified
    assert (
        rows(
            engine,
            "SELECT count(*) FROM payments WHERE status IN ('INITIATED', 'SIGNED', 'CONFIRMED')",
        )[0][0]
        == 0
    )
