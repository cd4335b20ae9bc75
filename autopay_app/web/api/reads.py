"""GET endpoints: agents, balances, requests, payments, audit events, jobs, catalog, export."""

from __future__ import annotations

from typing import Any

from flask import abort, jsonify, request

from autopay_app.ledger import dashboard as ledger
from autopay_app.ledger import queue
from autopay_app.ledger.overview import overview
from autopay_app.web import filters, queue_panel, serialize
from autopay_app.web.api import bp
from autopay_app.web.catalog import fetch_catalog
from autopay_app.web.context import ledger_session
from autopay_app.web.exporting import export_response
from autopay_app.web.params import BadParameter, limit_param, page_cursor, parse_uuid, uuid_param
from autopay_app.web.security import settings


def _page(items: list[dict[str, Any]], cursor: str | None, limit: int) -> Any:
    return jsonify(items=items, next_cursor=cursor, limit=limit)


@bp.get("/agents")
def agents() -> Any:
    return jsonify(items=[serialize.agent(a) for a in ledger.list_agents(ledger_session())])


@bp.get("/agents/<agent_id>")
def agent(agent_id: str) -> Any:
    found = ledger.get_agent(ledger_session(), parse_uuid(agent_id, "agent_id"))
    if found is None:
        abort(404, f"no agent {agent_id}")
    return jsonify(serialize.agent(found))


@bp.get("/balances")
def balances() -> Any:
    """Per agent: latest balances, threshold, low-balance assets and request statistics."""
    cards = overview(ledger_session())
    return jsonify(items=[serialize.overview(c) for c in cards])


@bp.get("/requests")
def requests_list() -> Any:
    limit = limit_param(request.args)
    rows = ledger.requests_page(ledger_session(), filters.request_filter(request.args))
    cursor = page_cursor(rows, limit, lambda r: (r[0].created_at, r[0].id))
    return _page([serialize.request_summary(r, n) for r, n in rows[:limit]], cursor, limit)


@bp.get("/requests/<request_id>")
def request_detail(request_id: str) -> Any:
    detail = ledger.request_detail(ledger_session(), parse_uuid(request_id, "request_id"))
    if detail is None:
        abort(404, f"no request {request_id}")
    return jsonify(serialize.request_detail(detail))


@bp.get("/payments")
def payments_list() -> Any:
    limit = limit_param(request.args)
    rows = ledger.payments_page(ledger_session(), filters.payment_filter(request.args))
    cursor = page_cursor(rows, limit, lambda r: (r["created_at"], r["payment_id"]))
    return _page([serialize.payment_row(r) for r in rows[:limit]], cursor, limit)


@bp.get("/payments/<payment_id>")
def payment_detail(payment_id: str) -> Any:
    detail = ledger.payment_detail(ledger_session(), parse_uuid(payment_id, "payment_id"))
    if detail is None:
        abort(404, f"no payment {payment_id}")
    return jsonify(serialize.payment_detail(detail))


@bp.get("/audit-events")
def audit_events() -> Any:
    limit = limit_param(request.args)
    events = ledger.audit_events(ledger_session(), filters.audit_filter(request.args))
    cursor = page_cursor(events, limit, lambda e: (e.created_at, e.id))
    return _page([serialize.audit_event(e) for e in events[:limit]], cursor, limit)


@bp.get("/jobs")
def jobs() -> Any:
    """The paid-fetch queue: the latest jobs (each with its decision, request and payment
    ids) and the counts per agent; ``status`` takes procrastinate's job statuses."""
    limit = limit_param(request.args)
    status = request.args.get("status") or None
    if status is not None and status not in queue.STATUSES:
        raise BadParameter("status", f"one of {', '.join(queue.STATUSES)}")
    agent_id = uuid_param(request.args, "agent_id")
    session = ledger_session()
    items = queue_panel.jobs(session, agent_id=agent_id, status=status, limit=limit)
    return jsonify(items=items, counts=queue_panel.counts(session), limit=limit)


@bp.get("/catalog")
def catalog() -> Any:
    found = fetch_catalog(settings().premium_api_url)
    if found.error:
        abort(502, found.error)
    return jsonify(items=found.items, source=found.source)


@bp.get("/export")
def export() -> Any:
    flt = filters.export_filter(request.args)
    return export_response(flt, filters.export_format(request.args))
