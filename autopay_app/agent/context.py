"""What one agent works with: its identity and settings (data) and its connections (handles).

:class:`AgentContext` is plain: the steps of a paid request
(:mod:`autopay_app.agent.steps`), settlement (:mod:`~autopay_app.agent.settle`)
and the balance guard (:mod:`~autopay_app.agent.guard`) take it as their first
argument and never call back into the :class:`~autopay_app.agent.core.Agent`
facade. :func:`build` composes it once per agent.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

import sqlalchemy as sa
from solders.keypair import Keypair
from sqlalchemy.orm import Session, sessionmaker

from autopay_app.agent import wallet
from autopay_app.agent.breaker import BreakerBoard
from autopay_app.agent.catalog import Catalog
from autopay_app.agent.chain import Chain
from autopay_app.agent.gateway import Signer
from autopay_app.agent.http import Http
from autopay_app.agent.mcp_seller import McpSeller
from autopay_app.config import Settings
from autopay_app.ledger import agents, policies
from autopay_app.models import AutonomyLevel, SpendPolicy

T = TypeVar("T")


class TtlCache:
    """Values re-loaded at most every ``ttl`` seconds (per agent; reads that may lag a second)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: dict[str, tuple[float, Any]] = {}

    def get(self, key: str, load: Callable[[], T], ttl: float = 1.0) -> T:
        """``load()``, re-run when the value is older than ``ttl`` seconds."""
        now = time.monotonic()
        with self._lock:
            hit = self._hits.get(key)
        if hit is None or now - hit[0] > ttl:
            hit = (now, load())
            with self._lock:
                self._hits[key] = hit
        return hit[1]  # type: ignore[no-any-return]

    def put(self, key: str, value: Any) -> None:
        """``value`` is the current one (just written): kept for ``ttl`` from now."""
        with self._lock:
            self._hits[key] = (time.monotonic(), value)

    def forget(self, key: str) -> None:
        with self._lock:
            self._hits.pop(key, None)


def _idle() -> threading.Event:
    event = threading.Event()
    event.set()
    return event


@dataclass
class BalanceRefresh:
    """The balance refresh that follows payments (:func:`autopay_app.agent.guard.after_payment`):
    one at a time; ``due`` holds, per asset paid since its last run, each payment's chain
    check (None: read the balance from the chain). ``slots``: per asset, the slot the
    row's balance reflects, and whether a full read (True) or a payment's own transaction
    (False) gave it."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    due: dict[str, list[Future[Any] | None]] = field(default_factory=dict)
    running: bool = False
    idle: threading.Event = field(default_factory=_idle)
    slots: dict[str, tuple[int, bool]] = field(default_factory=dict)


@dataclass
class RecentBlockhash:
    """The blockhash read last (:mod:`autopay_app.agent.blockhash`): its value and last
    valid block height, the slot and the time it was read at."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    value: tuple[str, int] | None = None
    slot: int = -1
    read_at: float = 0.0


class Verifications:
    """The verifications of delivered payments still running on the agent's I/O pool
    (:func:`autopay_app.agent.steps.verify`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[Future[Any]] = set()

    def track(self, future: Future[Any]) -> None:
        with self._lock:
            self._running.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[Any]) -> None:
        with self._lock:
            self._running.discard(future)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every verification started so far has been written; False on timeout."""
        with self._lock:
            running = list(self._running)
        return not wait(running, timeout).not_done


@dataclass
class AgentContext:
    """One agent: who it is in the ledger and on chain, its limits, and its connections.

    Attributes:
        retry_base: Backoff base in seconds (retries wait 1, 2, 4 times it, plus jitter).
        balance_max_age: How old a recorded balance may be before it is read again.
        pool: A small thread pool for chain reads that overlap ledger writes.
    """

    settings: Settings
    engine: sa.Engine
    sessions: sessionmaker[Session]
    keypair: Keypair
    address: str
    name: str
    agent_id: uuid.UUID
    mints: dict[str, str]
    threshold: Decimal
    retry_base: float
    balance_max_age: float
    http: Http
    mcp: McpSeller
    chain: Chain
    signer: Signer
    catalog: Catalog
    breakers: BreakerBoard
    pool: ThreadPoolExecutor
    cache: TtlCache = field(default_factory=TtlCache)
    balance_refresh: BalanceRefresh = field(default_factory=BalanceRefresh)
    verifications: Verifications = field(default_factory=Verifications)
    blockhash: RecentBlockhash = field(default_factory=RecentBlockhash)

    @property
    def actor(self) -> str:
        """Who the audit trail says made this agent's changes."""
        return f"agent:{self.name}"

    def session(self) -> Session:
        """A new ORM session (the ledger functions own its transactions)."""
        return self.sessions()

    def close(self) -> None:
        """Release the HTTP and RPC connections and the thread pool."""
        self.pool.shutdown(wait=True)
        self.http.close()
        self.chain.close()
        self.signer.close()


def build(
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
) -> AgentContext:
    """The agent's context: its keypair (created on first use), its ledger row and policy."""
    keypair = keypair or wallet.load_or_create(
        settings.keypair_path or settings.home / "agent-keypair.json"
    )
    address = str(keypair.pubkey())
    name = name or settings.agent_name or f"agent-{address[:8]}"
    sessions = sessionmaker(engine, expire_on_commit=False)
    timeout = settings.http_timeout_s if http_timeout is None else http_timeout
    http = Http(timeout, settings.http_deadline_s, settings.max_body_bytes)
    row = agents.ensure_agent(sessions(), name, address)
    policies.get_or_create(sessions(), row.id)
    return AgentContext(
        settings=settings,
        engine=engine,
        sessions=sessions,
        keypair=keypair,
        address=address,
        name=name,
        agent_id=row.id,
        mints={"USDC": settings.usdc_mint, "CASH": settings.cash_mint},
        threshold=row.balance_threshold,
        retry_base=settings.retry_base_s if retry_base is None else retry_base,
        balance_max_age=balance_max_age,
        http=http,
        mcp=McpSeller(timeout, settings.max_body_bytes),
        chain=Chain(settings.solana_rpc_url, settings.usdc_mint, settings.cash_mint, timeout),
        signer=Signer(keypair, settings.solana_rpc_url),
        catalog=Catalog(http),
        breakers=BreakerBoard(sessions, row.id, breaker_threshold, breaker_cooldown),
        pool=ThreadPoolExecutor(max_workers=8, thread_name_prefix="autopay-io"),
    )


def policy(ctx: AgentContext) -> SpendPolicy:
    """The spend policy (re-read at most once a second; caps are re-checked under lock)."""
    return ctx.cache.get("policy", lambda: policies.get_or_create(ctx.session(), ctx.agent_id))


def autonomy(ctx: AgentContext) -> AutonomyLevel:
    """The agent's autonomy level (re-read at most once a second)."""
    return ctx.cache.get("level", lambda: agents.autonomy_level(ctx.session(), ctx.agent_id))
