"""``/autonomy``: the Phase 3 panel of one agent, and the forms that edit what it monitors.

The panel (monitored APIs, their freshness, the next planned purchase, recent
decisions with reasons) is the partial ``phase3_panel.html`` built by
:mod:`autopay_app.web.phase3_panel`, polled by htmx. The forms add an API (from
the seller's catalog or by URL), change its weight, remove it, and set the
budgets and the agent's tick interval; each POST carries the CSRF token and ends
in a redirect back to the page with a message (a bad value: "Not saved: <field>:
<why>", nothing changed).
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import flash, redirect, render_template, request, url_for

from autopay_app.ledger import dashboard as ledger
from autopay_app.models import AutonomyLevel
from autopay_app.web import autonomy, queue_panel
from autopay_app.web.catalog import fetch_catalog
from autopay_app.web.context import ledger_session
from autopay_app.web.dashboard import bp
from autopay_app.web.params import BadParameter, parse_uuid, uuid_param
from autopay_app.web.security import settings

#: How often the page polls the panel, in seconds.
PANEL_REFRESH_S = 10


def _chosen_agent() -> tuple[list[Any], Any]:
    agents = ledger.list_agents(ledger_session())
    wanted = uuid_param(request.args, "agent_id")
    chosen = next((a for a in agents if a.id == wanted), agents[0] if agents else None)
    return agents, chosen


@bp.get("/autonomy")
def autonomy_page() -> str:
    agents, agent = _chosen_agent()
    return render_template(
        "dashboard/autonomy.html",
        agents=agents,
        agent=agent,
        panel=autonomy.panel(agent.id) if agent else None,
        queue_counts=queue_panel.counts(ledger_session()) if agent else [],
        queue_jobs=queue_panel.jobs(ledger_session(), agent_id=agent.id) if agent else [],
        catalog=fetch_catalog(settings().premium_api_url) if agent else None,
        scheduler=autonomy.scheduler_config(),
        levels=list(AutonomyLevel),
        refresh_s=PANEL_REFRESH_S,
    )


@bp.get("/autonomy/panel")
def autonomy_panel() -> str:
    """The live part of the page, polled by htmx."""
    agent = autonomy.require_agent(parse_uuid(request.args.get("agent_id", ""), "agent_id"))
    return render_template("phase3_panel.html", panel=autonomy.panel(agent.id))


@bp.get("/autonomy/queue")
def autonomy_queue() -> str:
    """The paid-fetch queue: counts per agent and this agent's latest jobs (polled by htmx)."""
    agent = autonomy.require_agent(parse_uuid(request.args.get("agent_id", ""), "agent_id"))
    session = ledger_session()
    return render_template(
        "dashboard/_queue.html",
        counts=queue_panel.counts(session),
        jobs=queue_panel.jobs(session, agent_id=agent.id),
        agent=agent,
    )


def _back(agent_id: uuid.UUID) -> Any:
    return redirect(url_for(".autonomy_page", agent_id=agent_id))


def _form_agent() -> uuid.UUID:
    agent_id = parse_uuid(request.form.get("agent_id", ""), "agent_id")
    return autonomy.require_agent(agent_id).id


@bp.post("/autonomy/apis")
def autonomy_add_api() -> Any:
    """Monitor a URL, or change the weight of one already monitored."""
    agent_id = _form_agent()
    try:
        url = autonomy.parse_url(request.form.get("url"))
        weight = autonomy.parse_weight(request.form.get("weight"))
    except BadParameter as exc:
        flash(f"Not saved: {exc.description}", "error")
        return _back(agent_id)
    if autonomy.add_api(agent_id, url, weight):
        flash(f"Now monitoring {url}.", "ok")
    else:
        flash(f"Saved {url}" + (f": weight {weight}." if weight else " (already monitored)."), "ok")
    return _back(agent_id)


@bp.post("/autonomy/apis/remove")
def autonomy_remove_api() -> Any:
    agent_id = _form_agent()
    try:
        url = autonomy.parse_url(request.form.get("url"))
    except BadParameter as exc:
        flash(f"Not removed: {exc.description}", "error")
        return _back(agent_id)
    if autonomy.remove_api(agent_id, url):
        flash(f"No longer monitoring {url}.", "ok")
    else:
        flash(f"{url} was not monitored.", "error")
    return _back(agent_id)


@bp.post("/autonomy/settings")
def autonomy_settings() -> Any:
    agent_id = _form_agent()
    try:
        changes = autonomy.parse_settings(request.form)
    except BadParameter as exc:
        flash(f"Not saved: {exc.description}", "error")
        return _back(agent_id)
    autonomy.save_settings(agent_id, changes)
    flash("Settings saved; the next tick uses them.", "ok")
    return _back(agent_id)
