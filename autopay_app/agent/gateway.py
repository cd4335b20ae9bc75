"""The one place the buyer side of x402 is imported: parse 402s, sign, read receipts.

Both wire generations are understood: v2 (``PAYMENT-REQUIRED`` header, CAIP-2
network, ``amount``; paid with ``PAYMENT-SIGNATURE``, receipt in
``PAYMENT-RESPONSE``) and v1 (JSON body ``accepts`` with ``maxAmountRequired``,
network ``solana-devnet``; paid with ``X-PAYMENT``, receipt in
``X-PAYMENT-RESPONSE``). Anything malformed becomes
:class:`~autopay_app.agent.errors.InvalidPaymentRequired`, never another exception.

Signing goes through the SDK's ``ExactSvmScheme`` with two additions the ledger
needs before anything is sent: the agent fetches the blockhash itself (so it
knows the last valid block height) and passes it as the ``recentBlockhash``
hint, and it reads back its own signature and the memo nonce from the bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from solders.keypair import Keypair
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from x402 import x402ClientSync
from x402.extensions.payment_identifier import append_payment_identifier_to_extensions
from x402.http.utils import decode_payment_response_header, encode_payment_signature_header
from x402.mechanisms.svm.constants import MEMO_PROGRAM_ADDRESS, V1_NETWORKS
from x402.mechanisms.svm.exact.client import ExactSvmScheme
from x402.mechanisms.svm.exact.v1.client import ExactSvmSchemeV1
from x402.mechanisms.svm.signers import KeypairSigner
from x402.mechanisms.svm.utils import normalize_network
from x402.schemas import PaymentPayload, PaymentRequired, PaymentRequirements
from x402.schemas.v1 import PaymentPayloadV1, PaymentRequiredV1, PaymentRequirementsV1

from autopay_app.agent.chain import solana_client
from autopay_app.agent.errors import InvalidPaymentRequired

DEVNET_V2 = "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"
DEVNET_NETWORKS = frozenset({DEVNET_V2, "solana-devnet"})
MAX_HEADER_BYTES = 64 * 1024


@dataclass(frozen=True)
class Offer:
    """One payment option of a 402, normalised across v1 and v2."""

    index: int
    scheme: str
    network: str
    asset: str
    amount_atomic: int
    pay_to: str
    max_timeout_seconds: int
    extra: dict[str, Any]

    @property
    def fee_payer(self) -> str | None:
        value = self.extra.get("feePayer")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class PaymentRequiredInfo:
    version: int
    offers: list[Offer]
    document: dict[str, Any]
    model: PaymentRequired | PaymentRequiredV1

    @property
    def description(self) -> str | None:
        if isinstance(self.model, PaymentRequired) and self.model.resource:
            return self.model.resource.description
        if isinstance(self.model, PaymentRequiredV1) and self.model.accepts:
            return self.model.accepts[0].description
        return None


@dataclass(frozen=True)
class SignedPayment:
    header_name: str
    header_value: str
    transaction_b64: str
    payer_signature: str
    memo: str
    blockhash: str
    payment_identifier: str | None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def _decode_document(headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    raw = _header(headers, "PAYMENT-REQUIRED")
    try:
        if raw is not None:
            if len(raw) > MAX_HEADER_BYTES:
                raise InvalidPaymentRequired("PAYMENT-REQUIRED header is too large")
            text = base64.b64decode(raw.encode(), validate=True).decode("utf-8")
        else:
            text = body.decode("utf-8")
        document = json.loads(text)
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise InvalidPaymentRequired(f"402 without a readable payment document: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidPaymentRequired("402 payment document is not a JSON object")
    return document


def _offers(model: PaymentRequired | PaymentRequiredV1) -> list[Offer]:
    out = []
    accepts: list[PaymentRequirements | PaymentRequirementsV1] = list(model.accepts)
    for i, req in enumerate(accepts):
        if isinstance(req, PaymentRequirements):
            amount = req.amount
        else:
            amount = req.max_amount_required
        try:
            atomic = int(str(amount), 10)
        except ValueError:
            raise InvalidPaymentRequired(
                f"offer {i}: amount {amount!r} is not atomic units"
            ) from None
        if atomic <= 0 or atomic >= 2**64:
            raise InvalidPaymentRequired(f"offer {i}: amount {atomic} is out of range")
        out.append(
            Offer(
                i,
                req.scheme,
                str(req.network),
                req.asset,
                atomic,
                req.pay_to,
                int(req.max_timeout_seconds or 0),
                dict(req.extra or {}),
            )
        )
    if not out:
        raise InvalidPaymentRequired("402 offers no way to pay")
    return out


def parse_payment_required(headers: Mapping[str, str], body: bytes) -> PaymentRequiredInfo:
    """Parse a 402 answer (v2 header first, then v1 or v2 JSON body).

    Raises:
        InvalidPaymentRequired: The 402 is malformed or offers nothing payable.
    """
    document = _decode_document(headers, body)
    version = document.get("x402Version")
    try:
        if version == 1:
            model: PaymentRequired | PaymentRequiredV1 = PaymentRequiredV1.model_validate(document)
        elif version == 2:
            model = PaymentRequired.model_validate(document)
        else:
            raise InvalidPaymentRequired(f"unsupported x402Version {version!r}")
    except (ValidationError, TypeError, ValueError) as exc:
        if isinstance(exc, InvalidPaymentRequired):
            raise
        raise InvalidPaymentRequired(f"402 document does not validate: {exc}") from None
    return PaymentRequiredInfo(version, _offers(model), document, model)


class Signer:
    """Builds signed x402 payments for one keypair with the SDK's SVM exact scheme."""

    def __init__(self, keypair: Keypair, rpc_url: str) -> None:
        self.address = str(keypair.pubkey())
        self._client = x402ClientSync()
        # The SDK's schemes cache RPC clients and mint data without locks: sign one at a time.
        self._lock = threading.Lock()
        signer = KeypairSigner(keypair)
        scheme, scheme_v1 = ExactSvmScheme(signer, rpc_url), ExactSvmSchemeV1(signer, rpc_url)
        self._schemes: list[ExactSvmScheme | ExactSvmSchemeV1] = [scheme, scheme_v1]
        for each in self._schemes:
            _give_rpc_client(each, rpc_url)
        self._client.register("solana:*", scheme)
        for network in V1_NETWORKS:
            self._client.register_v1(network, scheme_v1)
        # The agent's own policy (caps, assets) runs before signing; the SDK's
        # default allow-list would refuse the local CASH stand-in.
        self._client.set_spend_controls(False)

    def sign(
        self, info: PaymentRequiredInfo, offer: Offer, blockhash: str, payment_id: str | None
    ) -> SignedPayment:
        """Sign ``offer`` of ``info`` using ``blockhash``; nothing is sent."""
        with self._lock:
            return self._sign(info, offer, blockhash, payment_id)

    def _sign(
        self, info: PaymentRequiredInfo, offer: Offer, blockhash: str, payment_id: str | None
    ) -> SignedPayment:
        document = dict(info.document)
        chosen = dict(document["accepts"][offer.index])
        chosen["extra"] = {**(chosen.get("extra") or {}), "recentBlockhash": blockhash}
        document["accepts"] = [chosen]
        extensions = None
        if info.version == 2:
            model: Any = PaymentRequired.model_validate(document)
            extensions = dict(model.extensions or {})
            if payment_id is not None:
                append_payment_identifier_to_extensions(extensions, payment_id)
            payload = self._client.create_payment_payload(model, extensions=extensions or None)
            header = "PAYMENT-SIGNATURE"
        else:
            payload = self._client.create_payment_payload(
                PaymentRequiredV1.model_validate(document)
            )
            header = "X-PAYMENT"
        tx_b64 = payload.payload["transaction"]
        signature, memo, used_hash = self._inspect(tx_b64)
        declared = (extensions or {}).get("payment-identifier")
        return SignedPayment(
            header,
            encode_payment_signature_header(payload),
            tx_b64,
            signature,
            memo,
            used_hash,
            payment_id if declared else None,
        )

    def close(self) -> None:
        """Close the RPC connections the SDK's schemes opened (it never does)."""
        for scheme in self._schemes:
            for client in getattr(scheme, "_clients", {}).values():
                client._provider.session.close()

    def _inspect(self, tx_b64: str) -> tuple[str, str, str]:
        tx = VersionedTransaction.from_bytes(base64.b64decode(tx_b64))
        keys = [str(k) for k in tx.message.account_keys]
        signature = str(tx.signatures[keys.index(self.address)])
        memo = ""
        for ix in tx.message.instructions:
            if keys[ix.program_id_index] == MEMO_PROGRAM_ADDRESS:
                memo = bytes(ix.data).decode("utf-8", "replace")
        return signature, memo, str(tx.message.recent_blockhash)


