"""The agent: one keypair, one ledger identity, and the services the flow calls."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

import sqlalchemy as sa
from solders.keypair import Keypair
from sqlalchemy.orm import Session, sessionmaker

from autopay_app.agent import settle, wallet
from autopay_app.agent.breaker import BreakerBoard
from autopay_app.agent.catalog import Catalog
from autopay_app.agent.chain import Chain
from autopay_app.agent.errors import AgentError, BreakerOpen, SellerError
from autopay_app.agent.flow import FetchResult, PaymentFlow
from autopay_app.agent.gateway import Signer
from autopay_app.agent.guard import BalanceGuard
from autopay_app.agent.http import Answer, Http
from autopay_app.config import Settings
from autopay_app.ledger import agents, direct, policies, requests_log
from autopay_app.models import ApiRequest, AutonomyLevel, Payment, SpendPolicy

T = TypeVar("T")
#: Failures that count against a breaker: the service is down or overloaded.
FACILITATOR = "facilitator"
BREAKER_CATEGORIES = frozenset(
    {"NETWORK", "RPC_TIMEOUT", "SELLER_TIMEOUT", "RATE_LIMITED", "SELLER_5XX"}
)


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
        self.settings = settings
        self.keypair = keypair or wallet.load_or_create(
            settings.keypair_path or settings.home / "agent-keypair.json"
        )
        self.address = str(self.keypair.pubkey())
        self.name = name or settings.agent_name or f"agent-{self.address[:8]}"
        #: Who the ledger's audit trail says made this agent's changes.
        self.actor = f"agent:{self.name}"
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._cache: dict[str, tuple[float, Any]] = {}
        self.retry_base = settings.retry_base_s if retry_base is None else retry_base
        http_timeout = settings.http_timeout_s if http_timeout is None else http_timeout
        self.breaker_threshold, self.breaker_cooldown = breaker_threshold, breaker_cooldown
        self.mints = {"USDC": settings.usdc_mint, "CASH": settings.cash_mint}
        self.http = Http(http_timeout, settings.http_deadline_s, settings.max_body_bytes)
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="autopay-io")
        self.chain = Chain(
            settings.solana_rpc_url, settings.usdc_mint, settings.cash_mint, timeout=http_timeout
        )
        self.signer = Signer(self.keypair, settings.solana_rpc_url)
        self.catalog = Catalog(self.http)
        self.guard = BalanceGuard(self, balance_max_age)
        self.board = BreakerBoard(self)
        row = agents.ensure_agent(self.session(), self.name, self.address)
        self.agent_id: uuid.UUID = row.id
        self.threshold: Decimal = row.balance_threshold
        policies.get_or_create(self.session(), self.agent_id)
        if reconcile_after is not None:
            # Every start settles what an earlier run left unfinished (older than
            # ``reconcile_after`` seconds, so another live process's payments are left alone).
            self.reconcile(older_than_s=reconcile_after)

    def session(self) -> Session:
        return self._sessions()

    def write(self) -> AbstractContextManager[direct.Connection]:
        """A psycopg connection on which every statement commits by itself (one step of a
        fetch, :mod:`autopay_app.ledger.direct`)."""
        return direct.autocommit(self.engine)

    def transaction(self) -> AbstractContextManager[direct.Connection]:
        """A psycopg connection in one transaction, committed when the block ends."""
        return direct.transaction(self.engine)

    def in_background(self, fn: Callable[[], T]) -> Future[T]:
        """Run ``fn`` on the agent's small I/O pool (reads that overlap a ledger write)."""
        return self._pool.submit(fn)

    def close(self) -> None:
        """Release the agent's HTTP connections and its I/O pool."""
        self._pool.shutdown(wait=True)
        self.http.close()
        self.chain.close()
        self.signer.close()

    def policy(self) -> SpendPolicy:
        """The spend policy (re-read at most once a second; caps are re-checked under lock)."""
        return self.cached("policy", lambda: policies.get_or_create(self.session(), self.agent_id))

    def cached(self, key: str, load: Callable[[], T], ttl: float = 1.0) -> T:
        """``load()``, re-run at most every ``ttl`` seconds (per agent object)."""
        hit = self._cache.get(key)
        now = time.monotonic()
        if hit is None or now - hit[0] > ttl:
            hit = self._cache[key] = (now, load())
        return hit[1]  # type: ignore[no-any-return]

    def forget(self, key: str) -> None:
        self._cache.pop(key, None)

    def premium_defaults(self, pay_to: set[str]) -> tuple[frozenset[str], frozenset[str]]:
        """What the policy allows besides its lists: the premium API's host and the recipients
        its catalog names (read only when one of ``pay_to`` is not listed already)."""
        base = self.settings.premium_api_url.rstrip("/")
        listed = set(self.policy().allowed_recipients)
        named = frozenset() if "*" in listed or pay_to <= listed else self.catalog.recipients(base)
        return frozenset({urlsplit(base).netloc}), named

    def level(self) -> AutonomyLevel:
        return self.cached("level", self._load_level)

    def _load_level(self) -> AutonomyLevel:
        with self.session() as s, s.begin():
            return s.scalars(
                sa.select(agents.Agent.autonomy_level).where(agents.Agent.id == self.agent_id)
            ).one()

    # ------------------------------------------------------------ guarded calls
    def _guarded(self, name: str, fn: Callable[[], T]) -> T:
        if not self.board.admit(name):
            raise BreakerOpen(f"circuit breaker {name} is open: failing fast")
        try:
            result = fn()
        except AgentError as exc:
            if exc.category in BREAKER_CATEGORIES:
                self.board.failure(name, str(exc)[:300])
            raise
        self.board.success(name)
        return result

    def guarded_get(
        self, breaker: str, url: str, headers: dict[str, str] | None = None, *, paid: bool = False
    ) -> Answer:
        """GET through the seller's breaker; a paid call also through the facilitator's."""
        if paid and not self.board.admit(FACILITATOR):
            raise BreakerOpen(f"circuit breaker {FACILITATOR} is open: failing fast")
        try:
            answer = self._guarded(breaker, lambda: self.http.get(url, headers))
        except SellerError as exc:
            if paid and exc.facilitator:
                self.board.failure(FACILITATOR, str(exc)[:300])
            raise
        if paid:
            self.board.success(FACILITATOR)
        return answer

    def rpc(self, fn: Callable[[Chain], T]) -> T:
        return self._guarded("rpc", lambda: fn(self.chain))

    # ------------------------------------------------------------------- fetch
    def fetch(
        self, url: str, *, max_amount: Decimal | None = None, asset: str | None = None
    ) -> FetchResult:
        """Pay for ``url`` if it asks (within policy) and return what happened.

        Never raises for a failed purchase: the result carries the classification.
        """
        with self.http.fetch_deadline(self.settings.fetch_deadline_s):
            return self._fetch(PaymentFlow(self, url, max_amount=max_amount, asset=asset))

    def _fetch(self, flow: PaymentFlow) -> FetchResult:
        request_id = flow.open()
        try:
            free = flow.ask()
            if free is not None:
                requests_log.record_free_access(
                    self.session(),
                    request_id,
                    free.json_or_text(),
                    free.status,
                    free.headers,
                    free.elapsed_ms,
                    actor=self.actor,
                )
                return self.result_for(request_id)
            flow.decide()
            if self.level() is AutonomyLevel.PHASE2:
                from autopay_app.agent import interactive

                return interactive.hold(self, flow)
            flow.reserve_and_sign()
            return flow.deliver()
        except AgentError as exc:
            return self._failed(flow, exc)
        except Exception as exc:  # never lose a record, whatever broke
            return self._failed(flow, AgentError(f"unexpected {type(exc).__name__}: {exc}"))

    def _failed(self, flow: PaymentFlow, exc: AgentError) -> FetchResult:
        assert flow.request_id is not None
        flow.record_402()  # a refused 402 is part of the record too
        requests_log.fail(
            self.session(),
            flow.request_id,
            exc.category,
            str(exc),
            retryable=exc.retryable,
            x402_reason=getattr(exc, "x402_reason", None),
            payment_id=flow.payment_id,
            actor=self.actor,
        )
        return self.result_for(flow.request_id, error=str(exc), category=exc.category)

    def result_for(
        self, request_id: uuid.UUID, *, error: str | None = None, category: str | None = None
    ) -> FetchResult:
        with self.session() as s, s.begin():
            request = s.get_one(ApiRequest, request_id)
            payment = s.scalars(
                sa.select(Payment)
                .where(Payment.api_request_id == request_id)
                .order_by(Payment.created_at.desc())
                .limit(1)
            ).first()
            return FetchResult(
                request_id=request_id,
                status=str(request.status),
                data=request.data_accessed,
                payment_id=payment.id if payment else None,
                payment_hash=payment.payment_hash if payment else None,
                amount=payment.amount if payment else None,
                asset=str(payment.currency) if payment else None,
                error=error,
                category=category,
                http_status=request.http_status,
                latency_ms=request.latency_ms,
            )

    # ------------------------------------------------------- chain bookkeeping
    def verify_payment(self, payment_id: uuid.UUID) -> str:
        return settle.verify(self, payment_id)

    def settle_from_chain(self, payment_id: uuid.UUID) -> str:
        return settle.settle(self, payment_id)

    def find_on_chain(self, payment_id: uuid.UUID) -> str | None:
        return settle.find(self, payment_id)

    def resolve_unsettled(self, url: str) -> None:
        settle.resolve_unsettled(self, url)

    def reconcile(self, older_than_s: float = 0.0) -> dict[str, Any]:
        return settle.reconcile(self, older_than_s)
