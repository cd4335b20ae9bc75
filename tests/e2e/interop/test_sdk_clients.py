"""Any standard x402 client can pay the mock API: the x402 SDK's own clients, no project code.

The buyer side here is only the x402 SDK (``x402ClientSync`` + its ``requests``
adapter, ``x402Client`` + its ``httpx`` client) and ``solders`` for a fresh
keypair. Every catalog endpoint is paid in USDC and in CASH; each payment is then
replayed (the same ``PAYMENT-SIGNATURE`` resent) and must not deliver again; and
the chain must show exactly one transfer per paid request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
import requests
from solders.keypair import Keypair
from x402 import SpendControlAsset, SpendControls, x402Client, x402ClientSync
from x402.http import x402HTTPClient
from x402.http.clients.httpx import x402HttpxClient
from x402.http.clients.requests import wrapRequestsWithPayment
from x402.mechanisms.svm import KeypairSigner
from x402.mechanisms.svm.exact import ExactSvmClientScheme

from tests.e2e.interop import chain_reads
from tests.e2e.interop.conftest import Stack

pytestmark = pytest.mark.e2e
ASSETS = ("USDC", "CASH")


#: The SDK's client schemes made by a test; their RPC sessions are closed after it.
SCHEMES: list[ExactSvmClientScheme] = []


@pytest.fixture(autouse=True)
def _close_scheme_sessions() -> Iterator[None]:
    yield
    # The SDK keeps one solana-py Client per network and never closes it.
    while SCHEMES:
        for client in SCHEMES.pop()._clients.values():
            client._provider.session.close()


def _configure(client: Any, keypair: Keypair, rpc_url: str, mint: str) -> Any:
    """Register the SVM exact scheme, allow ``mint`` and prefer it (SDK calls only)."""
    scheme = ExactSvmClientScheme(KeypairSigner(keypair), rpc_url=rpc_url)
    SCHEMES.append(scheme)
    client.register("solana:*", scheme)
    client.set_spend_controls(
        SpendControls(allowed_assets=[SpendControlAsset(network="solana:*", asset=mint)])
    )
    client.register_policy(lambda _version, reqs: [r for r in reqs if r.asset == mint])
    return client


#: (status, headers (lower-case names), body, the PAYMENT-SIGNATURE that was sent) for one URL.
Paid = tuple[int, dict[str, str], bytes, str | None]


def _lower(headers: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in headers.items()}


def requests_payer(keypair: Keypair, stack: Stack, mint: str) -> Callable[[str], Paid]:
    client = _configure(x402ClientSync(), keypair, stack.rpc_url, mint)

    def pay(url: str) -> Paid:
        with wrapRequestsWithPayment(requests.Session(), client) as session:
            response = session.get(url, timeout=60)
        sent = response.request.headers.get("PAYMENT-SIGNATURE")
        return response.status_code, _lower(response.headers), response.content, sent

    return pay


def httpx_payer(keypair: Keypair, stack: Stack, mint: str) -> Callable[[str], Paid]:
    client = _configure(x402Client(), keypair, stack.rpc_url, mint)
    # httpx reports the first request on the response: the payment is taken from the
    # SDK's own after-creation hook and encoded by the SDK's own header encoder.
    created: list[Any] = []
    client.on_after_payment_creation(lambda context: created.append(context.payment_payload))

    async def pay_async(url: str) -> Paid:
        created.clear()
        async with x402HttpxClient(client, timeout=60) as http:
            response = await http.get(url)
        sent = None
        if created:
            encoded = x402HTTPClient(client).encode_payment_signature_header(created[-1])
            sent = encoded["PAYMENT-SIGNATURE"]
        return response.status_code, _lower(response.headers), response.content, sent

    def pay(url: str) -> Paid:
        # A thread of its own: its event loop never meets one another test left behind.
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(lambda: asyncio.run(pay_async(url))).result()

    return pay


def pay_whole_catalog(stack: Stack, asset: str, make_payer: Callable[..., Callable[[str], Paid]]):
    mint = stack.usdc_mint if asset == "USDC" else stack.cash_mint
    buyer = Keypair()
    address = str(buyer.pubkey())
    stack.fund(address, usdc="2", cash="2")
    seller_before = chain_reads.token_balance(stack.rpc_url, stack.pay_to, mint)
    pay = make_payer(buyer, stack, mint)
    items = stack.catalog()
    assert len(items) == 4
    paid: list[tuple[str, Decimal]] = []
    for item in items:
        status, headers, body, sent = pay(item["resource"])
        assert status == 200, (
            f"{asset} {item['path']}: {status} {body[:300]!r} "
            f"{headers.get('payment-required', '')[:200]}\nmock API: {stack.mock_api_output[-5:]}"
        )
        assert sent, "the SDK client sent no PAYMENT-SIGNATURE"
        receipt = chain_reads.receipt(headers["payment-response"])
        assert receipt["success"] is True and receipt["payer"] == address
        replay = requests.get(item["resource"], headers={"PAYMENT-SIGNATURE": sent}, timeout=30)
        assert replay.status_code != 200, f"replay of {item['path']} delivered again"
        assert b'"symbol"' not in replay.content and b"insight" not in replay.content
        paid.append((receipt["transaction"], Decimal(item["prices"][asset])))
    assert_one_transfer_each(stack, address, mint, paid, seller_before)
    stack.assert_quiet()


def assert_one_transfer_each(
    stack: Stack,
    buyer: str,
    mint: str,
    paid: list[tuple[str, Decimal]],
    seller_before: Decimal,
) -> None:
    """The chain shows each paid request's transfer once, and nothing else left the buyer."""
    transactions = [tx for tx, _ in paid]
    assert len(set(transactions)) == len(paid)
    for tx, price in paid:
        moved = dict(chain_reads.transfers(stack.rpc_url, tx, mint))
        atomic = int(price.scaleb(6))
        assert moved == {buyer: -atomic, stack.pay_to: atomic}, (tx, moved)
    (buyer_ata,) = chain_reads.token_accounts(stack.rpc_url, buyer, mint)
    history = chain_reads.signatures(stack.rpc_url, buyer_ata)
    # The account's whole history: its funding, then exactly the paid requests.
    assert len(history) == len(paid) + 1
    assert set(transactions) <= set(history)
    total = sum((price for _, price in paid), Decimal(0))
    assert chain_reads.token_balance(stack.rpc_url, buyer, mint) == Decimal(2) - total
    seller_after = chain_reads.token_balance(stack.rpc_url, stack.pay_to, mint)
    assert seller_after - seller_before == total


@pytest.mark.parametrize("asset", ASSETS)
def test_the_sdk_requests_client_pays_every_endpoint(stack: Stack, asset: str) -> None:
    pay_whole_catalog(stack, asset, requests_payer)


@pytest.mark.parametrize("asset", ASSETS)
def test_the_sdk_httpx_client_pays_every_endpoint(stack: Stack, asset: str) -> None:
    pay_whole_catalog(stack, asset, httpx_payer)
