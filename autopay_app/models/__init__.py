"""The ledger's tables, one module per aggregate.

``agent``: ``agents``, which own ``request``: ``api_requests``; a request has
``payment``: ``payments`` (at most one that moves money, by the agent's
invariants) and ``retry_attempts``; a payment has ``transaction_logs``;
``audit``: ``audit_events`` (every status change, written by triggers) and
``error_classifications``; ``balance``: ``wallet_balances`` (the last balance
read); ``policy``: ``spend_policies``, ``spend_minutes``, ``circuit_breakers``,
``payment_approvals``; ``monitoring``: ``monitored_apis``, ``monitor_settings``,
``job_runs`` (Phase 3); ``admin_session``: ``admin_sessions`` (the dashboard's
logged-in browsers); ``enums`` and ``base`` (shared columns). Models hold data
only; writes and queries live in :mod:`autopay_app.ledger`.
"""

from autopay_app.models.admin_session import AdminSession
from autopay_app.models.agent import Agent
from autopay_app.models.audit import AuditEvent, ErrorClassification
from autopay_app.models.balance import WalletBalance
from autopay_app.models.enums import (
    ApiType,
    AuditEventType,
    AutonomyLevel,
    ConfirmationStatus,
    Currency,
    ErrorCategory,
    PaymentStatus,
    RequestKind,
    RequestStatus,
    RetryOutcome,
    Severity,
)
from autopay_app.models.monitoring import JobRun, MonitoredApi, MonitorSettings
from autopay_app.models.payment import Payment, TransactionLog
from autopay_app.models.policy import CircuitBreaker, PaymentApproval, SpendMinute, SpendPolicy
from autopay_app.models.request import ApiRequest, RetryAttempt

__all__ = [
    "AdminSession",
    "CircuitBreaker",
    "PaymentApproval",
    "SpendMinute",
    "SpendPolicy",
    "Agent",
    "ApiRequest",
    "ApiType",
    "AuditEvent",
    "AuditEventType",
    "AutonomyLevel",
    "ConfirmationStatus",
    "Currency",
    "ErrorCategory",
    "ErrorClassification",
    "Payment",
    "PaymentStatus",
    "RequestKind",
    "RequestStatus",
    "RetryAttempt",
    "RetryOutcome",
    "Severity",
    "TransactionLog",
    "WalletBalance",
    "JobRun",
    "MonitoredApi",
    "MonitorSettings",
]
