"""Audit rows written inside the statement that makes the change they record.

The agent's hot path writes with single SQL statements (data-modifying CTEs)
instead of ORM flushes; its audit events ride along as one ``INSERT ... SELECT``
over a JSON array, in order, so they commit (or vanish) with the change and
cost no extra round trip. :func:`rows` turns event dicts (as built by
:func:`autopay_app.ledger.hooks.status_event`) into that array.
"""

from __future__ import annotations

import json
from typing import Any

#: Appends the events of ``%(events)s`` (a JSON array; psycopg parameters) in order;
#: ``{guard}`` is a WHERE clause tying them to the change (``WHERE EXISTS (...)``).
INSERT_EVENTS = """
INSERT INTO audit_events (agent_id, event_type, severity, related_id, details)
SELECT CAST(%(agent_id)s AS uuid),
       CAST(e ->> 'event_type' AS audit_event_type),
       CAST(e ->> 'severity' AS audit_severity),
       CAST(e ->> 'related_id' AS uuid),
       e -> 'details'
FROM jsonb_array_elements(CAST(%(events)s AS jsonb)) WITH ORDINALITY AS x(e, n)
{guard}
ORDER BY n
"""


def insert_events(guard: str = "") -> str:
    return INSERT_EVENTS.format(guard=guard)


def rows(*events: dict[str, Any]) -> str:
    """The ``events`` parameter: ``event_type``, ``severity``, ``related_id``, ``details``."""
    return json.dumps(
        [
            {
                "event_type": str(e["event_type"]),
                "severity": str(e.get("severity") or "INFO"),
                "related_id": str(e["related_id"]) if e.get("related_id") else None,
                "details": e.get("details"),
            }
            for e in events
        ],
        default=str,  # UUIDs, Decimals and enums, as the ORM hook writes them
    )
