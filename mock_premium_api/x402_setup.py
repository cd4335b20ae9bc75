"""The one module of this package that imports the x402 SDK.

It wires the SDK's seller side: ``x402ResourceServerSync`` with the SVM
``exact`` server scheme, a facilitator client over HTTP (wrapped to notice
transport failures), the payment-identifier declaration, the strict-check hook
(``on_before_verify``: exact amount, mint, recipient ATA, fee payer; an expired
blockhash is named after the facilitator refuses, :mod:`.refusals`) and the SDK's
Flask ``PaymentMiddleware`` with its paywall.

One facilitator round trip per good payment: inside :func:`verified_at_settlement`
(the gate's paid pass) the strict-check hook answers the SDK's verify step itself
(``SkipVerifyResult``) once the local checks pass, and the facilitator verifies
the payment (structure and simulation) inside ``/settle``, before it sends it. A
payment ``/settle`` refuses before sending anything is then asked the SDK's
default way (``/verify`` first, :func:`refused_before_sending`), so its 402 names
the reason exactly as a refused verify does. It also validates payment headers
into the SDK's types, re-expresses a v1 ``X-PAYMENT`` as the v2 payload the
middleware reads, and builds the SDK's buyer client for the benchmark
(``paying_session``).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import requests
from flask import Flask
from pydantic import ValidationError
from x402 import (
    ResourceConfig,
    SkipVerifyResult,
    SpendControlAsset,
    SpendControls,
    x402ClientSync,
    x402ResourceServerSync,
)
from x402.http import FacilitatorConfig, HTTPFacilitatorClientSync
from x402.http.clients.requests import wrapRequestsWithPayment
from x402.http.middleware.flask import PaymentMiddleware
from x402.http.types import PaymentOption, PaywallConfig, RouteConfig
from x402.mcp import ResourceInfo as ToolResource
from x402.mcp import SyncPaymentWrapperConfig, create_payment_wrapper_sync
from x402.mechanisms.svm import KeypairSigner
from x402.mechanisms.svm.exact import ExactSvmClientScheme, ExactSvmServerScheme
from x402.schemas import (
    AbortResult,
    AssetAmount,
    PaymentPayload,
    PaymentRequirements,
    ResourceInfo,
    VerifyResponse,
)

from . import keepalive, refusals, strict
from .catalog import ENDPOINTS, SERVICE_NAME, Endpoint
from .config import ASSET_DECIMALS, MockApiConfig
from .faults import FaultState
from .keepalive import KeepAliveClient
from .rpc import BlockhashChecker
from .wire import V1_NETWORKS, PaymentHeaderError, b64_json, decode_json_header

REQUIRED_HEADER = "PAYMENT-REQUIRED"
RESPONSE_HEADER = "PAYMENT-RESPONSE"
V1_RESPONSE_HEADER = "X-PAYMENT-RESPONSE"

_trouble = threading.local()
_flow = threading.local()

# The payment-identifier extension (x402 v2). The SDK's own helpers live in
# ``x402.extensions``, whose package import requires ``jsonschema`` (the
# ``x402[extensions]`` extra, not among this project's dependencies); the
# declaration and the id rule are small, so they are restated here exactly.
PAYMENT_IDENTIFIER = "payment-identifier"
PAYMENT_ID_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{16,128}$")
PAYMENT_IDENTIFIER_DECLARATION: dict[str, Any] = {
    "info": {"required": False},
    "schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "required": {"type": "boolean"},
            "id": {
                "type": "string",
                "minLength": 16,
                "maxLength": 128,
                "pattern": "^[a-zA-Z0-9_-]+$",
            },
        },
        "required": ["required"],
    },
}


def extract_payment_identifier(payload: PaymentPayload) -> str | None:
    """Return the payment-identifier ``id`` of a v2 payload, if present and valid."""
    extension = (payload.extensions or {}).get(PAYMENT_IDENTIFIER)
    info = extension.get("info") if isinstance(extension, dict) else None
    value = info.get("id") if isinstance(info, dict) else None
    return value if isinstance(value, str) and PAYMENT_ID_PATTERN.match(value) else None


class FacilitatorUnavailable(RuntimeError):
    """The facilitator could not be reached, timed out, or failed (5xx)."""


def reset_facilitator_trouble() -> None:
    """Forget the facilitator trouble (and refusal) of a previous request on this thread."""
    _trouble.error = None
    _trouble.refused_unsent = False


@contextmanager
def verified_at_settlement() -> Iterator[None]:
    """Within: a payment that passes the strict checks skips the facilitator's
    ``/verify``; its ``/settle`` verifies it before sending (one round trip)."""
    _flow.at_settlement = True
    try:
        yield
    finally:
        _flow.at_settlement = False


def _at_settlement() -> bool:
    return bool(getattr(_flow, "at_settlement", False))


def refused_before_sending() -> bool:
    """Whether this thread's last ``/settle``, verifying at settlement, refused the
    payment before sending it (no transaction): nothing reached the chain."""
    return bool(getattr(_trouble, "refused_unsent", False))


def facilitator_trouble() -> str | None:
    """Describe facilitator trouble met by this thread's request, if any."""
    return getattr(_trouble, "error", None)


