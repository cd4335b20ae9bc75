"""``/api/v1/monitored-apis``: what a PHASE3 agent monitors, its budgets and tick interval.

GET takes ``agent_id``; POST a JSON body ``{"agent_id", "url", "weight"?}``
(201 when the URL is new, 200 when only its weight changed); DELETE takes
``agent_id`` and ``url`` in the query string (404 when the URL is not
monitored). ``/monitored-apis/settings``: GET takes ``agent_id``; PATCH a JSON
body ``{"agent_id", "daily_budget"?, "burst_fraction"?, "max_buys_per_tick"?,
"tick_seconds"?}`` (``tick_seconds: null`` returns the agent to AUTOPAY_TICK_S)
and answers the settings. Bad input is a 400 naming the field; an unknown
agent a 404.
"""

from __future__ import annotations

from typing import Any

from flask import abort, jsonify, request

from autopay_app.web import autonomy
from autopay_app.web.api import bp
from autopay_app.web.api.actions import json_body
from autopay_app.web.params import BadParameter, parse_uuid, uuid_param


def _agent_param() -> Any:
    agent_id = uuid_param(request.args, "agent_id")
    if agent_id is None:
        raise BadParameter("agent_id", "required")
    return autonomy.require_agent(agent_id)


def _listing(agent_id: Any) -> dict[str, Any]:
    panel = autonomy.panel(agent_id)
    return {
        "agent_id": panel["agent_id"],
        "items": panel["apis"],
        "settings": panel["settings"],
        "default_tick_seconds": autonomy.default_tick_s(),
        "next_plan": panel["next_plan"],
        "decisions": panel["decisions"],
    }


@bp.get("/monitored-apis")
def monitored_apis() -> Any:
    """The agent's monitored APIs with freshness, its budgets, plan and recent decisions."""
    return jsonify(_listing(_agent_param().id))


def _body_agent(body: dict[str, Any]) -> Any:
    raw_agent = body.get("agent_id")
    if not isinstance(raw_agent, str):
        raise BadParameter("agent_id", "required string field (a UUID)")
    return autonomy.require_agent(parse_uuid(raw_agent, "agent_id"))


@bp.post("/monitored-apis")
def add_monitored_api() -> Any:
    body = json_body()
    agent = _body_agent(body)
    url = autonomy.parse_url(body.get("url"))
    weight = autonomy.parse_weight(body.get("weight"))
    created = autonomy.add_api(agent.id, url, weight)
    item = next(a for a in autonomy.panel(agent.id)["apis"] if a["url"] == url)
    return jsonify(item), 201 if created else 200


@bp.delete("/monitored-apis")
def remove_monitored_api() -> Any:
    agent = _agent_param()
    url = autonomy.parse_url(request.args.get("url"))
    if not autonomy.remove_api(agent.id, url):
        abort(404, f"agent {agent.id} does not monitor {url}")
    return jsonify(agent_id=str(agent.id), url=url, removed=True)


@bp.get("/monitored-apis/settings")
def monitor_settings() -> Any:
    """The agent's budgets and tick interval (``tick_seconds`` null: AUTOPAY_TICK_S)."""
    return jsonify(autonomy.settings_view(_agent_param().id))


@bp.patch("/monitored-apis/settings")
def update_monitor_settings() -> Any:
    """Change some of the agent's budgets and its tick interval; answers the settings."""
    body = json_body()
    agent = _body_agent(body)
    unknown = sorted(set(body) - {"agent_id", *autonomy.SETTINGS_FIELDS})
    if unknown:
        known = ", ".join(autonomy.SETTINGS_FIELDS)
        raise BadParameter(unknown[0][:40], f"not a setting (known: {known})")
    changes = autonomy.parse_settings(
        {k: v for k, v in body.items() if k != "agent_id"}, partial=True
    )
    return jsonify(autonomy.save_settings(agent.id, changes))
