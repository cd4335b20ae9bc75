"""Who changed a status, and why: the actor and context of a transaction's audit events.

Status changes of payments and requests audit themselves: PostgreSQL triggers
(migration 0011) write one ``audit_events`` row per change, whatever path made
it. The application only names the actor (``details.actor``; unset:
``db:<session user>``) and, for a failure, its context (``category``,
``message``, ...: merged into ``details``) for the current transaction:

- an ORM transaction calls :func:`tag` first;
- a single statement on the agent's hot path starts with :data:`ACTOR_CTE`
  and passes ``%(actor)s``, so an autocommit statement carries its own actor.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

#: A CTE that sets the actor for the statement's own transaction; reference ``ctx``
#: (``FROM ctx``) from the statement so it is evaluated before the rows change.
ACTOR_CTE = "ctx AS MATERIALIZED (SELECT set_config('autopay.actor', %(actor)s, true) AS actor)"

_TAG = sa.text(
    "SELECT set_config('autopay.actor', :actor, true), "
    "set_config('autopay.context', :context, true)"
)


def context_json(context: dict[str, Any] | None) -> str:
    """``context`` as the JSON text the triggers merge into ``details`` ('' for none)."""
    return json.dumps(context, default=str) if context else ""


def tag(session: Session, actor: str | None, context: dict[str, Any] | None = None) -> None:
    """Name the actor (and the context) of the status changes of the session's transaction.

    Call it inside the transaction (``with session.begin():``), before the change.
    """
    session.execute(_TAG, {"actor": actor or "", "context": context_json(context)})
