"""Ledger objects as JSON-ready dicts (money as decimal strings, times as ISO 8601)."""

from __future__ import annotations

import dataclasses
import enum
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from autopay_app.ledger.dashboard import PaymentDetail, RequestDetail
from autopay_app.ledger.export import ExportRow
from autopay_app.ledger.overview import AgentOverview
from autopay_app.models import (
    Agent,
    ApiRequest,
    AuditEvent,
    ErrorClassification,
    Payment,
    RetryAttempt,
    TransactionLog,
    WalletBalance,
)


def plain(value: Any) -> Any:
    """Convert decimals, UUIDs, enums, times and dataclasses to JSON types, recursively."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(dataclasses.asdict(value))
    return value


def agent(a: Agent) -> dict[str, Any]:
    return plain(
        {
            "id": a.id,
            "name": a.name,
            "wallet_address": a.wallet_address,
            "autonomy_level": a.autonomy_level,
            "is_active": a.is_active,
            "balance_threshold": a.balance_threshold,
            "created_at": a.created_at,
        }
    )


def balance(b: WalletBalance | None) -> dict[str, Any] | None:
    if b is None:
        return None
    return plain(
        {
            "wallet_address": b.wallet_address,
            "SOL": b.balance_sol,
            "USDC": b.balance_usdc,
            "CASH": b.balance_cash,
            "threshold": b.threshold,
            "last_checked": b.last_checked,
        }
    )


def overview(o: AgentOverview) -> dict[str, Any]:
    return {
        "agent": agent(o.agent),
        "balance": balance(o.balance),
        "low_balance_assets": o.low_assets,
        "requests": o.requests,
        "requests_by_status": o.requests_by_status,
        "success_rate": o.success_rate,
        "failures_by_category": o.failures_by_category,
        "retries": o.retries,
        "circuit_breakers": o.breakers,
        "statistics_since": plain(o.since),
    }


def request_summary(r: ApiRequest, agent_name: str) -> dict[str, Any]:
    return plain(
        {
            "id": r.id,
            "agent_id": r.agent_id,
            "agent_name": agent_name,
            "endpoint": r.endpoint,
            "url": r.url,
            "method": r.method,
            "api_type": r.api_type,
            "status": r.status,
            "http_status": r.http_status,
            "latency_ms": r.latency_ms,
            "created_at": r.created_at,
        }
    )


def retry(a: RetryAttempt) -> dict[str, Any]:
    return plain(
        {
            "attempt_number": a.attempt_number,
            "backoff_seconds": a.backoff_delay,
            "outcome": a.outcome,
            "detail": a.detail,
            "created_at": a.created_at,
        }
    )


def classification(c: ErrorClassification) -> dict[str, Any]:
    return plain(
        {
            "category": c.category,
            "retryable": c.retryable,
            "message": c.message,
            "x402_reason": c.x402_reason,
            "details": c.details,
            "created_at": c.created_at,
        }
    )


def payment(p: Payment) -> dict[str, Any]:
    return plain(
        {
            "id": p.id,
            "api_request_id": p.api_request_id,
            "agent_id": p.agent_id,
            "amount": p.amount,
            "currency": p.currency,
            "status": p.status,
            "payment_hash": p.payment_hash,
            "payer_signature": p.payer_signature,
            "memo": p.memo,
            "network": p.network,
            "asset_mint": p.asset_mint,
            "amount_atomic": p.amount_atomic,
            "pay_to": p.pay_to,
            "facilitator_url": p.facilitator_url,
            "x402_version": p.x402_version,
            "verification_callback": p.verification_callback,
            "created_at": p.created_at,
            "updated_at": p.updated_at,
        }
    )


def request_detail(d: RequestDetail) -> dict[str, Any]:
    r = d.request
    out = request_summary(r, d.agent.name)
    out.update(
        plain(
            {
                "x402_instructions": r.x402_instructions,
                "request_payload": r.request_payload,
                "response_headers": r.response_headers,
                "data_accessed": r.data_accessed,
            }
        )
    )
    out["retry_attempts"] = [retry(a) for a in d.retries]
    out["error_classifications"] = [classification(c) for c in d.classifications]
    out["payments"] = [payment(p) for p in d.payments]
    return out


def payment_row(row: Any) -> dict[str, Any]:
    return plain({key: row[key] for key in row.keys()})  # noqa: SIM118 (RowMapping)


def transaction_log(t: TransactionLog) -> dict[str, Any]:
    return plain(
        {
            "id": t.id,
            "confirmation_status": t.confirmation_status,
            "gas_fees_lamports": t.gas_fees,
            "is_duplicate": t.is_duplicate,
            "error_message": t.error_message,
            "solana_tx_metadata": t.solana_tx_metadata,
            "created_at": t.created_at,
        }
    )


def audit_event(e: AuditEvent) -> dict[str, Any]:
    return plain(
        {
            "id": e.id,
            "agent_id": e.agent_id,
            "event_type": e.event_type,
            "severity": e.severity,
            "related_id": e.related_id,
            "details": e.details,
            "created_at": e.created_at,
        }
    )


def payment_detail(d: PaymentDetail) -> dict[str, Any]:
    out = payment(d.payment)
    out["agent_name"] = d.agent.name
    out["endpoint"] = d.request.endpoint
    out["transaction_logs"] = [transaction_log(t) for t in d.logs]
    out["status_history"] = [audit_event(e) for e in d.history]
    return out


def export_row(row: ExportRow) -> dict[str, Any]:
    return plain(dataclasses.asdict(row))


FETCH_FIELDS = ("request_id", "status", "data", "payment_id", "payment_hash", "amount", "asset")


def fetch_result(result: Any) -> dict[str, Any]:
    """The agent's FetchResult (after an approval) as JSON."""
    out = {name: plain(getattr(result, name, None)) for name in FETCH_FIELDS}
    out["error"] = getattr(result, "error", None)
    return out
