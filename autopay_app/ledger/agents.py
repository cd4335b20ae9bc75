"""Agents: creation, lookup and their encrypted session tokens."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.errors import LedgerError
from autopay_app.models import (
    Agent,
    ApiRequest,
    AuditEvent,
    AuditEventType,
    AutonomyLevel,
    Severity,
)
from autopay_app.secrets import SecretBox


def get_by_name(session: Session, name: str) -> Agent:
    agent = session.scalar(sa.select(Agent).where(Agent.name == name))
    if agent is None:
        raise LedgerError(f"no agent named {name!r}")
    return agent


def ensure_agent(
    session: Session, name: str, wallet_address: str, level: AutonomyLevel = AutonomyLevel.PHASE1
) -> Agent:
    """Return the agent called ``name``, creating it with ``wallet_address`` if absent.

    Raises:
        LedgerError: The name exists with another wallet.
    """
    with session.begin():
        agent = session.scalar(sa.select(Agent).where(Agent.name == name))
        if agent is None:
            agent = Agent(name=name, wallet_address=wallet_address, autonomy_level=level)
            session.add(agent)
        elif agent.wallet_address != wallet_address:
            raise LedgerError(
                f"agent {name!r} already uses wallet {agent.wallet_address}, not {wallet_address}"
            )
    return agent


def autonomy_level(session: Session, agent_id: uuid.UUID) -> AutonomyLevel:
    with session.begin():
        return session.scalars(sa.select(Agent.autonomy_level).where(Agent.id == agent_id)).one()


def name_for_request(session: Session, request_id: uuid.UUID) -> str | None:
    """The name of the agent that made request ``request_id`` (None: no such request)."""
    with session.begin():
        return session.scalar(
            sa.select(Agent.name)
            .join(ApiRequest, ApiRequest.agent_id == Agent.id)
            .where(ApiRequest.id == request_id)
        )


def _context(agent_id: uuid.UUID) -> bytes:
    # Binds the ciphertext to its agent: a token copied to another row does not open.
    return b"agent:" + agent_id.bytes


def set_session_token(session: Session, agent: Agent, token: str, box: SecretBox) -> None:
    with session.begin():
        session.add(agent)
        agent.session_token_hash = box.encrypt(token, context=_context(agent.id))


def read_session_token(agent: Agent, box: SecretBox) -> str | None:
    if agent.session_token_hash is None:
        return None
    return box.decrypt(agent.session_token_hash, context=_context(agent.id))


def set_autonomy(session: Session, agent_id: uuid.UUID, level: AutonomyLevel, actor: str) -> Agent:
    """Switch an agent's autonomy level and record who did it (AGENT_DECISION event).

    Raises:
        LedgerError: No such agent.
    """
    with session.begin():
        agent = session.get(Agent, agent_id, with_for_update=True)
        if agent is None:
            raise LedgerError(f"no agent with id {agent_id}")
        previous = agent.autonomy_level
        agent.autonomy_level = level
        session.add(
            AuditEvent(
                agent_id=agent.id,
                event_type=AuditEventType.AGENT_DECISION,
                severity=Severity.INFO,
                related_id=agent.id,
                details={
                    "decision": "autonomy_level_changed",
                    "from": str(previous),
                    "to": str(level),
                    "actor": actor,
                },
            )
        )
    return agent
