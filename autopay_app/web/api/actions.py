"""POST endpoints: ask for a quote, approve or decline it, switch an agent's autonomy level."""

from __future__ import annotations

from typing import Any

from flask import abort, jsonify, request

from autopay_app.errors import LedgerError
from autopay_app.ledger import dashboard as ledger
from autopay_app.models import AutonomyLevel
from autopay_app.web import approvals, serialize
from autopay_app.web.api import bp
from autopay_app.web.catalog import fetch_catalog, resource_allowed
from autopay_app.web.context import ledger_session
from autopay_app.web.params import BadParameter, parse_enum, parse_uuid, uuid_param
from autopay_app.web.security import settings


def json_body() -> dict[str, Any]:
    """The request's JSON object body.

    Raises:
        BadParameter: The body is missing or not a JSON object (400).
    """
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadParameter("body", "expected a JSON object (Content-Type: application/json)")
    return body


def _field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise BadParameter(name, "required string field")
    if "\x00" in value:
        raise BadParameter(name, "contains a NUL character")
    return value.strip()


@bp.get("/approvals")
def pending() -> Any:
    """Pending approvals of one agent (``agent_id`` required)."""
    agent_id = uuid_param(request.args, "agent_id")
    if agent_id is None:
        raise BadParameter("agent_id", "required")
    return jsonify(items=[serialize.plain(a) for a in approvals.pending(agent_id)])


@bp.post("/quotes")
def quote() -> Any:
    """Body ``{"agent": name, "url": catalog resource}``: fetch it up to the 402."""
    body = json_body()
    agent, url = _field(body, "agent"), _field(body, "url")
    if not resource_allowed(fetch_catalog(settings().premium_api_url), url):
        raise BadParameter("url", f"not a resource of the catalog: {url!r}")
    request_id = approvals.quote(agent, url)
    return jsonify(request_id=str(request_id), status="PAYMENT_REQUIRED"), 201


@bp.post("/approvals/<request_id>/approve")
def approve(request_id: str) -> Any:
    answer = approvals.approve(parse_uuid(request_id, "request_id"))
    return jsonify(serialize.fetch_result(answer.result) | {"job_id": answer.job_id})


@bp.post("/approvals/<request_id>/decline")
def decline(request_id: str) -> Any:
    rid = parse_uuid(request_id, "request_id")
    approvals.decline(rid)
    return jsonify(request_id=str(rid), status="DECLINED")


@bp.post("/agents/<agent_id>/autonomy")
def autonomy(agent_id: str) -> Any:
    """Body ``{"level": "PHASE1" | "PHASE2" | "PHASE3"}``."""
    aid = parse_uuid(agent_id, "agent_id")
    level = parse_enum(_field(json_body(), "level"), "level", AutonomyLevel)
    actor = "api:bearer" if request.headers.get("Authorization") else "api:session"
    try:
        agent = ledger.set_autonomy(ledger_session(), aid, level, actor=actor)
    except LedgerError as exc:
        abort(404, str(exc))
    return jsonify(serialize.agent(agent))
