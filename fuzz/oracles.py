"""What "no crash other than a classified error" means, per parser.

Each ``check_*`` feeds one input to a parser and returns normally when the
parser answered with a valid result or its classified error; anything else
(another exception, a malformed result) raises :class:`Unclassified`, which
both hypothesis and atheris report as a failure. ``BaseException`` is caught
too: solders' ``PanicException`` is not an ``Exception``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any

from autopay_app.agent import gateway
from autopay_app.agent.errors import InvalidPaymentRequired
from autopay_app.errors import AutopayError


class Unclassified(AssertionError):
    """A parser raised something other than its classified error, or returned junk."""


def _call(fn: Callable[..., Any], *args: Any, allowed: tuple[type[BaseException], ...]) -> Any:
    try:
        return fn(*args)
    except allowed:
        raise
    except BaseException as exc:  # noqa: BLE001  (the point: nothing else may escape)
        raise Unclassified(f"{fn.__name__}{args!r:.300} raised {exc!r:.300}") from exc


def check_payment_required(headers: Mapping[str, str], body: bytes) -> str:
    """``parse_payment_required``: a payable offer list, or InvalidPaymentRequired.

    Returns:
        ``"accepted"`` or ``"refused"`` (for the fuzzers' statistics).
    """
    try:
        info = _call(gateway.parse_payment_required, headers, body, allowed=(AutopayError,))
    except AutopayError as exc:
        if not isinstance(exc, InvalidPaymentRequired) or exc.category != "INVALID_402":
            raise Unclassified(f"wrong classification {exc!r}") from exc
        return "refused"
    if info.version not in (1, 2) or not info.offers:
        raise Unclassified(f"accepted a 402 without offers: {info!r:.300}")
    for offer in info.offers:
        if not (isinstance(offer.amount_atomic, int) and 0 < offer.amount_atomic < 2**64):
            raise Unclassified(f"accepted amount {offer.amount_atomic!r}")
    return "accepted"


def check_settlement(headers: Mapping[str, str]) -> None:
    """``parse_settlement``: a receipt dict or None, never an exception."""
    result = _call(gateway.parse_settlement, headers, allowed=())
    if result is not None and not isinstance(result, dict):
        raise Unclassified(f"parse_settlement returned {result!r:.300}")


def check_failure_reason(headers: Mapping[str, str], body: bytes) -> None:
    """``failure_reason``: a short string or None, never an exception."""
    result = _call(gateway.failure_reason, headers, body, allowed=())
    if result is not None and not (isinstance(result, str) and len(result) <= 128):
        raise Unclassified(f"failure_reason returned {result!r:.300}")


def check_gateway(headers: Mapping[str, str], body: bytes) -> str:
    """All three agent-side parsers on one answer; returns the 402 parser's outcome."""
    outcome = check_payment_required(headers, body)
    check_settlement(headers)
    check_failure_reason(headers, body)
    return outcome


def mock_seller() -> Any:
    """The mock API's seller, as its app builds it (the facilitator is never called)."""
    from mock_premium_api.config import load_config
    from mock_premium_api.faults import FaultState
    from mock_premium_api.x402_setup import Seller

    return Seller(load_config({}), FaultState())


def check_mock_payment_header(seller: Any, raw: str) -> str:
    """The mock API's decoders: a parsed payment, or a PaymentHeaderError / StrictCheckError.

    Returns:
        ``"transfer found"`` or the refusal's reason (for the fuzzers' statistics).
    """
    from mock_premium_api import strict, wire

    classified = (wire.PaymentHeaderError, strict.StrictCheckError)
    try:
        data = _call(wire.decode_json_header, raw, allowed=classified)
        if not isinstance(data, dict):
            raise Unclassified(f"decode_json_header returned {data!r:.300}")
    except classified:
        pass
    try:
        parsed = _call(seller.parse_payment_header, raw, allowed=classified)
        tx = _call(strict.decode_transaction, parsed.transaction, allowed=classified)
        _call(strict.replay_key, tx, allowed=())
        _call(strict.find_transfer, tx, allowed=classified)
    except classified as exc:
        reason = getattr(exc, "reason", "")
        if not reason:
            raise Unclassified(f"unclassified refusal {exc!r}") from exc
        return str(reason)
    return "transfer found"


def transfer_transaction() -> bytes:
    """A signed TransferChecked of 10000 atomic units (6 decimals): a seed to mutate."""
    import struct

    from solders.hash import Hash
    from solders.instruction import AccountMeta, Instruction
    from solders.keypair import Keypair
    from solders.message import MessageV0
    from solders.pubkey import Pubkey
    from solders.transaction import VersionedTransaction

    payer, owner = Keypair.from_seed(bytes(32)), Keypair.from_seed(bytes([1]) * 32)
    token = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
    mint, source, dest = (Pubkey(bytes([i]) * 32) for i in (2, 3, 4))
    transfer = Instruction(
        token,
        bytes([12]) + struct.pack("<Q", 10_000) + bytes([6]),
        [
            AccountMeta(source, False, True),
            AccountMeta(mint, False, False),
            AccountMeta(dest, False, True),
            AccountMeta(owner.pubkey(), True, False),
        ],
    )
    message = MessageV0.try_compile(payer.pubkey(), [transfer], [], Hash.default())
    return bytes(VersionedTransaction(message, [payer, owner]))


def transfer_with_stray_index() -> bytes:
    """The transfer with its mint account index pointing past the static keys.

    solders decodes it; the mock API's ``find_transfer`` once indexed past the
    key list with it (IndexError: a 500 for a v1 ``X-PAYMENT``). Found by atheris.
    """
    from solders.instruction import CompiledInstruction
    from solders.message import MessageV0
    from solders.transaction import VersionedTransaction

    tx = VersionedTransaction.from_bytes(transfer_transaction())
    message = tx.message
    ix = message.instructions[0]
    accounts = bytes([ix.accounts[0], 200, *ix.accounts[2:]])
    stray = CompiledInstruction(ix.program_id_index, bytes(ix.data), accounts)
    bad = MessageV0(
        message.header, list(message.account_keys), message.recent_blockhash, [stray], []
    )
    return bytes(VersionedTransaction.populate(bad, list(tx.signatures)))


def gateway_seeds() -> list[bytes]:
    """Starting inputs for ``fuzz_gateway.py`` (mode byte + payload): valid v2 and v1 402s."""
    from autopay_app.devtools import samples

    v2 = json.dumps(samples.payment_required("http://127.0.0.1/api/market-feed")).encode()
    v1 = json.dumps(
        {
            "x402Version": 1,
            "error": "X-PAYMENT header is required",
            "accepts": [
                {
                    "scheme": "exact",
                    "network": "solana-devnet",
                    "maxAmountRequired": "10000",
                    "resource": "http://127.0.0.1/api/market-feed",
                    "description": "data",
                    "mimeType": "application/json",
                    "payTo": samples.DEMO_SELLER,
                    "maxTimeoutSeconds": 60,
                    "asset": samples.USDC_DEVNET_MINT,
                }
            ],
        }
    ).encode()
    return [bytes([1]) + v2, bytes([3]) + v2, bytes([3]) + v1, bytes([2]) + b"{}"]


def mock_seeds() -> list[bytes]:
    """Starting inputs for ``fuzz_mock_api.py``: a real signed transfer as the transaction."""
    return [bytes([2]) + transfer_transaction(), bytes([1]) + b'{"x402Version": 2}']


def b64_json(document: Any) -> str:
    return base64.b64encode(json.dumps(document).encode()).decode()
