"""The ledger's enumerations; each is a PostgreSQL enum type of the same name."""

from __future__ import annotations

import enum

import sqlalchemy as sa


class AutonomyLevel(enum.StrEnum):
    PHASE1 = "PHASE1"
    PHASE2 = "PHASE2"
    PHASE3 = "PHASE3"


class ApiType(enum.StrEnum):
    MARKET_DATA = "MARKET_DATA"
    KNOWLEDGE_DATA = "KNOWLEDGE_DATA"


class RequestKind(enum.StrEnum):
    """How a request reached its seller (migration 0012)."""

    HTTP = "HTTP"
    MCP = "MCP"  # a paid tool call on an MCP server


class RequestStatus(enum.StrEnum):
    PENDING = "PENDING"
    PAYMENT_REQUIRED = "PAYMENT_REQUIRED"
    PAID = "PAID"
    FAILED = "FAILED"
    ACCESSED = "ACCESSED"


class Currency(enum.StrEnum):
    CASH = "CASH"
    USDC = "USDC"


class PaymentStatus(enum.StrEnum):
    INITIATED = "INITIATED"
    SIGNED = "SIGNED"
    CONFIRMED = "CONFIRMED"
    VERIFIED = "VERIFIED"
    FAILED = "FAILED"


class ConfirmationStatus(enum.StrEnum):
    PROCESSED = "PROCESSED"
    CONFIRMED = "CONFIRMED"
    FINALIZED = "FINALIZED"


class RetryOutcome(enum.StrEnum):
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"


class AuditEventType(enum.StrEnum):
    """The seed's six event types, plus four the ledger needs.

    ``PAYMENT_STATUS`` records a payment status change that is neither a success
    nor a failure (INITIATED, SIGNED, CONFIRMED); ``REQUEST_STATUS`` the same for
    a request (PENDING, PAYMENT_REQUIRED, PAID: ACCESSED is API_ACCESS, FAILED the
    failure's event); status events are written by triggers (migration 0011).
    ``AGENT_DECISION`` records a policy or scheduling decision (bought, skipped,
    refused, and why); ``BACKUP`` records a backup of the ledger and its outcome
    (no agent: ``agent_id`` is NULL).
    """

    PAYMENT_SUCCESS = "PAYMENT_SUCCESS"
    PAYMENT_FAILURE = "PAYMENT_FAILURE"
    LOW_BALANCE = "LOW_BALANCE"
    NETWORK_ISSUE = "NETWORK_ISSUE"
    CIRCUIT_BREAKER = "CIRCUIT_BREAKER"
    API_ACCESS = "API_ACCESS"
    PAYMENT_STATUS = "PAYMENT_STATUS"
    AGENT_DECISION = "AGENT_DECISION"
    BACKUP = "BACKUP"
    REQUEST_STATUS = "REQUEST_STATUS"
    TOP_UP = "TOP_UP"  # migration 0014


class Severity(enum.StrEnum):
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class ErrorCategory(enum.StrEnum):
    """Why something failed; the agent's retry policy keys on it."""

    NETWORK = "NETWORK"
    RPC_TIMEOUT = "RPC_TIMEOUT"
    RATE_LIMITED = "RATE_LIMITED"
    SELLER_5XX = "SELLER_5XX"
    FACILITATOR_REJECTED = "FACILITATOR_REJECTED"
    SETTLEMENT_PENDING = "SETTLEMENT_PENDING"
    INVALID_402 = "INVALID_402"
    POLICY_DENIED = "POLICY_DENIED"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    DUPLICATE = "DUPLICATE"
    SIGNATURE_INVALID = "SIGNATURE_INVALID"
    UNKNOWN = "UNKNOWN"
    SELLER_TIMEOUT = "SELLER_TIMEOUT"  # migration 0010
    RESPONSE_TOO_LARGE = "RESPONSE_TOO_LARGE"  # migration 0010
    WALLET_REFUSED = "WALLET_REFUSED"  # migration 0014


def pg_enum(python_enum: type[enum.Enum], name: str) -> sa.Enum:
    """A native PostgreSQL enum type storing the members' values."""
    return sa.Enum(
        python_enum,
        name=name,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )
