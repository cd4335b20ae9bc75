"""x402 header values on the wire: strict base64 JSON and v1 translations.

Plain JSON work, no SDK: decoding a payment header with a reason a client can
log, restating a v2 PAYMENT-REQUIRED as the v1 JSON body, and a v2 receipt
as a v1 ``X-PAYMENT-RESPONSE``.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

V1_NETWORKS = {"solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1": "solana-devnet"}


class PaymentHeaderError(ValueError):
    """A payment header that cannot be a payment; ``reason`` is loggable."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def decode_json_header(raw: str) -> dict[str, Any]:
    """Decode a base64 JSON header value strictly.

    Raises:
        PaymentHeaderError: ``invalid_payment_header_base64`` or ``..._json``.
    """
    try:
        decoded = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError) as error:
        raise PaymentHeaderError("invalid_payment_header_base64", str(error)) from None
    try:
        data = json.loads(decoded.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PaymentHeaderError("invalid_payment_header_json", str(error)) from None
    if not isinstance(data, dict):
        raise PaymentHeaderError("invalid_payment_header_json", "expected a JSON object")
    return data


def payment_required_with_error(header_value: str, error: str) -> tuple[str, dict[str, Any]]:
    """Set ``error`` in a PAYMENT-REQUIRED value and build the v1-compatible body.

    Args:
        header_value: The SDK's base64 PAYMENT-REQUIRED value.
        error: Reason to state (kept from the SDK when empty).

    Returns:
        ``(new header value, v1 JSON body)``; the body has ``x402Version`` 1,
        ``error`` and ``accepts`` with v1 network names and ``maxAmountRequired``.
    """
    required = decode_json_header(header_value)
    if error:
        required["error"] = error
    resource = required.get("resource") or {}
    accepts = []
    for req in required.get("accepts", []):
        accepts.append(
            {
                "scheme": req["scheme"],
                "network": V1_NETWORKS.get(req["network"], req["network"]),
                "maxAmountRequired": req["amount"],
                "resource": resource.get("url", ""),
                "description": resource.get("description", ""),
                "mimeType": resource.get("mimeType", "application/json"),
                "payTo": req["payTo"],
                "maxTimeoutSeconds": req["maxTimeoutSeconds"],
                "asset": req["asset"],
                "extra": req.get("extra") or {},
            }
        )
    body = {"x402Version": 1, "error": required.get("error", ""), "accepts": accepts}
    return b64_json(required), body


def receipt_fields(header_value: str) -> dict[str, Any]:
    """Decode a PAYMENT-RESPONSE value (success, transaction, network, payer)."""
    return decode_json_header(header_value)


def v1_receipt(header_value: str) -> str:
    """Re-express a v2 PAYMENT-RESPONSE for a v1 client (v1 network name)."""
    data = decode_json_header(header_value)
    data["network"] = V1_NETWORKS.get(data.get("network", ""), data.get("network"))
    return b64_json(data)


def b64_json(data: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()