class GuardedFacilitatorClient:
    """The SDK's HTTP facilitator client, remembering transport failures.

    The SDK turns a failed verify or settle into a 402; the seller must answer
    503 instead, so this wrapper records the failure for the current thread.
    """

    def __init__(self, url: str, timeout: float, rpc: BlockhashChecker) -> None:
        # A keep-alive http.client connection when it suits the URL (plain http, no
        # proxy); otherwise (None) the SDK's own httpx client.
        self._http = KeepAliveClient(timeout) if keepalive.suits(url) else None
        self._client = HTTPFacilitatorClientSync(
            FacilitatorConfig(url=url, timeout=timeout, http_client=self._http)
        )
        self._rpc = rpc

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except httpx.TimeoutException as error:
            _trouble.error = f"facilitator timed out: {type(error).__name__}"
            raise
        except httpx.TransportError as error:
            _trouble.error = f"facilitator unreachable: {type(error).__name__}"
            raise
        except ValueError as error:
            if " failed (5" in str(error):
                _trouble.error = f"facilitator error: {str(error)[:200]}"
            raise

    def verify(self, payload: Any, requirements: Any) -> Any:
        """Verify through the facilitator; a generic refusal gets its specific reason."""
        result = self._call(self._client.verify, payload, requirements)
        if result.is_valid:
            return result
        code = refusals.specific_reason(
            result.invalid_reason, result.invalid_message, payload, self._rpc
        )
        if code is None:
            return result
        message = f"{result.invalid_reason}: {result.invalid_message or ''}".strip(": ")
        return result.model_copy(update={"invalid_reason": code, "invalid_message": message})

    def settle(self, payload: Any, requirements: Any) -> Any:
        """Settle through the facilitator; a generic failure gets its specific reason."""
        result = self._call(self._client.settle, payload, requirements)
        if result.success:
            return result
        if not result.transaction and _at_settlement():
            # Refused before sending: the gate asks /verify for the reason (and names it).
            _trouble.refused_unsent = True
            return result
        code = refusals.specific_reason(
            result.error_reason, result.error_message, payload, self._rpc
        )
        if code is None:
            return result
        message = f"{result.error_reason}: {result.error_message or ''}".strip(": ")
        return result.model_copy(update={"error_reason": code, "error_message": message})

    def get_supported(self) -> Any:
        """Ask the facilitator what it supports (fee payer included)."""
        return self._call(self._client.get_supported)

    def close(self) -> None:
        """Close the connections to the facilitator."""
        if self._http is not None:
            self._http.close()
        else:
            self._client.close()

    @property
    def keeps_alive(self) -> bool:
        """Whether the facilitator is called over :class:`~.keepalive.KeepAliveClient`."""
        return self._http is not None


@dataclass(frozen=True)
class ParsedPayment:
    """A decoded payment header.

    Attributes:
        version: 1 (``X-PAYMENT``) or 2 (``PAYMENT-SIGNATURE``).
        data: The decoded JSON payload.
        transaction: Base64 transaction from ``payload.transaction``.
        payment_id: The payment-identifier extension's id, if any.
    """

    version: int
    data: dict[str, Any]
    transaction: str
    payment_id: str | None


