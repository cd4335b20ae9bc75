"""``autopay fetch`` pays every catalog endpoint in both assets against the stack a user started.

The agent is funded with ``autopay fund`` (its default address) and each resource
bought with ``autopay fetch URL --asset A --json``, one real command per purchase,
on a ledger given as ``DATABASE_URL``. The chain must show exactly one transfer
per purchase, and the JSON answer must state amounts in one format (a decimal
string with the asset's six decimals) on every path.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tests.e2e.interop import chain_reads
from tests.e2e.interop.conftest import Stack

pytestmark = pytest.mark.e2e


def test_autopay_fetch_pays_every_endpoint_in_both_assets(stack: Stack, database_url, tmp_path):
    env = {
        "DATABASE_URL": database_url,
        "AUTOPAY_HOME": str(tmp_path / "agent-home"),
        "AUTOPAY_RETRY_BASE_S": "0.05",
    }
    funded = stack.autopay("fund", "--usdc", "2", "--cash", "2", extra_env=env)
    assert funded.returncode == 0, funded.stderr
    agent = funded.stdout.split()[1].rstrip(":")
    items = stack.catalog()
    for asset in ("USDC", "CASH"):
        mint = stack.usdc_mint if asset == "USDC" else stack.cash_mint
        seller_before = chain_reads.token_balance(stack.rpc_url, stack.pay_to, mint)
        paid: list[tuple[str, Decimal]] = []
        for item in items:
            done = stack.autopay(
                "fetch", item["resource"], "--asset", asset, "--json", extra_env=env
            )
            assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
            assert done.stderr == "", done.stderr  # no library warnings either
            answer = json.loads(done.stdout)
            assert answer["status"] == "ACCESSED" and answer["data"]
            payment = answer["payment"]
            price = Decimal(item["prices"][asset])
            assert payment["asset"] == asset
            assert payment["amount"] == f"{price:.6f}"
            paid.append((payment["signature"], price))
        transactions = [tx for tx, _ in paid]
        assert len(set(transactions)) == len(items)
        for tx, price in paid:
            atomic = int(price.scaleb(6))
            moved = dict(chain_reads.transfers(stack.rpc_url, tx, mint))
            assert moved == {agent: -atomic, stack.pay_to: atomic}
        (agent_ata,) = chain_reads.token_accounts(stack.rpc_url, agent, mint)
        assert len(chain_reads.signatures(stack.rpc_url, agent_ata)) == len(items) + 1
        total = sum((price for _, price in paid), Decimal(0))
        assert chain_reads.token_balance(stack.rpc_url, agent, mint) == Decimal(2) - total
        seller_after = chain_reads.token_balance(stack.rpc_url, stack.pay_to, mint)
        assert seller_after - seller_before == total
    stack.assert_quiet()
