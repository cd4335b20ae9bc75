"""Two identical faucet requests in a row both land (no "already processed")."""

from __future__ import annotations

from decimal import Decimal

from solders.keypair import Keypair

from harness.testing import HarnessInfo


def test_identical_fund_requests_both_land(harness: HarnessInfo) -> None:
    owner = str(Keypair().pubkey())
    first = harness.fund(owner, usdc="0.05")
    second = harness.fund(owner, usdc="0.05")
    assert first["signatures"] != second["signatures"]
    assert Decimal(second["usdc"]) == Decimal("0.1")
