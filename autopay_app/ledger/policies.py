"""Spend policies: read, create with defaults, update."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.models import SpendPolicy

EDITABLE = (
    "per_request_cap",
    "hourly_cap",
    "daily_cap",
    "api_caps",
    "allowed_assets",
    "allowed_hosts",
    "allowed_recipients",
    "max_quote_drift",
)


def get_or_create(session: Session, agent_id: uuid.UUID) -> SpendPolicy:
    with session.begin():
        policy = session.scalar(sa.select(SpendPolicy).where(SpendPolicy.agent_id == agent_id))
        if policy is None:
            policy = SpendPolicy(agent_id=agent_id)
            session.add(policy)
            session.flush()
            session.refresh(policy)
    return policy


def update(session: Session, agent_id: uuid.UUID, **changes: Any) -> SpendPolicy:
    """Change the named fields (see ``EDITABLE``); amounts may be strings."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValueError(f"not a policy field: {', '.join(sorted(unknown))}")
    get_or_create(session, agent_id)
    with session.begin():
        policy = session.scalar(sa.select(SpendPolicy).where(SpendPolicy.agent_id == agent_id))
        assert policy is not None
        for key, value in changes.items():
            if key.endswith("_cap") or key == "max_quote_drift":
                value = Decimal(str(value))
            setattr(policy, key, value)
    return policy
