"""The OpenAPI 3.1 document of the JSON API, built from a compact table of routes."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from autopay_app.ledger.queue import STATUSES as JOB_STATUSES
from autopay_app.models import (
    ApiType,
    AuditEventType,
    AutonomyLevel,
    Currency,
    PaymentStatus,
    RequestStatus,
    Severity,
)
from autopay_app.web.api import bp
from autopay_app.web.params import MAX_LIMIT


def _q(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def _enum(kind: Any) -> dict[str, Any]:
    return {"type": "string", "enum": [m.value for m in kind]}


def _id(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string", "format": "uuid"},
    }


UUID = {"type": "string", "format": "uuid"}
URI = {"type": "string", "format": "uri", "maxLength": 2048}
TIME = {"type": "string", "format": "date-time"}
PAGE = [
    _q(
        "limit",
        f"page size, 1-{MAX_LIMIT}",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50},
    ),
    _q("cursor", "next_cursor of the previous page"),
]
WINDOW = [
    _q("since", "from this time (ISO 8601, inclusive)", TIME),
    _q("until", "before this time (ISO 8601)", TIME),
]
AGENT = _q("agent_id", "only this agent", UUID)
EXPORT = [
    AGENT,
    _q("api_type", "API type", _enum(ApiType)),
    _q("endpoint", "endpoint path"),
    *WINDOW,
]

ROUTES: list[tuple[str, str, str, list[dict[str, Any]], str | None]] = [
    ("get", "/agents", "List agents", [], None),
    ("get", "/agents/{agent_id}", "One agent", [_id("agent_id")], None),
    (
        "post",
        "/agents/{agent_id}/autonomy",
        "Switch the autonomy level",
        [_id("agent_id")],
        "autonomy",
    ),
    ("get", "/balances", "Balances, thresholds and statistics per agent", [], None),
    (
        "get",
        "/requests",
        "List requests",
        [
            AGENT,
            _q("status", "status", _enum(RequestStatus)),
            _q("api_type", "API type", _enum(ApiType)),
            _q("endpoint", "endpoint path"),
            *WINDOW,
            *PAGE,
        ],
        None,
    ),
    (
        "get",
        "/requests/{request_id}",
        "A request with 402 instructions, retries, payment, data",
        [_id("request_id")],
        None,
    ),
    (
        "get",
        "/payments",
        "List payments (payment_ledger view)",
        [
            AGENT,
            _q("status", "status", _enum(PaymentStatus)),
            _q("currency", "asset", _enum(Currency)),
            *WINDOW,
            *PAGE,
        ],
        None,
    ),
    (
        "get",
        "/payments/{payment_id}",
        "A payment with logs and status history",
        [_id("payment_id")],
        None,
    ),
    (
        "get",
        "/audit-events",
        "Audit trail",
        [
            AGENT,
            _q("event_type", "event type", _enum(AuditEventType)),
            _q("severity", "severity", _enum(Severity)),
            _q("q", "full-text search over details (websearch syntax)"),
            *WINDOW,
            *PAGE,
        ],
        None,
    ),
    (
        "get",
        "/jobs",
        "The paid-fetch queue: latest jobs (decision, request, payment ids), counts per agent",
        [
            AGENT,
            _q("status", "job status", {"type": "string", "enum": list(JOB_STATUSES)}),
            PAGE[0],
        ],
        None,
    ),
    ("get", "/catalog", "The premium API's catalog", [], None),
    ("get", "/approvals", "Pending approvals of an agent", [{**AGENT, "required": True}], None),
    ("post", "/quotes", "Ask for a catalog resource up to its 402 (interactive mode)", [], "quote"),
    (
        "post",
        "/approvals/{request_id}/approve",
        "Approve: sign, pay, fetch (by a worker's job when one is alive: job_id)",
        [_id("request_id")],
        None,
    ),
    ("post", "/approvals/{request_id}/decline", "Decline: no payment", [_id("request_id")], None),
    (
        "get",
        "/monitored-apis",
        "Phase 3: monitored APIs of an agent with freshness, budgets, next plan, decisions",
        [{**AGENT, "required": True}],
        None,
    ),
    (
        "post",
        "/monitored-apis",
        "Phase 3: monitor a URL (201), or change the weight of a monitored one (200)",
        [],
        "monitored_api",
    ),
    (
        "delete",
        "/monitored-apis",
        "Phase 3: stop monitoring a URL (404 when it is not monitored)",
        [{**AGENT, "required": True}, {**_q("url", "the monitored URL", URI), "required": True}],
        None,
    ),
    (
        "get",
        "/monitored-apis/settings",
        "Phase 3: an agent's budgets and tick interval (tick_seconds null: AUTOPAY_TICK_S)",
        [{**AGENT, "required": True}],
        None,
    ),
    (
        "patch",
        "/monitored-apis/settings",
        "Phase 3: change some of an agent's budgets and its tick interval; answers the settings",
        [],
        "monitor_settings",
    ),
    (
        "get",
        "/export",
        "Accessed data as JSON Lines or CSV (streamed)",
        [*EXPORT, _q("format", "jsonl or csv", {"type": "string", "enum": ["jsonl", "csv"]})],
        None,
    ),
]

BODIES = {
    "autonomy": {
        "type": "object",
        "required": ["level"],
        "properties": {"level": _enum(AutonomyLevel)},
    },
    "monitored_api": {
        "type": "object",
        "required": ["agent_id", "url"],
        "properties": {
            "agent_id": UUID,
            "url": {**URI, "description": "an http(s) URL"},
            "weight": {
                "type": ["number", "string"],
                "description": "value of the API's data, above 0, at most 10000, 4 decimals;"
                " default 1 for a new URL",
            },
        },
    },
    "monitor_settings": {
        "type": "object",
        "required": ["agent_id"],
        "minProperties": 2,
        "additionalProperties": False,
        "description": "give at least one setting; one left out is left unchanged",
        "properties": {
            "agent_id": UUID,
            "daily_budget": {
                "type": ["number", "string"],
                "description": "token units a day, 0 to 1000000, 9 decimals",
            },
            "burst_fraction": {
                "type": ["number", "string"],
                "description": "pacing bucket size as a fraction of the daily budget, "
                "0.0001 to 1, 4 decimals",
            },
            "max_buys_per_tick": {"type": "integer", "minimum": 1, "maximum": 10000},
            "tick_seconds": {
                "type": ["number", "string", "null"],
                "description": "seconds between the agent's ticks, 1 to 86400, 3 decimals; "
                "null returns the agent to the scheduler's AUTOPAY_TICK_S",
            },
        },
    },
    "quote": {
        "type": "object",
        "required": ["agent", "url"],
        "properties": {"agent": {"type": "string"}, "url": {"type": "string", "format": "uri"}},
    },
}

ERROR = {
    "description": "error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


#: Operations that answer 201 when they create something.
CREATES = {("post", "/quotes"), ("post", "/monitored-apis")}


def _operation(
    summary: str, params: list[dict[str, Any]], body: str | None, creates: bool = False
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "parameters": params,
        "responses": {"200": {"description": "OK"}, "400": ERROR, "401": ERROR, "404": ERROR},
    }
    if creates:
        op["responses"]["201"] = {"description": "Created"}
    if body:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": BODIES[body]}},
        }
    return op


def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, params, body in ROUTES:
        creates = (method, path) in CREATES
        paths.setdefault(path, {})[method] = _operation(summary, params, body, creates)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Autopay Agent API",
            "version": "1",
            "description": (
                "The ledger of the Autopay Agent. "
                "Authenticate with 'Authorization: Bearer <token>': AUTOPAY_API_TOKEN, "
                "or the token generated into AUTOPAY_HOME/api.token (printed once by the "
                "'autopay serve' run that creates it). Repeated wrong tokens from one address "
                "are answered 429 with Retry-After. A logged-in browser may use its session "
                "cookie and must then send X-CSRFToken on POST, PATCH and DELETE. "
                "Lists return {items, next_cursor, limit}."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {
                                "status": {"type": "integer"},
                                "name": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        }
                    },
                }
            },
        },
    }


@bp.get("/openapi.json")
def openapi() -> Any:
    return jsonify(document())
