"""The x402 TypeScript client (@x402/fetch + @x402/svm, installed with npm) pays the mock API.

Node runs ``ts_client.mjs``: the published packages only, no project code. Every
catalog endpoint is paid in USDC and CASH, each payment is replayed, and the chain
shows one transfer per paid request. Without npm (or without its registry) the
test is skipped and says why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from solders.keypair import Keypair

from tests.e2e.interop import chain_reads
from tests.e2e.interop.conftest import Stack
from tests.e2e.interop.test_sdk_clients import assert_one_transfer_each

pytestmark = pytest.mark.e2e
PACKAGES = ["@x402/fetch@^2.25", "@x402/svm@^2.25", "@solana/kit@^5"]
SCRIPT = Path(__file__).with_name("ts_client.mjs")


@pytest.fixture(scope="module")
def node_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        pytest.skip("npm/node are not installed: the TypeScript client cannot run")
    where = tmp_path_factory.mktemp("ts-client")
    (where / "package.json").write_text('{"name": "x402-ts-client", "private": true}')
    done = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--silent", *PACKAGES],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        pytest.skip(f"npm could not install {PACKAGES}: {done.stderr.strip()[-300:]}")
    shutil.copy(SCRIPT, where / SCRIPT.name)
    return where / SCRIPT.name


@pytest.mark.parametrize("asset", ["USDC", "CASH"])
def test_the_typescript_client_pays_every_endpoint(stack: Stack, node_client: Path, asset: str):
    mint = stack.usdc_mint if asset == "USDC" else stack.cash_mint
    buyer = Keypair()
    address = str(buyer.pubkey())
    stack.fund(address, usdc="2", cash="2")
    seller_before = chain_reads.token_balance(stack.rpc_url, stack.pay_to, mint)
    items = stack.catalog()
    done = subprocess.run(
        ["node", str(node_client)],
        env={
            **os.environ,
            "SECRET_KEY": json.dumps(list(bytes(buyer))),
            "RPC_URL": stack.rpc_url,
            "MINT": mint,
            "URLS": json.dumps([item["resource"] for item in items]),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answers = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(answers) == len(items)
    paid: list[tuple[str, Decimal]] = []
    for item, answer in zip(items, answers, strict=True):
        assert answer["status"] == 200, (answer, stack.mock_api_output[-5:])
        receipt = chain_reads.receipt(answer["paymentResponse"])
        assert receipt["success"] is True and receipt["payer"] == address
        replay = requests.get(
            item["resource"], headers={"PAYMENT-SIGNATURE": answer["paymentSignature"]}, timeout=30
        )
        assert replay.status_code != 200, f"replay of {item['path']} delivered again"
        paid.append((receipt["transaction"], Decimal(item["prices"][asset])))
    assert_one_transfer_each(stack, address, mint, paid, seller_before)
    stack.assert_quiet()