class WalletAuthority:
    """A person's wallet as the SDK's client signer: its address is the token authority,
    and its "signing" keeps an empty signature (the wallet signs the bytes later, in the
    browser). The SDK's own ``ExactSvmScheme`` builds the transaction, so it carries
    exactly the instructions, fee payer and memo nonce the SDK's client would."""

    def __init__(self, address: str) -> None:
        self.address = address

    @property
    def keypair(self) -> WalletAuthority:
        return self  # the scheme calls ``signer.keypair.sign_message(message)``

    def sign_message(self, message: bytes) -> Signature:
        return Signature.default()


@dataclass(frozen=True)
class WalletPayment:
    """An x402 payment built for a wallet to sign: the unsigned transaction and the
    SDK's payload around it (to wrap the signed transaction in the same header)."""

    transaction_b64: str
    payload: dict[str, Any]
    version: int


def build_for_wallet(
    info: PaymentRequiredInfo,
    offer: Offer,
    blockhash: str,
    payer: str,
    rpc_url: str,
    payment_id: str | None,
) -> WalletPayment:
    """The x402 exact SVM payment of ``offer`` with ``payer`` (a wallet) as the token
    authority, built by the SDK's client scheme with ``blockhash``; nothing is signed."""
    authority = WalletAuthority(payer)
    client = x402ClientSync()
    scheme, scheme_v1 = ExactSvmScheme(authority, rpc_url), ExactSvmSchemeV1(authority, rpc_url)  # type: ignore[arg-type]
    for each in (scheme, scheme_v1):
        _give_rpc_client(each, rpc_url)
    client.register("solana:*", scheme)
    for network in V1_NETWORKS:
        client.register_v1(network, scheme_v1)
    client.set_spend_controls(False)
    document = dict(info.document)
    chosen = dict(document["accepts"][offer.index])
    chosen["extra"] = {**(chosen.get("extra") or {}), "recentBlockhash": blockhash}
    document["accepts"] = [chosen]
    try:
        if info.version == 2:
            model: Any = PaymentRequired.model_validate(document)
            extensions = dict(model.extensions or {})
            if payment_id is not None:
                append_payment_identifier_to_extensions(extensions, payment_id)
            built = client.create_payment_payload(model, extensions=extensions or None)
        else:
            built = client.create_payment_payload(PaymentRequiredV1.model_validate(document))
    finally:
        for each in (scheme, scheme_v1):
            for rpc in each._clients.values():
                rpc._provider.session.close()
    payload = built.model_dump(by_alias=True, exclude_none=True)
    return WalletPayment(str(built.payload["transaction"]), payload, info.version)


