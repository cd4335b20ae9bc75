"""The facilitator verifies and settles payments built by the x402 SDK client."""

from __future__ import annotations

import pytest
from solana.rpc.api import Client
from solana.rpc.commitment import Confirmed
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature
from x402 import x402ClientSync
from x402.http import HTTPFacilitatorClientSync
from x402.mechanisms.svm import SOLANA_DEVNET_CAIP2, KeypairSigner
from x402.mechanisms.svm.exact.client import ExactSvmScheme
from x402.schemas import PaymentRequired, PaymentRequirements

from harness import genesis
from harness.testing import HarnessInfo
from harness.tokens import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID, associated_token_address

PRICE = "250000"


@pytest.fixture(scope="module")
def facilitator(harness: HarnessInfo):
    with HTTPFacilitatorClientSync({"url": harness.facilitator_url}) as client:
        yield client


@pytest.fixture(scope="module")
def seller(harness: HarnessInfo) -> Pubkey:
    seller = Keypair().pubkey()
    harness.fund(str(seller), usdc="0", cash="0")
    return seller


def requirements(harness: HarnessInfo, seller: Pubkey, **changes) -> PaymentRequirements:
    fields = {
        "scheme": "exact",
        "network": SOLANA_DEVNET_CAIP2,
        "asset": genesis.USDC_MINT,
        "amount": PRICE,
        "pay_to": str(seller),
        "max_timeout_seconds": 60,
        "extra": {"feePayer": harness.fee_payer},
    }
    return PaymentRequirements(**{**fields, **changes})


def pay(harness: HarnessInfo, buyer: Keypair, reqs: PaymentRequirements):
    scheme = ExactSvmScheme(KeypairSigner(buyer), harness.rpc_url)
    client = x402ClientSync().register("solana:*", scheme).set_spend_controls(False)
    try:
        return client.create_payment_payload(PaymentRequired(accepts=[reqs]))
    finally:
        for rpc in scheme._clients.values():  # the SDK never closes its RPC clients
            rpc._provider.session.close()


def test_supported_lists_devnet_and_fee_payer(facilitator, harness: HarnessInfo) -> None:
    supported = facilitator.get_supported()
    networks = {(k.x402_version, k.network) for k in supported.kinds}
    assert (2, SOLANA_DEVNET_CAIP2) in networks and (1, "solana-devnet") in networks
    assert harness.fee_payer in supported.signers["solana:*"]


def test_verify_settle_and_refuse_replay(
    facilitator, harness: HarnessInfo, client: Client, funded: Keypair, seller: Pubkey
) -> None:
    reqs = requirements(harness, seller)
    payload = pay(harness, funded, reqs)
    verified = facilitator.verify(payload, reqs)
    assert verified.is_valid, verified
    settled = facilitator.settle(payload, reqs)
    assert settled.success, settled
    signature = Signature.from_string(settled.transaction)
    tx = client.get_transaction(signature, "json", Confirmed, 0).value
    assert tx is not None and tx.transaction.meta.err is None
    ata = associated_token_address(seller, Pubkey.from_string(genesis.USDC_MINT), TOKEN_PROGRAM_ID)
    assert client.get_token_account_balance(ata).value.amount == PRICE
    replay = facilitator.settle(payload, reqs)
    assert not replay.success
    assert not facilitator.verify(payload, reqs).is_valid


def test_cash_payment_settles(
    facilitator, harness: HarnessInfo, client: Client, funded: Keypair, seller: Pubkey
) -> None:
    reqs = requirements(harness, seller, asset=genesis.CASH_MINT)
    settled = facilitator.settle(pay(harness, funded, reqs), reqs)
    assert settled.success, settled
    ata = associated_token_address(
        seller, Pubkey.from_string(genesis.CASH_MINT), TOKEN_2022_PROGRAM_ID
    )
    assert client.get_token_account_balance(ata).value.amount == PRICE


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"amount": "250001"}, "invalid_exact_svm_payload_amount_insufficient"),
        ({"amount": "249999"}, "invalid_exact_svm_payload_amount_mismatch"),
        ({"asset": genesis.CASH_MINT}, "invalid_exact_svm_payload_mint_mismatch"),
        ({"pay_to": str(Keypair().pubkey())}, "invalid_exact_svm_payload_recipient_mismatch"),
    ],
)
def test_mismatches_are_refused(
    facilitator, harness: HarnessInfo, funded: Keypair, seller: Pubkey, change, reason
) -> None:
    paid = requirements(harness, seller)
    payload = pay(harness, funded, paid)
    asked = requirements(harness, seller, **change)
    payload = payload.model_copy(update={"accepted": asked})
    verified = facilitator.verify(payload, asked)
    assert not verified.is_valid
    assert verified.invalid_reason == reason
    assert not facilitator.settle(payload, asked).success
