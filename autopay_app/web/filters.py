"""Build the ledger's filter objects from a query string (pages and API alike)."""

from __future__ import annotations

from collections.abc import Mapping

from autopay_app.ledger.dashboard import PaymentFilter, RequestFilter
from autopay_app.ledger.export import ExportFilter
from autopay_app.ledger.queries import AuditFilter
from autopay_app.models import (
    ApiType,
    AuditEventType,
    Currency,
    PaymentStatus,
    RequestStatus,
    Severity,
)
from autopay_app.web.params import (
    BadParameter,
    cursor_param,
    datetime_param,
    enum_param,
    limit_param,
    text_param,
    uuid_param,
)


def _window(args: Mapping[str, str]) -> dict:  # type: ignore[type-arg]
    since, until = datetime_param(args, "since"), datetime_param(args, "until")
    if since and until and since >= until:
        raise BadParameter("since", "must be earlier than until")
    return {"since": since, "until": until}


def audit_filter(args: Mapping[str, str], limit: int | None = None) -> AuditFilter:
    """Filters: agent_id, event_type, severity, since, until, q (full text), cursor, limit."""
    return AuditFilter(
        agent_id=uuid_param(args, "agent_id"),
        event_type=enum_param(args, "event_type", AuditEventType),
        severity=enum_param(args, "severity", Severity),
        text=text_param(args, "q"),
        before=cursor_param(args),
        limit=(limit or limit_param(args)) + 1,
        **_window(args),
    )


def request_filter(args: Mapping[str, str]) -> RequestFilter:
    """Filters: agent_id, status, api_type, endpoint, since, until, cursor, limit."""
    return RequestFilter(
        agent_id=uuid_param(args, "agent_id"),
        status=enum_param(args, "status", RequestStatus),
        api_type=enum_param(args, "api_type", ApiType),
        endpoint=text_param(args, "endpoint", 255),
        before=cursor_param(args),
        limit=limit_param(args) + 1,
        **_window(args),
    )


def payment_filter(args: Mapping[str, str]) -> PaymentFilter:
    """Filters: agent_id, status, currency, since, until, cursor, limit."""
    return PaymentFilter(
        agent_id=uuid_param(args, "agent_id"),
        status=enum_param(args, "status", PaymentStatus),
        currency=enum_param(args, "currency", Currency),
        before=cursor_param(args),
        limit=limit_param(args) + 1,
        **_window(args),
    )


def export_filter(args: Mapping[str, str]) -> ExportFilter:
    """Filters: agent_id, api_type, endpoint, since, until."""
    return ExportFilter(
        agent_id=uuid_param(args, "agent_id"),
        api_type=enum_param(args, "api_type", ApiType),
        endpoint=text_param(args, "endpoint", 255),
        **_window(args),
    )


def export_format(args: Mapping[str, str]) -> str:
    fmt = (args.get("format") or "jsonl").lower()
    if fmt not in ("jsonl", "csv"):
        raise BadParameter("format", f"must be jsonl or csv; got {fmt!r}")
    return fmt