def wrap_signed(
    built: WalletPayment, signed_b64: str, payer: str, payment_id: str | None
) -> SignedPayment:
    """The wallet's signed transaction in the SDK's payment header, as :class:`Signer` makes
    it (``payer``'s signature and the memo read back from the bytes)."""
    document = {**built.payload, "payload": {**built.payload["payload"], "transaction": signed_b64}}
    kind: Any = PaymentPayload if built.version == 2 else PaymentPayloadV1
    model = kind.model_validate(document)
    tx = VersionedTransaction.from_bytes(base64.b64decode(signed_b64))
    keys = [str(k) for k in tx.message.account_keys]
    memo = ""
    for ix in tx.message.instructions:
        if keys[ix.program_id_index] == MEMO_PROGRAM_ADDRESS:
            memo = bytes(ix.data).decode("utf-8", "replace")
    return SignedPayment(
        "PAYMENT-SIGNATURE" if built.version == 2 else "X-PAYMENT",
        encode_payment_signature_header(model),
        signed_b64,
        str(tx.signatures[keys.index(payer)]),
        memo,
        str(tx.message.recent_blockhash),
        payment_id if built.version == 2 and payment_id else None,
    )


def _give_rpc_client(scheme: Any, rpc_url: str) -> None:
    """Hand the SDK's scheme its Devnet RPC client, made without solana-py's deprecation
    warning (the scheme would make the same client itself on first use)."""
    scheme._clients[normalize_network(DEVNET_V2)] = solana_client(rpc_url)


def bare_sdk_session(keypair: Keypair, rpc_url: str) -> Any:
    """The SDK's own paying ``requests`` session (no policy, no ledger): the baseline
    ``autopay bench agent`` compares the agent against."""
    import requests
    from x402.http.clients.requests import wrapRequestsWithPayment

    client = x402ClientSync()
    scheme = ExactSvmScheme(KeypairSigner(keypair), rpc_url)
    _give_rpc_client(scheme, rpc_url)
    client.register("solana:*", scheme)
    client.set_spend_controls(False)
    return wrapRequestsWithPayment(requests.Session(), client)


def parse_settlement(headers: Mapping[str, str]) -> dict[str, Any] | None:
    """The settlement receipt of a paid answer (v2 or v1 header), or None."""
    raw = _header(headers, "PAYMENT-RESPONSE") or _header(headers, "X-PAYMENT-RESPONSE")
    if not raw or len(raw) > MAX_HEADER_BYTES:
        return None
    try:
        return decode_payment_response_header(raw).model_dump(by_alias=True, exclude_none=True)
    except (ValidationError, ValueError, binascii.Error, UnicodeDecodeError):
        return None


def failure_reason(headers: Mapping[str, str], body: bytes) -> str | None:
    """The x402 reason a payment was refused with (from the 402's ``error``), if any."""
    try:
        document = _decode_document(headers, body)
    except InvalidPaymentRequired:
        return None
    reason = document.get("error")
    return str(reason)[:128] if reason else None
