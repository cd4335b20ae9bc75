"""The x402 facilitator: GET /supported, POST /verify, POST /settle.

Built from the x402 SDK's own pieces (``x402FacilitatorSync`` and the SVM exact
scheme, v2 and v1, sharing one settlement cache so a duplicate settlement is refused
across versions), with two changes:

* the signer polls for confirmation every few milliseconds instead of the SDK's fixed
  1 s, so a settlement costs about one slot;
* the v2 scheme requires the *exact* amount, as the x402 spec says (the SDK accepts
  overpayment).

It talks to whatever RPC URL it is given: the harness's own, or any SOLANA_RPC_URL.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from typing import Any

from solana.rpc.api import Client
from solders.keypair import Keypair
from solders.signature import Signature
from x402 import x402FacilitatorSync
from x402.mechanisms.svm import SOLANA_DEVNET_CAIP2, V1_NETWORKS, FacilitatorKeypairSigner
from x402.mechanisms.svm.exact.facilitator import ExactSvmScheme
from x402.mechanisms.svm.exact.v1.facilitator import ExactSvmSchemeV1
from x402.mechanisms.svm.settlement_cache import SettlementCache
from x402.mechanisms.svm.utils import decode_transaction_from_payload
from x402.schemas import (
    SchemeNotFoundError,
    SettleResponse,
    VerifyResponse,
    parse_payment_payload,
    parse_payment_requirements,
)

from harness.faults import FaultInjector
from harness.httpbase import BodyTooLarge, FastHandler

log = logging.getLogger(__name__)
ERR_AMOUNT_MISMATCH = "invalid_exact_svm_payload_amount_mismatch"
CONFIRM_TIMEOUT_S = 30


class FastConfirmSigner(FacilitatorKeypairSigner):
    """The SDK's keypair signer, polling confirmation every ``poll_s`` seconds."""

    def __init__(self, keypair: Keypair, rpc_url: str, poll_s: float) -> None:
        super().__init__(keypair, rpc_url)
        self.poll_s = poll_s
        # solana-py 0.39 deprecates the sync Client the SDK's signer is built on (a
        # DeprecationWarning and a FutureWarning); the signer's one client is made
        # here, its warnings silenced where they are raised.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Client is deprecated")
            self._clients[SOLANA_DEVNET_CAIP2] = Client(rpc_url)

    def confirm_transaction(self, signature: str, network: str, timeout_seconds: int = 30) -> None:
        """Wait until the transaction is confirmed; RuntimeError on failure or timeout."""
        from solders.transaction_status import TransactionConfirmationStatus as Level

        client = self._get_client(network)
        sig = Signature.from_string(signature)
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            status = client.get_signature_statuses([sig]).value[0]
            if status is not None:
                if status.err:
                    raise RuntimeError(f"Transaction failed: {status.err}")
                if status.confirmation_status in (Level.Confirmed, Level.Finalized):
                    return
            time.sleep(self.poll_s)
        raise RuntimeError("Transaction confirmation timeout")


def _transfer_amount(payload: Any) -> int | None:
    from x402.mechanisms.svm.types import ExactSvmPayload

    tx = decode_transaction_from_payload(ExactSvmPayload.from_dict(payload.payload))
    for ix in tx.message.instructions:
        data = bytes(ix.data)
        if len(data) == 10 and data[0] == 12:  # TransferChecked
            return int.from_bytes(data[1:9], "little")
    return None


class ExactAmountSvmScheme(ExactSvmScheme):
    """The SDK's SVM exact scheme, refusing overpayment as the spec requires."""

    def verify(self, payload, requirements, context=None) -> VerifyResponse:
        """Verify with the SDK, then require amount == requirements.amount."""
        result = super().verify(payload, requirements, context)
        if not result.is_valid:
            return result
        try:
            amount = _transfer_amount(payload)
        except Exception:  # the SDK already decoded it once; be defensive anyway
            amount = None
        if amount != int(requirements.amount):
            return VerifyResponse(
                is_valid=False, invalid_reason=ERR_AMOUNT_MISMATCH, payer=result.payer
            )
        return result


def build_facilitator(keypair: Keypair, rpc_url: str, poll_s: float) -> x402FacilitatorSync:
    """Assemble the SDK facilitator for Solana Devnet (v2) and the v1 network names."""
    signer = FastConfirmSigner(keypair, rpc_url, poll_s)
    cache = SettlementCache()
    facilitator = x402FacilitatorSync()
    facilitator.register([SOLANA_DEVNET_CAIP2], ExactAmountSvmScheme(signer, cache))
    facilitator.register_v1(V1_NETWORKS, ExactSvmSchemeV1(signer, cache))
    return facilitator


class FacilitatorHandler(FastHandler):
    """HTTP front of the facilitator, with fault injection."""

    def _fault(self, target: str) -> bool:
        faults: FaultInjector = self.server.app.faults
        decision = faults.decide(target)
        if decision.delay_s:
            time.sleep(decision.delay_s)
        if decision.mode is None or decision.mode in ("drop_tx", "delay_confirmation"):
            return False
        mode = "http_500" if decision.mode == "rpc_error" else decision.mode
        self.http_fault(mode, decision.hang_s)
        return True

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        path = self.path.split("?")[0].rstrip("/")
        if path != "/supported":
            self.reply_json(404, {"error": "not found"})
            return
        if self._fault("facilitator.supported"):
            return
        supported = self.server.app.facilitator.get_supported()
        self.reply_json(200, supported.model_dump(by_alias=True, exclude_none=True))

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        path = self.path.split("?")[0].rstrip("/")
        if path not in ("/verify", "/settle"):
            self.reply_json(404, {"error": "not found"})
            return
        try:
            body = self.read_body()
        except BodyTooLarge:
            self.reply_too_large()
            return
        if self._fault("facilitator" + path.replace("/", ".")):
            return
        status, answer = handle_payment(self.server.app.facilitator, path[1:], body)
        self.reply_json(status, answer)


def handle_payment(facilitator: x402FacilitatorSync, action: str, body: bytes) -> tuple[int, Any]:
    """Run verify or settle on a request body; return (HTTP status, JSON answer)."""
    try:
        request = json.loads(body)
        payload = parse_payment_payload(request["paymentPayload"])
        version = int(request.get("x402Version", payload.x402_version))
        requirements = parse_payment_requirements(version, request["paymentRequirements"])
    except Exception as exc:  # pydantic, JSON and key errors: all a bad request
        return 400, {"error": f"invalid {action} request: {exc}"}
    try:
        result: VerifyResponse | SettleResponse
        if action == "verify":
            result = facilitator.verify(payload, requirements)
        else:
            result = facilitator.settle(payload, requirements)
    except SchemeNotFoundError as exc:
        return 400, {"error": f"unsupported scheme or network: {exc}"}
    except Exception as exc:
        log.exception("facilitator %s failed", action)
        return 500, {"error": f"{action} failed: {exc}"}
    return 200, result.model_dump(by_alias=True, exclude_none=True)
