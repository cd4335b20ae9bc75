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
from typing import TYPE_CHECKING

from autopay_app.ledger import breakers

if TYPE_CHECKING:
    from autopay_app.agent.core import Agent

SNAPSHOT_TTL_S = 1.0


class BreakerBoard:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self._lock = threading.Lock()
        self._snapshot: dict[str, str] = {}
        self._taken = 0.0
        self._dirty: set[str] = set()  # breakers this process saw fail since the last success

    def _states(self) -> dict[str, str]:
        with self._lock:
            if time.monotonic() - self._taken > SNAPSHOT_TTL_S:
                self._snapshot = breakers.states(self.agent.session())
                self._taken = time.monotonic()
            return self._snapshot

    def _forget(self) -> None:
        with self._lock:
            self._taken = 0.0

    def admit(self, name: str) -> bool:
        if self._states().get(name, "CLOSED") == "CLOSED":
            return True
        self._forget()
        return breakers.admit(
            self.agent.session(), name, self.agent.agent_id, self.agent.breaker_cooldown
        )

    def success(self, name: str) -> None:
        if self._states().get(name, "CLOSED") == "CLOSED" and name not in self._dirty:
            return
        breakers.success(self.agent.session(), name, self.agent.agent_id)
        self._dirty.discard(name)
        self._forget()

    def failure(self, name: str, reason: str) -> None:
        self._dirty.add(name)
        breakers.failure(
            self.agent.session(), name, self.agent.agent_id, self.agent.breaker_threshold, reason
        )
        self._forget()
