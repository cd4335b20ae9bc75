"""Overview, requests, payments and audit trail pages, with their detail pages."""

from __future__ import annotations

from typing import Any

from flask import abort, jsonify, render_template, request

from autopay_app.ledger import dashboard as ledger
from autopay_app.ledger import overview as overview_ledger
from autopay_app.models import (
    ApiType,
    AuditEventType,
    AutonomyLevel,
    Currency,
    PaymentStatus,
    RequestStatus,
    Severity,
)
from autopay_app.web import filters
from autopay_app.web.context import ledger_session
from autopay_app.web.dashboard import bp
from autopay_app.web.params import limit_param, page_cursor, parse_uuid

CHOICES = {
    "request_statuses": list(RequestStatus),
    "api_types": list(ApiType),
    "payment_statuses": list(PaymentStatus),
    "currencies": list(Currency),
    "event_types": list(AuditEventType),
    "severities": list(Severity),
    "levels": list(AutonomyLevel),
}


def _render(template: str, **kw: Any) -> str:
    return render_template(template, args=request.args, **CHOICES, **kw)


def _cards() -> dict[str, Any]:
    cards = overview_ledger.overview(ledger_session())
    return {"cards": cards, "window_hours": overview_ledger.WINDOW.total_seconds() / 3600}


@bp.get("/")
def overview() -> str:
    return _render("dashboard/overview.html", **_cards())


@bp.get("/overview/cards")
def overview_cards() -> str:
    """The live part of the overview, polled by htmx."""
    return _render("dashboard/_overview_cards.html", **_cards())


@bp.get("/overview/spend.json")
def spend() -> Any:
    """Spend per day and asset for the chart: {labels: [...], series: {asset: [...]}}."""
    rows = overview_ledger.spend_series(ledger_session())
    labels = sorted({day for day, _, _ in rows})
    series = {asset: [0.0] * len(labels) for asset in ("USDC", "CASH")}
    for day, asset, total in rows:
        series.setdefault(asset, [0.0] * len(labels))[labels.index(day)] = float(total)
    return jsonify(labels=labels, series=series)


@bp.get("/requests")
def requests_list() -> str:
    limit = limit_param(request.args)
    rows = ledger.requests_page(ledger_session(), filters.request_filter(request.args))
    cursor = page_cursor(rows, limit, lambda r: (r[0].created_at, r[0].id))
    agents = ledger.list_agents(ledger_session())
    return _render("dashboard/requests.html", rows=rows[:limit], cursor=cursor, agents=agents)


@bp.get("/requests/<request_id>")
def request_detail(request_id: str) -> str:
    detail = ledger.request_detail(ledger_session(), parse_uuid(request_id))
    if detail is None:
        abort(404, f"no request {request_id}")
    return _render("dashboard/request_detail.html", d=detail)


@bp.get("/payments")
def payments_list() -> str:
    limit = limit_param(request.args)
    rows = ledger.payments_page(ledger_session(), filters.payment_filter(request.args))
    cursor = page_cursor(rows, limit, lambda r: (r["created_at"], r["payment_id"]))
    agents = ledger.list_agents(ledger_session())
    return _render("dashboard/payments.html", rows=rows[:limit], cursor=cursor, agents=agents)


@bp.get("/payments/<payment_id>")
def payment_detail(payment_id: str) -> str:
    detail = ledger.payment_detail(ledger_session(), parse_uuid(payment_id))
    if detail is None:
        abort(404, f"no payment {payment_id}")
    return _render("dashboard/payment_detail.html", d=detail)


@bp.get("/audit")
def audit() -> str:
    limit = limit_param(request.args)
    session = ledger_session()
    events = ledger.audit_events(session, filters.audit_filter(request.args))
    cursor = page_cursor(events, limit, lambda e: (e.created_at, e.id))
    agents = ledger.list_agents(session)
    names = {a.id: a.name for a in agents}
    return _render(
        "dashboard/audit.html", events=events[:limit], cursor=cursor, agents=agents, names=names
    )


@bp.get("/audit/<event_id>")
def audit_detail(event_id: str) -> str:
    event = ledger.audit_event(ledger_session(), parse_uuid(event_id))
    if event is None:
        abort(404, f"no audit event {event_id}")
    return _render("dashboard/audit_detail.html", event=event)
