"""Circuit breakers per seller host, for the RPC and for the facilitator.

The state lives in the database (:mod:`autopay_app.ledger.breakers`), shared by
every process; this board keeps a one-second snapshot so a healthy call costs
no database round trip. Only failures and state changes write. 402s and policy
refusals never count: only NETWORK, RPC_TIMEOUT, SELLER_TIMEOUT, RATE_LIMITED and
SELLER_5XX do.
"""

from __future__ import annotations

import threading
import time
import uuid

from sqlalchemy.orm import Session, sessionmaker

from autopay_app.ledger import breakers

SNAPSHOT_TTL_S = 1.0


class BreakerBoard:
    """The breakers as one agent sees them; ``agent_id`` is the actor of their events."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        agent_id: uuid.UUID,
        threshold: int,
        cooldown_s: float,
    ) -> None:
        self.sessions, self.agent_id = sessions, agent_id
        self.threshold, self.cooldown_s = threshold, cooldown_s
        self._lock = threading.Lock()
        self._snapshot: dict[str, str] = {}
        self._taken = 0.0
        self._dirty: set[str] = set()  # breakers this process saw fail since the last success

    def _states(self) -> dict[str, str]:
        with self._lock:
            if time.monotonic() - self._taken > SNAPSHOT_TTL_S:
                self._snapshot = breakers.states(self.sessions())
                self._taken = time.monotonic()
            return self._snapshot

    def _forget(self) -> None:
        with self._lock:
            self._taken = 0.0

    def admit(self, name: str) -> bool:
        if self._states().get(name, "CLOSED") == "CLOSED":
            return True
        self._forget()
        return breakers.admit(self.sessions(), name, self.agent_id, self.cooldown_s)

    def success(self, name: str) -> None:
        if self._states().get(name, "CLOSED") == "CLOSED" and name not in self._dirty:
            return
        breakers.success(self.sessions(), name, self.agent_id)
        self._dirty.discard(name)
        self._forget()

    def failure(self, name: str, reason: str) -> None:
        self._dirty.add(name)
        breakers.failure(self.sessions(), name, self.agent_id, self.threshold, reason)
        self._forget()
