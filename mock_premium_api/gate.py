"""The payment gate: a WSGI layer in front of the SDK's Flask middleware.

The SDK verifies, runs the handler and settles; the gate adds what a careful
seller needs around that, for the paid paths only:

- one facilitator round trip per good payment: the gate's paid pass runs inside
  :func:`~.x402_setup.verified_at_settlement` (the facilitator verifies inside
  ``/settle``, before sending); a payment refused there, unsent, is passed again
  the SDK's default way (``/verify`` first), so its 402 is the one a refused
  verify gives, with the seller's classified reason;
- oversized request headers -> 431; facilitator down or slow -> 503 with
  ``Retry-After`` (never a 500, never data);
- a malformed payment header -> 402 with a loggable ``error`` reason;
- a v1 ``X-PAYMENT`` is re-expressed as v2, and its receipt comes back as
  ``X-PAYMENT-RESPONSE``;
- replays: each payment is claimed in the :class:`PaymentLedger` before it
  reaches the SDK, so copies get 409 ``duplicate_settlement``;
- payment-identifier retries with the same payload get the cached response; the
  same id with any other payload gets 409 ``payment_identifier_conflict``; a
  buyer whose data was lost after settlement (fault knob) re-fetches with the
  same payment or its receipt (``X-PAYMENT-RECEIPT: <transaction>``) without
  paying again;
- ``HEAD`` on a paid path is answered like an unpaid ``GET`` (402, no body): it
  never settles a payment, since it never delivers the data;
- every 402 carries a v1-compatible JSON body next to the v2 header.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from . import strict
from .catalog import ENDPOINTS_BY_PATH
from .ledger import Claim, Decision, PaymentLedger, PaymentRecord, StoredResponse
from .wire import PaymentHeaderError, payment_required_with_error, receipt_fields, v1_receipt
from .x402_setup import (
    REQUIRED_HEADER,
    RESPONSE_HEADER,
    V1_RESPONSE_HEADER,
    FacilitatorUnavailable,
    ParsedPayment,
    Seller,
    facilitator_trouble,
    refused_before_sending,
    reset_facilitator_trouble,
    verified_at_settlement,
)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
PAYMENT_ENV = "HTTP_PAYMENT_SIGNATURE"
V1_PAYMENT_ENV = "HTTP_X_PAYMENT"
RECEIPT_ENV = "HTTP_X_PAYMENT_RECEIPT"
V1_BODIES_KEPT = 1024


@dataclass
class Captured:
    """A fully buffered WSGI response."""

    status: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def code(self) -> int:
        """Numeric status."""
        return int(self.status.split()[0])

    def header(self, name: str) -> str | None:
        """First header value by case-insensitive name."""
        lower = name.lower()
        return next((v for k, v in self.headers if k.lower() == lower), None)

    def without(self, *names: str) -> list[tuple[str, str]]:
        """Headers minus the named ones (case-insensitive)."""
        drop = {n.lower() for n in names}
        return [(k, v) for k, v in self.headers if k.lower() not in drop]


def capture(app: WsgiApp, environ: dict[str, Any]) -> Captured:
    """Run a WSGI app and buffer its whole response."""
    box: dict[str, Any] = {}
    chunks: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        box["status"], box["headers"] = status, list(headers)
        return chunks.append

    result = app(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return Captured(box["status"], box["headers"], b"".join(chunks))


def json_response(
    status: str, body: dict[str, Any], headers: list[tuple[str, str]] | None = None
) -> Captured:
    """Build a JSON response."""
    data = json.dumps(body).encode()
    base = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
    return Captured(status, base + (headers or []), data)


class PaymentGate:
    """WSGI middleware guarding the paid endpoints (see the module docstring)."""

    def __init__(
        self,
        paid_app: WsgiApp,
        data_app: WsgiApp,
        seller: Seller,
        ledger: PaymentLedger,
        fail_after_settle: Callable[[], bool],
    ) -> None:
        """Create the gate.

        Args:
            paid_app: The app wrapped by the SDK's payment middleware.
            data_app: The bare app (serves data without payment; for redelivery).
            seller: x402 seller setup.
            ledger: Replay and idempotency ledger.
            fail_after_settle: Fault draw: fail this settled request with 5xx.
        """
        self._paid_app = paid_app
        self._data_app = data_app
        self._seller = seller
        self._ledger = ledger
        self._fail_after_settle = fail_after_settle
        self._v1_bodies: dict[tuple[str, str, str], tuple[str, bytes]] = {}

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        # Same normalisation as the SDK's route matching (repeated and trailing
        # slashes), so no spelling of a paid path skips the gate.
        path = re.sub("/+", "/", environ.get("PATH_INFO", "")).rstrip("/")
        method = environ.get("REQUEST_METHOD")
        if method not in ("GET", "HEAD") or path not in ENDPOINTS_BY_PATH:
            return self._paid_app(environ, start_response)
        reset_facilitator_trouble()
        head = method == "HEAD"
        # HEAD: the unpaid GET's answer without its body (the SDK matches GET routes only).
        inner = dict(environ, REQUEST_METHOD="GET") if head else environ
        response = self._guarded(inner, path, head)
        headers = response.without("Content-Length")
        start_response(response.status, [*headers, ("Content-Length", str(len(response.body)))])
        return [] if head else [response.body]

    def _guarded(self, environ: dict[str, Any], path: str, head: bool = False) -> Captured:
        size = sum(len(k) + len(str(v)) for k, v in environ.items() if k.startswith("HTTP_"))
        if size > self._seller.config.max_header_bytes:
            return json_response(
                "431 Request Header Fields Too Large",
                {
                    "error": "request_headers_too_large",
                    "limit_bytes": self._seller.config.max_header_bytes,
                },
            )
        try:
            self._seller.ensure_ready()
            if head:
                return self._forward_unpaid(environ, "")
            return self._dispatch(environ, path)
        except FacilitatorUnavailable as error:
            return self._unavailable(str(error))

    def _unavailable(self, detail: str) -> Captured:
        retry = str(self._seller.config.retry_after_seconds)
        return json_response(
            "503 Service Unavailable",
            {
                "error": "facilitator_unavailable",
                "detail": detail,
                "retry_after_seconds": int(retry),
            },
            [("Retry-After", retry)],
        )

    def _dispatch(self, environ: dict[str, Any], path: str) -> Captured:
        raw = environ.get(PAYMENT_ENV) or environ.get(V1_PAYMENT_ENV)
        if not raw:
            receipt = environ.get(RECEIPT_ENV)
            if receipt:
                return self._redeem_receipt(environ, path, receipt.strip())
            return self._forward_unpaid(environ, "")
        try:
            # The payload's x402Version decides, whichever header carried it.
            parsed = self._seller.parse_payment_header(raw)
            tx = strict.decode_transaction(parsed.transaction)
            if parsed.version == 1:
                self._rewrite_v1(environ, parsed, tx, path)
            else:
                self._check_envelope(parsed.data.get("accepted") or {}, path)
        except (PaymentHeaderError, strict.StrictCheckError) as error:
            return self._forward_unpaid(environ, error.reason, getattr(error, "detail", ""))
        claim = Claim(
            key=strict.replay_key(tx),
            path=path,
            payment_id=parsed.payment_id,
            fingerprint=strict.payload_fingerprint(tx),
            payer=strict.payer(tx),
        )
        decision, record = self._ledger.claim(claim)
        if decision is Decision.PROCEED:
            return self._pay(environ, claim.key, parsed)
        return self._answer_known(environ, decision, record)

    def _check_envelope(self, accepted: dict[str, Any], path: str) -> None:
        # The SDK answers any difference with "No matching payment requirements";
        # name the field instead, so a buyer (or its quote-drift guard) knows why.
        accepts, _ = self._seller.requirements_for(ENDPOINTS_BY_PATH[path])
        offer = next((a for a in accepts if a["asset"] == accepted.get("asset")), None)
        if offer is None:
            raise strict.StrictCheckError(strict.ERR_MINT, f"asset {accepted.get('asset')}")
        reason = strict.envelope_mismatch(accepted, offer)
        if reason:
            raise strict.StrictCheckError(reason, "accepted requirements differ from the offer")

    def _rewrite_v1(
        self, environ: dict[str, Any], parsed: ParsedPayment, tx: Any, path: str
    ) -> None:
        # v1 payloads do not name the asset: the transferred mint picks the offer.
        mint = strict.find_transfer(tx).mint
        accepts, _ = self._seller.requirements_for(ENDPOINTS_BY_PATH[path])
        offer = next((a for a in accepts if a["asset"] == mint), None)
        if offer is None:
            raise strict.StrictCheckError(strict.ERR_MINT, f"no offer for mint {mint}")
        url = _request_url(environ)
        environ[PAYMENT_ENV] = self._seller.v2_header_from_v1(parsed, offer, url)
        environ.pop(V1_PAYMENT_ENV, None)

    def _forward_unpaid(self, environ: dict[str, Any], reason: str, detail: str = "") -> Captured:
        clean = {k: v for k, v in environ.items() if k not in (PAYMENT_ENV, V1_PAYMENT_ENV)}
        response = capture(self._paid_app, clean)
        if trouble := facilitator_trouble():
            return self._unavailable(trouble)
        if response.code == 402:
            response = self._with_v1_body(response, reason, detail)
        return response

    def _with_v1_body(self, response: Captured, reason: str, detail: str = "") -> Captured:
        header = response.header(REQUIRED_HEADER)
        if header is None or "text/html" in (response.header("Content-Type") or ""):
            return response
        new_header, body = self._v1_bodies.get((header, reason, detail)) or self._v1_body(
            header, reason, detail
        )
        headers = response.without(REQUIRED_HEADER, "Content-Type", "Content-Length")
        headers += [(REQUIRED_HEADER, new_header), ("Content-Type", "application/json")]
        return Captured(response.status, headers, body)

    def _v1_body(self, header: str, reason: str, detail: str) -> tuple[str, bytes]:
        # The same 402 (route, query, price, reason) comes back for every unpaid
        # request: restated once, then reused (bounded; cleared when full).
        new_header, body = payment_required_with_error(header, reason)
        if detail:
            body["detail"] = detail
        restated = (new_header, json.dumps(body).encode())
        if len(self._v1_bodies) >= V1_BODIES_KEPT:
            self._v1_bodies.clear()
        self._v1_bodies[(header, reason, detail)] = restated
        return restated

    def _pay(self, environ: dict[str, Any], key: str, parsed: ParsedPayment) -> Captured:
        try:
            with verified_at_settlement():
                response = capture(self._paid_app, dict(environ))
            if refused_before_sending() and not facilitator_trouble():
                # Nothing was sent: ask again with /verify first, for the refusal's reason.
                response = capture(self._paid_app, environ)
        except BaseException:
            self._ledger.release(key)
            raise
        if trouble := facilitator_trouble():
            self._ledger.release(key)
            return self._unavailable(trouble)
        receipt = response.header(RESPONSE_HEADER)
        if response.code < 400 and receipt is not None:
            return self._settled(key, parsed, response, receipt)
        self._ledger.release(key)
        if response.code >= 500 or receipt is None and response.code < 400:
            # Never release data without a settlement receipt.
            return self._unavailable(f"payment processing failed ({response.status})")
        return self._with_v1_body(response, "") if response.code == 402 else response

    def _settled(
        self, key: str, parsed: ParsedPayment, response: Captured, receipt: str
    ) -> Captured:
        receipt_headers = [(RESPONSE_HEADER, receipt)]
        if parsed.version == 1:
            receipt_headers = [(V1_RESPONSE_HEADER, v1_receipt(receipt))]
            response = Captured(
                response.status, response.without(RESPONSE_HEADER) + receipt_headers, response.body
            )
        transaction = str(receipt_fields(receipt).get("transaction", ""))
        if self._fail_after_settle():
            self._ledger.settle(key, transaction, receipt_headers, delivered=False, response=None)
            return self._handler_failed(transaction, receipt_headers)
        stored = None
        if parsed.payment_id is not None:
            stored = StoredResponse(response.status, response.headers, response.body)
        self._ledger.settle(key, transaction, receipt_headers, delivered=True, response=stored)
        return response

    @staticmethod
    def _handler_failed(transaction: str, receipt_headers: list[tuple[str, str]]) -> Captured:
        return json_response(
            "500 Internal Server Error",
            {
                "error": "data_handler_failed_after_settlement",
                "transaction": transaction,
                "refetch": "resend the same payment header, or send X-PAYMENT-RECEIPT: "
                "<transaction>, to get the data without paying again",
            },
            receipt_headers,
        )

    def _answer_known(
        self,
        environ: dict[str, Any],
        decision: Decision,
        record: PaymentRecord,
    ) -> Captured:
        if decision is Decision.REDELIVER:
            return self._redeliver(environ, record)
        if decision is Decision.CACHED and record.response is not None:
            cached = record.response
            return Captured(cached.status, list(cached.headers), cached.body)
        if decision is Decision.ID_CONFLICT:
            return json_response(
                "409 Conflict",
                {
                    "error": "payment_identifier_conflict",
                    "detail": "this payment-identifier was used with another payload or "
                    "resource; a retry must resend the same payload",
                },
            )
        state = "in flight" if decision is Decision.IN_FLIGHT else "already settled"
        return json_response(
            "409 Conflict",
            {
                "error": "duplicate_settlement",
                "detail": f"this payment is {state}",
                "transaction": record.transaction,
            },
        )

    def _redeem_receipt(self, environ: dict[str, Any], path: str, transaction: str) -> Captured:
        record = self._ledger.redeem_receipt(transaction, path)
        if record is None:
            return self._forward_unpaid(environ, "receipt_not_redeemable")
        return self._redeliver(environ, record)

    def _redeliver(self, environ: dict[str, Any], record: PaymentRecord) -> Captured:
        clean = {
            k: v for k, v in environ.items() if k not in (PAYMENT_ENV, V1_PAYMENT_ENV, RECEIPT_ENV)
        }
        if self._fail_after_settle():
            self._ledger.mark_undelivered(record.key)
            return self._handler_failed(record.transaction, record.receipt_headers)
        response = capture(self._data_app, clean)
        if response.code >= 400:
            self._ledger.mark_undelivered(record.key)
            return response
        headers = response.without(RESPONSE_HEADER, V1_RESPONSE_HEADER) + record.receipt_headers
        delivered = Captured(response.status, headers, response.body)
        if record.payment_id is not None:
            self._ledger.store_response(
                record.key, StoredResponse(delivered.status, delivered.headers, delivered.body)
            )
        return delivered


def _request_url(environ: dict[str, Any]) -> str:
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}"
    query = environ.get("QUERY_STRING")
    url = f"{environ.get('wsgi.url_scheme', 'http')}://{host}{environ.get('PATH_INFO', '')}"
    return f"{url}?{query}" if query else url
