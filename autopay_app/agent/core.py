"""The :class:`Agent` facade: builds an agent's context and calls the pipeline with it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

import sqlalchemy as sa
from solders.keypair import Keypair
from sqlalchemy.orm import Session

from autopay_app.agent import approval, context, guard, io, mcp_target, pipeline, settle
from autopay_app.agent.catalog import Catalog
from autopay_app.agent.chain import Chain
from autopay_app.agent.errors import AgentError, PolicyDenied
from autopay_app.agent.gateway import Signer
from autopay_app.agent.preview import Preview, preview_url
from autopay_app.agent.result import FetchResult
from autopay_app.agent.states import FetchRequest
from autopay_app.config import Settings
from autopay_app.ledger.balances import BalanceRead
from autopay_app.models import AutonomyLevel, SpendPolicy

T = TypeVar("T")


class Agent:
    """Pays for premium HTTP resources within its policy and records every step.

    Example:
        >>> agent = Agent(settings, engine)
        >>> result = agent.fetch("http://127.0.0.1:8402/api/market-feed?symbols=SOL")
        >>> result.status, result.payment_hash
    """

    def __init__(
        self,
        settings: Settings,
        engine: sa.Engine,
        *,
        name: str | None = None,
        keypair: Keypair | None = None,
        retry_base: float | None = None,
        http_timeout: float | None = None,
        breaker_threshold: int = 5,
        breaker_cooldown: float = 30.0,
        balance_max_age: float = 10.0,
        reconcile_after: float | None = 120.0,
    ) -> None:
        self.ctx = context.build(
            settings,
            engine,
            name=name,
            keypair=keypair,
            retry_base=retry_base,
            http_timeout=http_timeout,
            breaker_threshold=breaker_threshold,
            breaker_cooldown=breaker_cooldown,
            balance_max_age=balance_max_age,
        )
        if reconcile_after is not None:
            # Every start settles what an earlier run left unfinished (older than
            # ``reconcile_after`` seconds, so another live process's payments are left alone).
            self.reconcile(older_than_s=reconcile_after)

    # ---------------------------------------------------------------- identity
    @property
    def name(self) -> str:
        return self.ctx.name

    @property
    def address(self) -> str:
        return self.ctx.address

    @property
    def agent_id(self) -> uuid.UUID:
        return self.ctx.agent_id

    @property
    def settings(self) -> Settings:
        return self.ctx.settings

    @property
    def keypair(self) -> Keypair:
        return self.ctx.keypair

    @property
    def chain(self) -> Chain:
        return self.ctx.chain

    @property
    def signer(self) -> Signer:
        return self.ctx.signer

    @property
    def catalog(self) -> Catalog:
        return self.ctx.catalog

    def session(self) -> Session:
        return self.ctx.session()

    def policy(self) -> SpendPolicy:
        return context.policy(self.ctx)

    def level(self) -> AutonomyLevel:
        return context.autonomy(self.ctx)

    def forget(self, key: str) -> None:
        """Drop a cached read (``policy``, ``level``): the next use reads the ledger."""
        self.ctx.cache.forget(key)

    def rpc(self, read: Callable[[Chain], T]) -> T:
        """``read(chain)`` through the RPC's circuit breaker."""
        return io.rpc(self.ctx, read)

    def close(self) -> None:
        """Release the agent's HTTP and RPC connections and its I/O pool (once the
        verifications and balance refreshes running on it are written)."""
        self.ctx.close()

    # ----------------------------------------------------------------- paying
    def fetch(
        self,
        url: str,
        *,
        max_amount: Decimal | None = None,
        asset: str | None = None,
        reason: str | None = None,
        request_id: uuid.UUID | None = None,
    ) -> FetchResult:
        """Pay for ``url`` if it asks (within policy) and return what happened; at PHASE2
        the payment waits for a person's approval (AWAITING_APPROVAL). ``url`` may name a
        paid MCP tool call (``mcp+http://host/mcp#tool``, :mod:`.mcp_target`); ``reason``
        is stored with the request; ``request_id`` names the request row in advance (a
        queued job's).

        Never raises for a failed purchase: the result carries the classification.
        """
        hold = context.autonomy(self.ctx) is AutonomyLevel.PHASE2
        request = FetchRequest(url, max_amount, asset, reason, request_id)
        return pipeline.run(self.ctx, request, hold=hold)

    def preview(
        self, url: str, *, max_amount: Decimal | None = None, asset: str | None = None
    ) -> Preview:
        """What ``url`` costs and whether the policy would pay it now; nothing is paid."""
        return preview_url(self.ctx, url, max_amount, asset)

    def quote(self, url: str) -> uuid.UUID:
        """Fetch ``url`` for a person up to the approval of its payment; the request id.

        Raises:
            AgentError: The request failed (recorded); the error carries its category.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", *mcp_target.SCHEMES) or not parts.netloc:
            raise PolicyDenied(f"not an http(s) URL: {url!r}")
        result = pipeline.run(self.ctx, FetchRequest(url), hold=True)
        if result.status == "ACCESSED":
            raise PolicyDenied(f"{url} did not ask for a payment")
        if result.status != "AWAITING_APPROVAL":
            raise AgentError(result.error or "the request failed", category=result.category)
        return result.request_id

    def approve(self, request_id: uuid.UUID) -> FetchResult:
        """A person approved the payment of ``request_id``: sign, pay and fetch."""
        return pipeline.resume(self.ctx, request_id)

    def decline(self, request_id: uuid.UUID) -> None:
        """A person declined the payment of ``request_id``: nothing is signed."""
        approval.decline(self.ctx, request_id)

    def expire_approvals(self) -> int:
        return approval.expire(self.ctx)

    # ------------------------------------------------------------ bookkeeping
    def refresh_balances(self) -> BalanceRead:
        """Read the balances from the chain and record them (LOW_BALANCE pause/resume)."""
        return guard.refresh(self.ctx)

    def wait_refreshed(self, timeout: float = 30.0) -> bool:
        """Wait for the balance refresh that follows payments; False on timeout."""
        return guard.wait_refreshed(self.ctx, timeout)

    def wait_verified(self, timeout: float = 30.0) -> bool:
        """Wait until the payments fetched so far are verified on chain (each fetch returns
        its data before its VERIFIED is written); False on timeout. Closing the agent
        waits for them too."""
        return self.ctx.verifications.wait(timeout)

    def settle_request(self, request_id: uuid.UUID) -> str:
        """Settle a request an interrupted run left (from the chain, never by paying)."""
        return settle.settle_request(self.ctx, request_id)

    def reconcile(self, older_than_s: float = 0.0) -> dict[str, Any]:
        """Settle every unfinished payment and request from the chain."""
        return settle.reconcile(self.ctx, older_than_s)
