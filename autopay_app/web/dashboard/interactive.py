"""``/interactive``: ask for a catalog resource, approve or decline its payment.

The approvals waiting are a partial (``/interactive/approvals``) the page
polls with htmx, so a request quoted elsewhere (the API, another tab) shows up
with its expiry countdown without a reload.

Also the autonomy switch (``POST /agents/<id>/autonomy``) shown on the
overview and here. Every POST carries the CSRF token (Flask-WTF checks it
before the view runs) and ends in a redirect, so a reload never pays twice.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.exceptions import Conflict, GatewayTimeout, HTTPException

from autopay_app.errors import LedgerError
from autopay_app.ledger import dashboard as ledger
from autopay_app.ledger.overview import agent_balance
from autopay_app.models import AutonomyLevel
from autopay_app.web import approvals
from autopay_app.web.catalog import fetch_catalog, resource_allowed
from autopay_app.web.context import ledger_session
from autopay_app.web.dashboard import bp
from autopay_app.web.params import BadParameter, parse_enum, parse_uuid, uuid_param
from autopay_app.web.security import safe_next, settings

#: How often the page polls the approvals waiting, in seconds.
APPROVALS_REFRESH_S = 3


def _chosen_agent() -> Any:
    agents = ledger.list_agents(ledger_session())
    wanted = uuid_param(request.args, "agent_id")
    chosen = next((a for a in agents if a.id == wanted), agents[0] if agents else None)
    return agents, chosen


def _pending(agent_id: Any) -> tuple[list[Any], str | None]:
    """The agent's approvals waiting, or why interactive mode is unavailable."""
    try:
        return approvals.pending(agent_id), None
    except HTTPException as exc:
        return [], exc.description


@bp.get("/interactive")
def interactive() -> str:
    agents, agent = _chosen_agent()
    pending, unavailable = _pending(agent.id) if agent is not None else ([], None)
    done_id = uuid_param(request.args, "done")
    done = ledger.request_detail(ledger_session(), done_id) if done_id else None
    balance = agent_balance(ledger_session(), agent.id) if agent else None
    return render_template(
        "dashboard/interactive.html",
        agents=agents,
        agent=agent,
        catalog=fetch_catalog(settings().premium_api_url),
        pending=pending,
        unavailable=unavailable,
        done=done,
        balance=balance,
        levels=list(AutonomyLevel),
        refresh_s=APPROVALS_REFRESH_S,
    )


@bp.get("/interactive/approvals")
def interactive_approvals() -> str:
    """The approvals waiting (cards with their expiry), polled by htmx."""
    agent_id = parse_uuid(request.args.get("agent_id", ""), "agent_id")
    agent = ledger.get_agent(ledger_session(), agent_id) or abort(404, f"no agent {agent_id}")
    pending, unavailable = _pending(agent.id)
    return render_template(
        "dashboard/_approvals.html", agent=agent, pending=pending, unavailable=unavailable
    )


@bp.post("/interactive/quote")
def interactive_quote() -> Any:
    agent_id = parse_uuid(request.form.get("agent_id", ""), "agent_id")
    agent = ledger.get_agent(ledger_session(), agent_id) or abort(404, f"no agent {agent_id}")
    url = request.form.get("url", "").strip()
    if not resource_allowed(fetch_catalog(settings().premium_api_url), url):
        raise BadParameter("url", f"not a resource of the catalog: {url!r}")
    query = request.form.get("query", "").strip().lstrip("?")
    try:
        approvals.quote(agent.name, f"{url}?{query}" if query else url)
    except HTTPException as exc:
        flash(f"The request could not be quoted: {exc.description}", "error")
    return redirect(url_for(".interactive", agent_id=agent.id))


@bp.post("/interactive/<request_id>/approve")
def interactive_approve(request_id: str) -> Any:
    rid = parse_uuid(request_id, "request_id")
    try:
        result = approvals.approve(rid).result
    except (Conflict, GatewayTimeout) as exc:
        flash(f"The payment was not made: {exc.description}", "error")
        return redirect(url_for(".interactive", agent_id=request.form.get("agent_id"), done=rid))
    if getattr(result, "error", None):
        flash(f"Payment approved but the request failed: {result.error}", "error")
    else:
        flash("Payment approved: the data has arrived.", "ok")
    return redirect(url_for(".interactive", agent_id=request.form.get("agent_id"), done=rid))


@bp.post("/interactive/<request_id>/decline")
def interactive_decline(request_id: str) -> Any:
    rid = parse_uuid(request_id, "request_id")
    try:
        approvals.decline(rid)
        flash("Payment declined: nothing was signed or paid.", "ok")
    except Conflict as exc:
        flash(f"The request could not be declined: {exc.description}", "error")
    return redirect(url_for(".interactive", agent_id=request.form.get("agent_id"), done=rid))


@bp.post("/agents/<agent_id>/autonomy")
def set_autonomy(agent_id: str) -> Any:
    aid = parse_uuid(agent_id, "agent_id")
    level = parse_enum(request.form.get("level", ""), "level", AutonomyLevel)
    try:
        ledger.set_autonomy(ledger_session(), aid, level, actor="dashboard:admin")
    except LedgerError as exc:
        abort(404, str(exc))
    flash(f"Autonomy level set to {level.value}.", "ok")
    return redirect(safe_next(request.form.get("next"), url_for(".overview")))
