"""GDPR-like erasure of an agent ("autopay agent forget NAME").

Removed: the encrypted session token, and the personal payloads of every request
(what was asked, the headers, the data bought). Pseudonymised: the agent's name.
Kept: amounts, currencies, statuses, signatures, the wallet address and the audit
structure, because they are public on chain and the money must still add up.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.ledger.agents import get_by_name
from autopay_app.ledger.queries import changed_rows
from autopay_app.models import ApiRequest, ErrorClassification


@dataclass(frozen=True)
class ErasureReport:
    old_name: str
    new_name: str
    session_token_removed: bool
    requests_scrubbed: int
    error_details_scrubbed: int

    def lines(self) -> list[str]:
        return [
            f"agent {self.old_name!r} is now {self.new_name!r}",
            f"session token removed: {'yes' if self.session_token_removed else 'none stored'}",
            f"request payloads, headers and data removed from {self.requests_scrubbed} requests",
            f"error details removed from {self.error_details_scrubbed} classifications",
            "kept: amounts, signatures, statuses, wallet address, audit events (public on chain)",
        ]


def pseudonym(name: str, agent_id: object) -> str:
    return "forgotten-" + hashlib.sha256(f"{agent_id}:{name}".encode()).hexdigest()[:12]


def forget_agent(session: Session, name: str) -> ErasureReport:
    """Erase the personal data of the agent called ``name``, in one transaction."""
    with session.begin():
        agent = get_by_name(session, name)
        had_token = agent.session_token_hash is not None
        new_name = pseudonym(name, agent.id)
        agent.session_token_hash = None
        agent.name = new_name
        agent.is_active = False
        agent.erased_at = datetime.now(UTC)
        scrubbed = changed_rows(
            session.execute(
                sa.update(ApiRequest)
                .where(ApiRequest.agent_id == agent.id)
                .values(
                    request_payload=sa.null(), response_headers=sa.null(), data_accessed=sa.null()
                )
            )
        )
        details = changed_rows(
            session.execute(
                sa.update(ErrorClassification)
                .where(
                    ErrorClassification.agent_id == agent.id,
                    ErrorClassification.details.is_not(None),
                )
                .values(details=sa.null())
            )
        )
    return ErasureReport(name, new_name, had_token, scrubbed or 0, details or 0)
