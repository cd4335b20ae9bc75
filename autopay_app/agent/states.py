"""The typed results of the steps of a paid request (:mod:`autopay_app.agent.steps`).

Each is frozen and holds the one before it, so a state carries everything
decided so far: ``FetchRequest -> Opened -> Quoted -> Decided -> Signed ->
Delivered``. ``opened`` leads back to the request row from any of them.
"""

from __future__ import annotations

import uuid
from concurrent.futures import Future
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from autopay_app.agent import mcp_target
from autopay_app.agent.errors import SignatureInvalid
from autopay_app.agent.gateway import PaymentRequiredInfo, SignedPayment
from autopay_app.agent.http import Answer
from autopay_app.agent.policy import Choice
from autopay_app.agent.verify import Verified
from autopay_app.ledger import payments

#: What the chain read during the delivery found: verified, or the mismatch, or neither
#: (the transaction is not visible yet, or the RPC failed: reconciliation verifies later).
Check = tuple[Verified | None, SignatureInvalid | None]


@dataclass(frozen=True)
class FetchRequest:
    """What the caller asked for: a URL, at most ``max_amount``, optionally in ``asset``;
    ``reason``: why (stored with the request)."""

    url: str
    max_amount: Decimal | None = None
    asset: str | None = None
    reason: str | None = None
    #: The request row's id when the caller chose it (a queued job names it in advance).
    request_id: uuid.UUID | None = None

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc

    @property
    def endpoint(self) -> str:
        """The URL's path; for an MCP tool call, ``path#tool``."""
        if mcp_target.is_mcp(self.url):
            path, _, fragment = self.url.partition("#")
            return f"{urlsplit(path).path or '/'}#{fragment.partition('?')[0]}"[:255]
        return (urlsplit(self.url).path or "/")[:255]


@dataclass(frozen=True)
class Opened:
    """The request is in the ledger (PENDING), or being written: ``written`` is the
    PENDING row's INSERT while it runs beside the first GET (an unpaid call);
    :meth:`ensure_written` waits for it before anything else refers to the row."""

    request: FetchRequest
    request_id: uuid.UUID
    written: Future[None] | None = None

    @property
    def opened(self) -> Opened:
        return self

    def ensure_written(self) -> None:
        """Wait until the PENDING row is committed (re-raises the INSERT's failure)."""
        if self.written is not None:
            self.written.result()


@dataclass(frozen=True)
class Quoted:
    """The seller asked for a payment. ``recorded``: its 402 is in the ledger already
    (otherwise it is written with the payment, or by the failure record)."""

    opened: Opened
    info: PaymentRequiredInfo
    headers: dict[str, str]
    recorded: bool = False
    blockhash: Future[tuple[str, int]] | None = None


@dataclass(frozen=True)
class Decided:
    """The offer to pay, chosen by the policy (or approved by a person). ``external``: a
    person's wallet signed it already (:mod:`autopay_app.agent.wallet_pay`), not the agent."""

    quoted: Quoted
    choice: Choice
    external: Any = None

    @property
    def payer(self) -> str | None:
        """The wallet that signs, when it is not the agent's own key."""
        return self.external.address if self.external is not None else None

    @property
    def opened(self) -> Opened:
        return self.quoted.opened


@dataclass(frozen=True)
class Signed:
    """The payment is reserved, signed and written ahead (SIGNED): nothing sent yet."""

    decided: Decided
    ref: payments.PaymentRef
    payment: SignedPayment
    last_valid: int

    @property
    def opened(self) -> Opened:
        return self.decided.opened

    @property
    def payment_id(self) -> uuid.UUID:
        return self.ref.payment_id


@dataclass(frozen=True)
class Delivered:
    """The paid answer arrived and is written (CONFIRMED, ACCESSED, durably); ``check``:
    the chain read of its transfer, running."""

    signed: Signed
    answer: Answer
    data: Any
    tx_hash: str
    check: Future[Check]

    @property
    def opened(self) -> Opened:
        return self.signed.opened

    @property
    def payment_id(self) -> uuid.UUID:
        return self.signed.payment_id
