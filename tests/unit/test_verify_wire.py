"""The agent's verification of a transfer read as wire bytes (getTransaction ``base64``).

An x402 payment as it lands: the facilitator's fee payer signs first, the agent
(the token authority) second, over one message. The check must accept exactly
that transaction and refuse a failed one, one without the agent's signature in
its own signer slot, one whose message is not the message the agent signed, a
malformed answer, and a wrong transfer; and a ``base64`` answer must give the
same result as the ``json`` answer of the same transaction.
"""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

import pytest
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message, MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from autopay_app.agent.errors import SignatureInvalid
from autopay_app.agent.verify import Expected, Verified, Wire, check
from harness import genesis, tokens

USDC = genesis.mint_spec("usdc")
MINT = str(USDC.address)
FEE_PAYER, PAYER, SELLER = Keypair(), Keypair(), Keypair()
BLOCKHASH = Hash.new_unique()


def _message(amount: int, legacy: bool = False) -> Any:
    source = tokens.associated_token_address(PAYER.pubkey(), USDC.address, USDC.program)
    dest = tokens.associated_token_address(SELLER.pubkey(), USDC.address, USDC.program)
    ix = tokens.transfer_checked(
        source, USDC.address, dest, PAYER.pubkey(), amount, USDC.decimals, USDC.program
    )
    if legacy:
        return Message.new_with_blockhash([ix], FEE_PAYER.pubkey(), BLOCKHASH)
    return MessageV0.try_compile(FEE_PAYER.pubkey(), [ix], [], BLOCKHASH)


def _signed_by_agent(message: Any) -> VersionedTransaction:
    """What the agent sends: its own signature, the fee payer's slot still empty."""
    mine = PAYER.sign_message(to_bytes_versioned(message))
    return VersionedTransaction.populate(message, [Signature.default(), mine])


def _landed(message: Any) -> VersionedTransaction:
    return VersionedTransaction(message, [FEE_PAYER, PAYER])


def _balance(index: int, owner: Keypair, amount: int) -> dict[str, Any]:
    return {
        "accountIndex": index,
        "mint": MINT,
        "owner": str(owner.pubkey()),
        "programId": str(USDC.program),
        "uiTokenAmount": tokens.ui_token_amount(amount, 6),
    }


def _answer(tx: VersionedTransaction, paid: int, encoding: str, err: Any = None) -> dict:
    meta = {
        "err": err,
        "fee": 10_000,
        "logMessages": ["Program log: Instruction: TransferChecked"],
        "preTokenBalances": [_balance(2, PAYER, 5_000_000), _balance(3, SELLER, 0)],
        "postTokenBalances": [_balance(2, PAYER, 5_000_000 - paid), _balance(3, SELLER, paid)],
    }
    if encoding == "base64":
        rendered: Any = [base64.b64encode(bytes(tx)).decode(), "base64"]
    else:
        rendered = {"signatures": [str(s) for s in tx.signatures], "message": {}}
    return {"slot": 41, "blockTime": 1_700_000_000, "transaction": rendered, "meta": meta}


def _expected(
    signed: VersionedTransaction, amount: int = 10_000, bytes_known: bool = True
) -> Expected:
    """What the agent expects of its payment ``signed`` (with its signed bytes, or without
    them as the delivery's own read has them today)."""
    return Expected(
        str(PAYER.pubkey()),
        str(signed.signatures[1]),
        MINT,
        str(SELLER.pubkey()),
        amount,
        base64.b64encode(bytes(signed)).decode() if bytes_known else None,
    )


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("with_bytes", [True, False])
def test_the_agents_own_transfer_is_verified_as_from_the_json_answer(
    legacy: bool, with_bytes: bool
) -> None:
    message = _message(10_000, legacy)
    signed, landed = _signed_by_agent(message), _landed(message)
    expected = _expected(signed, bytes_known=with_bytes)
    verified = check(_answer(landed, 10_000, "base64"), expected)
    assert verified == check(_answer(landed, 10_000, "json"), expected)
    assert isinstance(verified, Verified)
    assert verified.metadata["signatures"] == [str(s) for s in landed.signatures]
    assert verified.metadata["signature"] == str(landed.signatures[0])
    assert verified.fee_lamports == 10_000 and verified.slot == 41
    assert verified.payer_after == Decimal("4.99")


