"""Helpers for the mock API end-to-end tests: chain reads, buyers, header codecs."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import requests
from solders.keypair import Keypair
from x402 import x402ClientSync
from x402.http.clients.requests import wrapRequestsWithPayment
from x402.http.utils import encode_payment_signature_header
from x402.mechanisms.svm import KeypairSigner
from x402.mechanisms.svm.exact import ExactSvmScheme
from x402.schemas import PaymentPayload, PaymentRequired, PaymentRequirements

from harness.testing import HarnessInfo
from mock_premium_api.strict import associated_token_account

TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
DEVNET = "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"


@dataclass
class Chain:
    """Reads the harness chain over JSON-RPC."""

    rpc_url: str

    def call(self, method: str, params: list[Any]) -> Any:
        """One JSON-RPC call; returns ``result`` or fails the test."""
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        answer = requests.post(self.rpc_url, json=body, timeout=10).json()
        assert "error" not in answer, answer
        return answer["result"]

    def token_balance(self, owner: str, mint: str, program: str) -> int:
        """Atomic balance of ``owner``'s associated account for ``mint`` (0 if absent)."""
        ata = associated_token_account(owner, mint, program)
        answer = requests.post(
            self.rpc_url,
            json={"jsonrpc": "2.0", "id": 1, "method": "getTokenAccountBalance", "params": [ata]},
            timeout=10,
        ).json()
        return int(answer["result"]["value"]["amount"]) if "result" in answer else 0

    def transfer_to(self, signature: str, owner: str) -> dict[str, Any]:
        """The token movement into ``owner``'s accounts in a confirmed transaction."""
        tx = self.call(
            "getTransaction",
            [
                signature,
                {
                    "encoding": "json",
                    "maxSupportedTransactionVersion": 0,
                    "commitment": "confirmed",
                },
            ],
        )
        assert tx is not None, f"{signature} not on chain"
        meta = tx["meta"]
        assert meta["err"] is None, meta["err"]
        pre = {b["accountIndex"]: b for b in meta["preTokenBalances"]}
        for post in meta["postTokenBalances"]:
            if post.get("owner") == owner:
                before = pre.get(post["accountIndex"], {}).get("uiTokenAmount", {})
                delta = int(post["uiTokenAmount"]["amount"]) - int(before.get("amount", "0"))
                return {"mint": post["mint"], "amount": delta, "owner": owner}
        raise AssertionError(f"no token balance of {owner} in {signature}")


def allow_cash_spend_controls(harness: HarnessInfo) -> dict[str, Any]:
    """SDK spend controls that also allow the harness's CASH mint.

    The SDK client allows only the assets in its table by default (Devnet
    USDC); the local CASH stand-in must be opted in, capped at 1 CASH.
    """
    cash = {"network": DEVNET, "asset": harness.cash_mint, "max_amount_per_payment": "1000000"}
    return {"allowed_assets": [cash]}


@dataclass
class Buyer:
    """A funded buyer wallet and ways to pay with it."""

    keypair: Keypair
    harness: HarnessInfo
    schemes: list[Any] = field(default_factory=list)

    def close(self) -> None:
        """Close the RPC sessions the SDK's client schemes opened.

        The SDK keeps one solana-py ``Client`` per network and never closes it;
        left to the garbage collector its socket raises ResourceWarning.
        """
        for scheme in self.schemes:
            for client in getattr(scheme, "_clients", {}).values():
                client._provider.session.close()

    @property
    def address(self) -> str:
        """Base58 public key."""
        return str(self.keypair.pubkey())

    def scheme(self) -> ExactSvmScheme:
        """The SDK's SVM exact client scheme for this wallet."""
        return self.track(ExactSvmScheme(KeypairSigner(self.keypair), rpc_url=self.harness.rpc_url))

    def track(self, scheme: Any) -> Any:
        """Remember a client scheme so :meth:`close` closes its RPC sessions."""
        self.schemes.append(scheme)
        return scheme

    def session(self, asset: str | None = None) -> requests.Session:
        """A requests session that pays 402s with the SDK, optionally in one asset."""
        client = x402ClientSync()
        client.register("solana:*", self.scheme())
        client.set_spend_controls(allow_cash_spend_controls(self.harness))
        if asset is not None:
            client.register_policy(lambda _v, reqs: [r for r in reqs if r.asset == asset])
        return wrapRequestsWithPayment(requests.Session(), client)

    def pay_header(
        self,
        required: PaymentRequired,
        asset: str,
        tamper: Callable[[PaymentRequirements], PaymentRequirements] | None = None,
        accepted_tamper: Callable[[PaymentRequirements], PaymentRequirements] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> str:
        """Sign a PAYMENT-SIGNATURE for ``asset``, optionally tampering with it.

        Args:
            required: The decoded 402.
            asset: Mint to pay with.
            tamper: Changes the requirements the transaction is built from.
            accepted_tamper: Changes the ``accepted`` the payload claims.
            extensions: Payload extensions (e.g. a payment-identifier).
        """
        offer = next(r for r in required.accepts if r.asset == asset)
        signed_for = tamper(offer.model_copy(deep=True)) if tamper else offer
        inner = self.scheme().create_payment_payload(signed_for)
        accepted = accepted_tamper(offer.model_copy(deep=True)) if accepted_tamper else offer
        payload = PaymentPayload(
            x402_version=2,
            payload=inner,
            accepted=accepted,
            resource=required.resource,
            extensions=extensions,
        )
        return encode_payment_signature_header(payload)


def decode_b64_json(value: str) -> dict[str, Any]:
    """Decode a base64 JSON header value."""
    return json.loads(base64.b64decode(value))


def payment_required(response: requests.Response) -> PaymentRequired:
    """The v2 PaymentRequired of a 402 answer."""
    assert response.status_code == 402, response.text
    return PaymentRequired.model_validate(decode_b64_json(response.headers["PAYMENT-REQUIRED"]))


def atomic(price: str) -> int:
    """Decimal token units -> atomic units (6 decimals)."""
    return int(Decimal(price).scaleb(6))