class Seller:
    """The x402 seller: prices, requirements, SDK middleware and checks."""

    def __init__(self, config: MockApiConfig, faults: FaultState) -> None:
        self.config = config
        self._faults = faults
        self._blockhashes = BlockhashChecker(config.rpc_url)
        self._facilitator = GuardedFacilitatorClient(
            config.facilitator_url, config.facilitator_timeout, self._blockhashes
        )
        self.server = x402ResourceServerSync(self._facilitator)
        # The SDK's own scheme class and protocol disagree on a type parameter.
        self.server.register(config.network, ExactSvmServerScheme())  # type: ignore[arg-type]
        self.server.on_before_verify(self._strict_hook)
        self._init_lock = threading.Lock()
        self._ready = False

    def close(self) -> None:
        """Close the seller's connections (facilitator and RPC)."""
        self._facilitator.close()
        self._blockhashes.close()

    # -- setup ---------------------------------------------------------------

    def install(self, app: Flask) -> None:
        """Put the SDK's Flask payment middleware in front of the data routes."""
        PaymentMiddleware(
            app,
            self.routes(),
            self.server,
            paywall_config=PaywallConfig(app_name=SERVICE_NAME, testnet=True),
            sync_facilitator_on_start=False,
        )

    def ensure_ready(self) -> None:
        """Fetch the facilitator's capabilities once (lazily, retried on failure).

        Raises:
            FacilitatorUnavailable: The facilitator cannot be asked.
        """
        if self._ready:
            return
        with self._init_lock:
            if self._ready:
                return
            try:
                self.server.initialize()
            except Exception as error:
                raise FacilitatorUnavailable(f"facilitator /supported failed: {error}") from None
            self._ready = True

    def routes(self) -> dict[str, RouteConfig]:
        """x402 route configuration: one route per paid endpoint, USDC and CASH."""
        return {f"GET {e.path}": self._route(e) for e in ENDPOINTS}

    def _route(self, endpoint: Endpoint) -> RouteConfig:
        accepts = [
            PaymentOption(
                scheme="exact",
                pay_to=self.config.pay_to,
                price=self._price_fn(endpoint, symbol),
                network=self.config.network,
                max_timeout_seconds=self.config.max_timeout_seconds,
            )
            for symbol in self.config.assets()
        ]
        return RouteConfig(
            accepts=accepts,
            description=endpoint.description,
            mime_type="application/json",
            service_name=SERVICE_NAME,
            tags=[endpoint.category],
            extensions={PAYMENT_IDENTIFIER: PAYMENT_IDENTIFIER_DECLARATION},
        )

    # -- prices and requirements -----------------------------------------------

    def price(self, endpoint: Endpoint, symbol: str) -> Decimal:
        """Current decimal price (configured price times the fault multiplier)."""
        raw = self.config.prices[endpoint.path][symbol] * self._faults.current.price_multiplier
        unit = Decimal(1).scaleb(-ASSET_DECIMALS)
        return max(raw.quantize(unit, rounding=ROUND_HALF_UP), unit)

    def _asset_amount(self, endpoint: Endpoint, symbol: str) -> AssetAmount:
        mint, _ = self.config.assets()[symbol]
        atomic = int(self.price(endpoint, symbol).scaleb(ASSET_DECIMALS))
        return AssetAmount(amount=str(atomic), asset=mint, extra={"symbol": symbol})

    def _price_fn(self, endpoint: Endpoint, symbol: str) -> Callable[[Any], AssetAmount]:
        return lambda _context: self._asset_amount(endpoint, symbol)

    def requirements_for(
        self, endpoint: Endpoint
    ) -> tuple[list[dict[str, Any]], dict[str, Decimal]]:
        """The payment requirements a 402 for ``endpoint`` demands right now.

        Raises:
            FacilitatorUnavailable: Requirements need the facilitator's fee payer.
        """
        self.ensure_ready()
        accepts: list[dict[str, Any]] = []
        prices: dict[str, Decimal] = {}
        for symbol in self.config.assets():
            resource = ResourceConfig(
                scheme="exact",
                pay_to=self.config.pay_to,
                price=self._asset_amount(endpoint, symbol),
                network=self.config.network,
                max_timeout_seconds=self.config.max_timeout_seconds,
            )
            for req in self.server.build_payment_requirements(resource):
                accepts.append(req.model_dump(by_alias=True, exclude_none=True))
            prices[symbol] = self.price(endpoint, symbol)
        return accepts, prices

    def call_paid_tool(
        self,
        endpoint: Endpoint,
        tool: str,
        handler: Callable[[dict[str, Any]], tuple[dict[str, Any], bool]],
        arguments: dict[str, Any],
        meta: dict[str, Any],
    ) -> dict[str, Any]:
        """One call of the paid MCP tool ``tool``, priced as ``endpoint``, through the SDK's
        MCP payment wrapper: no payment in ``meta["x402/payment"]`` gives the x402
        PaymentRequired as the error result; a payment is verified (after the strict-check
        hook) and settled through the facilitator, and the data released only once settled.
        ``handler`` returns the data and whether it is an error (an error is not charged).

        Returns:
            The result's fields: ``content``, ``isError``, ``_meta``, ``structuredContent``.

        Raises:
            FacilitatorUnavailable: The requirements need the facilitator's fee payer.
        """
        accepts = [
            PaymentRequirements.model_validate(a) for a in self.requirements_for(endpoint)[0]
        ]
        resource = ToolResource(
            url=f"mcp://tool/{tool}",
            description=endpoint.description,
            mime_type="application/json",
            service_name=SERVICE_NAME,
            tags=[endpoint.category],
        )
        paid = create_payment_wrapper_sync(
            self.server, SyncPaymentWrapperConfig(accepts=accepts, resource=resource)
        )

        def run(args: dict[str, Any], _context: Any) -> dict[str, Any]:
            data, failed = handler(args)
            return {
                "content": [{"type": "text", "text": json.dumps(data)}],
                "structuredContent": data,
                "isError": failed,
            }

        result = paid(run)(arguments, {"_meta": meta, "toolName": tool})
        return {
            "content": result.content,
            "isError": result.is_error,
            "_meta": result.meta or {},
            "structuredContent": result.structured_content,
        }

    # -- strict checks -----------------------------------------------------------

    def _strict_hook(self, context: Any) -> AbortResult | SkipVerifyResult | None:
        req = context.requirements
        payload = context.payment_payload.payload or {}
        token_program = dict(self.config.assets().values()).get(req.asset)
        if token_program is None:
            return AbortResult(reason=strict.ERR_MINT, message=f"unknown asset {req.asset}")
        expected = strict.Expected(
            amount=int(req.amount),
            mint=req.asset,
            token_program=token_program,
            pay_to=req.pay_to,
            fee_payer=(req.extra or {}).get("feePayer"),
        )
        try:
            tx = strict.decode_transaction(str(payload.get("transaction", "")))
            strict.check_transaction(tx, expected)
        except strict.StrictCheckError as error:
            return AbortResult(reason=error.reason, message=error.detail)
        # An expired blockhash is named on the refusal path (:mod:`.refusals`), not asked
        # of the RPC before every verify: nothing blocks a good payment that the SDK's
        # own seller does not do.
        if _at_settlement():
            # The facilitator's /settle verifies (structure, simulation) before sending.
            return SkipVerifyResult(VerifyResponse(is_valid=True, payer=strict.payer(tx)))
        return None

    # -- headers -----------------------------------------------------------------

    def parse_payment_header(self, raw: str) -> ParsedPayment:
        """Decode a ``PAYMENT-SIGNATURE`` (v2) or ``X-PAYMENT`` (v1) value.

        Raises:
            PaymentHeaderError: Bad base64, bad JSON, unsupported version or
                scheme, wrong network, or a payload without a transaction.
        """
        data = decode_json_header(raw)
        version = data.get("x402Version")
        scheme: Any
        network: Any
        if version not in (1, 2):
            raise PaymentHeaderError("unsupported_x402_version", f"x402Version={version!r}")
        if version == 2:
            try:
                payload = PaymentPayload.model_validate(data)
            except ValidationError as error:
                raise PaymentHeaderError("invalid_payment_payload", _first_error(error)) from None
            scheme, network = payload.accepted.scheme, payload.accepted.network
            payment_id = extract_payment_identifier(payload)
        else:
            scheme, network, payment_id = data.get("scheme"), data.get("network"), None
            network = {v: k for k, v in V1_NETWORKS.items()}.get(str(network), network)
        if scheme != "exact":
            raise PaymentHeaderError("unsupported_scheme", f"scheme={scheme!r}")
        if network != self.config.network:
            raise PaymentHeaderError("network_mismatch", f"network={network!r}")
        inner = data.get("payload")
        transaction = inner.get("transaction") if isinstance(inner, dict) else None
        if not isinstance(transaction, str) or not transaction:
            raise PaymentHeaderError("invalid_exact_svm_payload", "payload.transaction missing")
        return ParsedPayment(version, data, transaction, payment_id)

    @staticmethod
    def v2_header_from_v1(parsed: ParsedPayment, accepted: dict[str, Any], url: str) -> str:
        """Re-express a v1 payment as the v2 payload the SDK middleware reads."""
        payload = PaymentPayload(
            x402_version=2,
            payload=parsed.data["payload"],
            accepted=PaymentRequirements.model_validate(accepted),
            resource=ResourceInfo(url=url),
        )
        return b64_json(payload.model_dump(by_alias=True, exclude_none=True))


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    return f"{'.'.join(str(p) for p in first.get('loc', ()))}: {first.get('msg', '')}"


def paying_session(keypair: Any, rpc_url: str, extra_assets: list[str]) -> requests.Session:
    """A ``requests`` session that pays 402s with the SDK's buyer client.

    Used by the benchmark (the buyer side of the same SDK).

    Args:
        keypair: The buyer's ``solders`` keypair.
        rpc_url: RPC the client reads mints and blockhashes from.
        extra_assets: Mints to allow besides the SDK's default assets (CASH).
    """
    client = x402ClientSync()
    client.register("solana:*", ExactSvmClientScheme(KeypairSigner(keypair), rpc_url=rpc_url))
    allowed = [SpendControlAsset(network="solana:*", asset=mint) for mint in extra_assets]
    client.set_spend_controls(SpendControls(allowed_assets=allowed))
    return wrapRequestsWithPayment(requests.Session(), client)