def test_a_failed_transaction_is_refused() -> None:
    message = _message(10_000)
    answer = _answer(_landed(message), 0, "base64", err={"InstructionError": [0, "Custom"]})
    with pytest.raises(SignatureInvalid, match="failed on chain"):
        check(answer, _expected(_signed_by_agent(message)))


def test_another_transaction_is_refused() -> None:
    """The seller names another landed transaction of the same payer (another amount)."""
    ours = _signed_by_agent(_message(10_000))
    stranger = _landed(_message(20_000))
    with pytest.raises(SignatureInvalid, match="does not carry the agent's signature"):
        check(_answer(stranger, 10_000, "base64"), _expected(ours))
    with pytest.raises(SignatureInvalid, match="does not carry the agent's signature"):
        check(_answer(stranger, 10_000, "base64"), _expected(ours, bytes_known=False))


def test_the_agents_signature_in_another_signer_slot_is_refused() -> None:
    message = _message(10_000)
    landed = _landed(message)
    swapped = VersionedTransaction.populate(
        landed.message, [landed.signatures[1], landed.signatures[0]]
    )
    with pytest.raises(SignatureInvalid, match="does not carry the agent's signature"):
        check(_answer(swapped, 10_000, "base64"), _expected(_signed_by_agent(message)))


def test_a_message_other_than_the_one_signed_is_refused() -> None:
    """The agent's signature pasted onto another message (a node cannot land it, a lying
    one can answer it): refused when the signed bytes are known."""
    signed = _signed_by_agent(_message(10_000))
    forged = VersionedTransaction.populate(
        _message(20_000), [Signature.new_unique(), signed.signatures[1]]
    )
    with pytest.raises(SignatureInvalid, match="not the message the agent signed"):
        check(_answer(forged, 10_000, "base64"), _expected(signed))


@pytest.mark.parametrize(
    "rendered",
    [
        ["not base64!", "base64"],
        [base64.b64encode(b"\x01" + b"\x00" * 10).decode(), "base64"],
        [base64.b64encode(b"\x00abc").decode(), "base64"],
        ["AAAA", "base58"],
        "AAAA",
        None,
    ],
)
def test_a_malformed_answer_is_refused(rendered: Any) -> None:
    message = _message(10_000)
    answer = {**_answer(_landed(message), 10_000, "base64"), "transaction": rendered}
    with pytest.raises(SignatureInvalid):
        check(answer, _expected(_signed_by_agent(message)))


@pytest.mark.parametrize("paid", [9_999, 10_001, 0])
def test_a_wrong_amount_is_refused(paid: int) -> None:
    message = _message(10_000)
    with pytest.raises(SignatureInvalid, match="10000 was signed"):
        check(_answer(_landed(message), paid, "base64"), _expected(_signed_by_agent(message)))


def test_unreadable_own_bytes_fall_back_to_the_signature_proof() -> None:
    message = _message(10_000)
    expected = _expected(_signed_by_agent(message))
    broken = Expected(
        expected.payer,
        expected.payer_signature,
        expected.mint,
        expected.pay_to,
        expected.amount_atomic,
        "%%%",
    )
    assert check(_answer(_landed(message), 10_000, "base64"), broken).slot == 41


def test_the_wire_split() -> None:
    landed = _landed(_message(10_000))
    wire = Wire.parse(bytes(landed))
    assert wire.signatures == [bytes(s) for s in landed.signatures]
    assert wire.message == to_bytes_versioned(landed.message)
    assert wire.signer(0) == bytes(FEE_PAYER.pubkey()) and wire.signer(1) == bytes(PAYER.pubkey())
    assert wire.signer(2) is None  # a key, but no signer
    assert Pubkey.from_bytes(wire.signer(1) or b"") == PAYER.pubkey()
