"""The agent's errors; each carries its ledger classification and retryability::

AutopayError
└── AgentError
    ├── InvalidPaymentRequired   INVALID_402        malformed or hostile 402
    ├── PolicyDenied             POLICY_DENIED      over a cap, host/recipient/asset not allowed
    ├── InsufficientFunds        INSUFFICIENT_FUNDS balance below price or threshold
    ├── NetworkFailure           NETWORK            connection refused/reset (retryable)
    ├── RpcTimeout               RPC_TIMEOUT        the Solana RPC too slow (retryable)
    ├── SellerTimeout            SELLER_TIMEOUT     a seller past a deadline (retryable)
    ├── ResponseTooLarge         RESPONSE_TOO_LARGE a seller's body over the cap
    ├── RateLimited              RATE_LIMITED       HTTP 429 (retryable)
    ├── SellerError              SELLER_5XX         seller answered 5xx (retryable)
    ├── FacilitatorRejected      FACILITATOR_REJECTED  the 402 came back after paying
    ├── SettlementPending        SETTLEMENT_PENDING the chain has not said yet (retryable)
    ├── DuplicatePayment         DUPLICATE          the seller saw this payment already
    ├── SignatureInvalid         SIGNATURE_INVALID  the chain disagrees with what was signed
    ├── WalletRefused            WALLET_REFUSED     a person's wallet refused, timed out, left
    └── BreakerOpen              (the category of the service it guards) fail fast
"""

from __future__ import annotations

from autopay_app.errors import AutopayError
from autopay_app.models import ErrorCategory


class AgentError(AutopayError):
    """``x402_reason``: the x402 code of the failure; ``cause``: what the agent itself
    established about it (:mod:`autopay_app.agent.diagnosis`), when it could."""

    category = ErrorCategory.UNKNOWN.value
    cause: str | None = None
    #: The HTTP status the failure came with, when the seller answered (a refused payment).
    http_status: int | None = None

    def __init__(
        self,
        message: str,
        *,
        x402_reason: str | None = None,
        cause: str | None = None,
        **kw: object,
    ) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.x402_reason = x402_reason
        if cause is not None:
            self.cause = cause


class InvalidPaymentRequired(AgentError):
    category = ErrorCategory.INVALID_402.value


class PolicyDenied(AgentError):
    category = ErrorCategory.POLICY_DENIED.value


class InsufficientFunds(AgentError):
    category = ErrorCategory.INSUFFICIENT_FUNDS.value


class NetworkFailure(AgentError):
    category = ErrorCategory.NETWORK.value
    retryable = True


class RpcTimeout(AgentError):
    category = ErrorCategory.RPC_TIMEOUT.value
    retryable = True


class SellerTimeout(AgentError):
    """A seller did not answer within a call's (or the fetch's) total deadline."""

    category = ErrorCategory.SELLER_TIMEOUT.value
    retryable = True


class ResponseTooLarge(AgentError):
    """A seller's answer is over the body cap; it was not read further."""

    category = ErrorCategory.RESPONSE_TOO_LARGE.value


class RateLimited(AgentError):
    category = ErrorCategory.RATE_LIMITED.value
    retryable = True


class SellerError(AgentError):
    category = ErrorCategory.SELLER_5XX.value
    retryable = True
    #: The seller blamed its facilitator (503 facilitator_unavailable).
    facilitator = False


class FacilitatorRejected(AgentError):
    category = ErrorCategory.FACILITATOR_REJECTED.value


class SettlementPending(AgentError):
    category = ErrorCategory.SETTLEMENT_PENDING.value
    retryable = True


class DuplicatePayment(AgentError):
    category = ErrorCategory.DUPLICATE.value


class SignatureInvalid(AgentError):
    category = ErrorCategory.SIGNATURE_INVALID.value


class BreakerOpen(AgentError):
    """A circuit breaker is open: failed fast, no network call was made."""

    category = ErrorCategory.NETWORK.value


class WalletRefused(AgentError):
    """A person's wallet did not sign: refused, timed out or disconnected (nothing was paid)."""

    category = ErrorCategory.WALLET_REFUSED.value
