"""Phase 3 database work: monitored APIs, budgets, the prioritizer's inputs and decisions.

The prioritizer's staleness read is one statement over ``api_requests`` that
rides the ``(agent_id, status, created_at)`` index: for one agent, the ACCESSED
and FAILED rows newer than a cut-off (the longest useful staleness window),
grouped by URL into "last access" and "recent failures". It never scans older
history, so its cost follows the purchases in the window, not the ledger's size.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import groupby
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.orm import Session

from autopay_app.ledger import decisions as decisions_log
from autopay_app.ledger import queue, spend
from autopay_app.ledger.queries import changed_rows
from autopay_app.models import (
    Agent,
    ApiRequest,
    AuditEvent,
    AuditEventType,
    CircuitBreaker,
    MonitoredApi,
    MonitorSettings,
    RequestStatus,
    Severity,
    SpendPolicy,
    WalletBalance,
)

#: Marks the prioritizer's AGENT_DECISION events (``details->>'kind'``).
DECISION_KIND = decisions_log.DECISION_KIND


class ApiState(NamedTuple):
    """A monitored API with what the ledger knows of it (a tuple: a tick builds 1,000s):
    its configuration (the first :data:`CONFIG_FIELDS` fields), then its staleness."""

    url: str
    weight: Decimal
    price: Decimal | None
    asset: str | None
    ttl_seconds: int | None
    source: str
    #: ``weight`` and ``price`` as floats, converted by the server (the scorer's
    #: arithmetic; Decimal -> float in Python cost ~0.4 us each, twice per API a tick)
    weight_f: float | None
    price_f: float | None
    last_access: datetime | None = None
    failures: int = 0


#: How many leading fields of :class:`ApiState` are the API's configuration.
CONFIG_FIELDS = 8
#: The staleness of an API without ACCESSED or FAILED requests in the window.
_NOT_SEEN: tuple[None, int] = (None, 0)


@dataclass
class Snapshot:
    """Everything the prioritizer decides from, read in one transaction."""

    apis: list[ApiState]
    daily_budget: Decimal
    burst_fraction: Decimal
    max_buys_per_tick: int
    pacing_tokens: Decimal | None
    pacing_at: datetime | None
    per_request_cap: Decimal
    hourly_cap: Decimal
    daily_cap: Decimal
    allowed_assets: list[str]
    spent_hour: Decimal
    spent_day: Decimal
    balances: dict[str, Decimal] = field(default_factory=dict)
    threshold: Decimal = Decimal("0")
    paused: bool = False
    breakers: dict[str, str] = field(default_factory=dict)
    #: Whether the agent monitors any API at all (enabled or not).
    has_apis: bool = True
    #: URL -> id of the agent's paid-fetch job queued or running (read with ``agent_name``).
    busy: dict[str, int] = field(default_factory=dict)


#: Defaults of a new settings row: daily budget, burst fraction, purchases per tick.
SettingsDefaults = tuple[Decimal, Decimal, int]
#: APIs the configuration names: (url, weight) pairs.
Configured = Sequence[tuple[str, Decimal]]


# ----------------------------------------------------------------- settings
def ensure_settings(
    session: Session, agent_id: uuid.UUID, daily_budget: Decimal, burst: Decimal, max_buys: int
) -> MonitorSettings:
    """The agent's Phase 3 settings, created with these defaults when absent."""
    with session.begin():
        session.execute(
            insert(MonitorSettings)
            .values(
                agent_id=agent_id,
                daily_budget=daily_budget,
                burst_fraction=burst,
                max_buys_per_tick=max_buys,
            )
            .on_conflict_do_nothing(index_elements=["agent_id"])
        )
        return session.scalars(
            sa.select(MonitorSettings).where(MonitorSettings.agent_id == agent_id)
        ).one()


SETTINGS_FIELDS = ("daily_budget", "burst_fraction", "max_buys_per_tick", "tick_seconds")
#: Bounds of a per-agent tick interval (seconds; the column keeps 3 decimals).
TICK_BOUNDS = (Decimal(1), Decimal(86400))


def update_settings(session: Session, agent_id: uuid.UUID, **changes: Any) -> int:
    """Change fields of an existing settings row (``tick_seconds=None``: the default).

    Returns:
        The number of rows changed (0 when the agent has no settings row).
    """
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValueError(f"not a monitor setting: {', '.join(sorted(unknown))}")
    with session.begin():
        result = session.execute(
            sa.update(MonitorSettings).where(MonitorSettings.agent_id == agent_id).values(**changes)
        )
        return changed_rows(result)


def claim_tick(session: Session, agent_id: uuid.UUID, seen: datetime | None, at: datetime) -> bool:
    """Record that the agent's tick begins ``at``, unless someone ticked it since ``seen``.

    The scheduler reads ``last_tick_at``, decides the agent is due and claims
    the tick here before running it, so a tick that fails is not retried
    before the agent's interval has passed again.

    Returns:
        True when the claim holds (``last_tick_at`` was still ``seen``).
    """
    with session.begin():
        result = session.execute(
            sa.update(MonitorSettings)
            .where(
                MonitorSettings.agent_id == agent_id,
                MonitorSettings.last_tick_at.is_not_distinct_from(seen),
            )
            .values(last_tick_at=at)
        )
        return bool(changed_rows(result))


# ------------------------------------------------------------ monitored APIs
def upsert_api(
    session: Session,
    agent_id: uuid.UUID,
    url: str,
    *,
    weight: Decimal | None = None,
    price: Decimal | None = None,
    asset: str | None = None,
    ttl_seconds: int | None = None,
    source: str = "cli",
    replace: bool = True,
) -> bool:
    """Add ``url`` to the agent's monitored APIs; with ``replace``, update given fields.

    Returns:
        True when a row was inserted or changed.
    """
    values: dict[str, Any] = {"weight": weight, "price": price, "asset": asset}
    values |= {"ttl_seconds": ttl_seconds}
    given = {k: v for k, v in values.items() if v is not None}
    stmt = insert(MonitoredApi).values(agent_id=agent_id, url=url, source=source, **given)
    if replace and given:
        stmt = stmt.on_conflict_do_update(constraint="uq_monitored_apis_agent_url", set_=given)
    else:
        stmt = stmt.on_conflict_do_nothing(constraint="uq_monitored_apis_agent_url")
    with session.begin():  # a row back: inserted or changed (an INSERT's rowcount is -1)
        return session.execute(stmt.returning(MonitoredApi.id)).first() is not None


def remove_api(session: Session, agent_id: uuid.UUID, url: str) -> bool:
    with session.begin():
        result = session.execute(
            sa.delete(MonitoredApi).where(
                MonitoredApi.agent_id == agent_id, MonitoredApi.url == url
            )
        )
        return bool(changed_rows(result))


def list_apis(session: Session, agent_id: uuid.UUID) -> list[MonitoredApi]:
    with session.begin():
        return list(
            session.scalars(
                sa.select(MonitoredApi)
                .where(MonitoredApi.agent_id == agent_id)
                .order_by(MonitoredApi.weight.desc(), MonitoredApi.url)
            )
        )


def agent_id_for(session: Session, name: str | None) -> tuple[uuid.UUID, str]:
    """The id and name of the agent called ``name`` (the only agent when ``name`` is None)."""
    with session.begin():
        query = sa.select(Agent.id, Agent.name).where(Agent.erased_at.is_(None))
        rows = session.execute(query.where(Agent.name == name) if name else query).all()
    if len(rows) != 1:
        from autopay_app.errors import LedgerError

        known = "no such agent" if not rows else "several agents: name one with --agent"
        raise LedgerError(f"cannot choose the agent ({known})")
    return rows[0][0], rows[0][1]


def active_agents(session: Session) -> list[Agent]:
    with session.begin():
        return list(
            session.scalars(
                sa.select(Agent)
                .where(Agent.is_active, Agent.erased_at.is_(None))
                .order_by(Agent.name)
            )
        )


# ------------------------------------------------------ the prioritizer's read
def stats_query(
    agent_id: uuid.UUID, cut: datetime, fail_cut: datetime
) -> sa.Select[str | None, datetime, int]:
    """Last ACCESSED time and FAILED count since ``fail_cut``, per URL, since ``cut``."""
    r = ApiRequest
    return (
        sa.select(
            r.url,
            sa.func.max(r.created_at).filter(r.status == RequestStatus.ACCESSED).label("last"),
            sa.func.count()
            .filter(r.status == RequestStatus.FAILED, r.created_at > fail_cut)
            .label("failures"),
        )
        .where(
            r.agent_id == agent_id,
            r.status.in_([RequestStatus.ACCESSED, RequestStatus.FAILED]),
            r.created_at > cut,
        )
        .group_by(r.url)
    )


def _stats(session: Session, query: Any) -> dict[str, tuple[datetime | None, int]]:
    """``stats_query`` rows by URL."""
    result: Any = session.execute(query)
    return {u: (last, int(n)) for u, last, n in result}


#: The staleness figures of one agent's URLs: the last ACCESSED time since ``:cut``
#: and the FAILED count since ``:fail_cut``. The scan of ``api_requests`` rides the
#: ``(agent_id, status, created_at)`` index. The cut is a value, not a subquery: with
#: the window computed inside the statement the planner could not estimate the range
#: and chose a parallel bitmap scan (two workers started per tick on a two-core machine).
STALENESS = """
    SELECT url,
           max(created_at) FILTER (WHERE status = 'ACCESSED') AS last,
           count(*) FILTER (WHERE status = 'FAILED' AND created_at > :fail_cut) AS failures
    FROM api_requests
    WHERE agent_id = :agent_id
      AND status = ANY (CAST(ARRAY['ACCESSED', 'FAILED'] AS request_status[]))
      AND created_at > :cut
    GROUP BY url
"""

#: The per-API figures of one agent in one statement: its enabled monitored APIs'
#: configuration (as :class:`ApiState` orders it), each with its :data:`STALENESS`,
#: then the ``apis_version`` this configuration is (read by the same statement: the
#: rows and the version a change bumps become visible together).
PER_API = sa.text(
    f"""
SELECT m.url, m.weight, m.price, m.asset, m.ttl_seconds, m.source,
       CAST(m.weight AS float8), CAST(m.price AS float8), s.last, coalesce(s.failures, 0),
       v.apis_version
FROM monitored_apis m
LEFT JOIN ({STALENESS}) s ON s.url = m.url
LEFT JOIN monitor_settings v ON v.agent_id = m.agent_id
WHERE m.agent_id = :agent_id AND m.enabled
"""
)


def _driver(sql: str) -> str:
    """``sql``'s named parameters as the driver takes them."""
    return (
        sql.replace(":agent_id", "%(agent_id)s")
        .replace(":fail_cut", "%(fail_cut)s")
        .replace(":cut", "%(cut)s")
    )


_PER_API_DRIVER = _driver(PER_API.text)
_STALENESS_DRIVER = _driver(STALENESS)

#: Agent id -> (``apis_version``, its enabled APIs' configuration) as this process last
#: read them (the first :data:`CONFIG_FIELDS` fields of each :class:`ApiState`).
_CONFIGS: dict[uuid.UUID, tuple[int, list[tuple[Any, ...]]]] = {}
#: Agents whose configuration a process keeps (more: it forgets them all and reads again).
MAX_CONFIGS = 256


def _per_api(
    session: Session, agent_id: uuid.UUID, version: int, cut: datetime, fail_cut: datetime
) -> tuple[list[ApiState], int | None]:
    """The enabled APIs with their staleness, on the driver's cursor in the session's
    transaction (prepared statements; 1,000 rows through SQLAlchemy's result cost ~1.5 ms
    more). With the configuration held at ``version``, only :data:`STALENESS` is read
    (its ~450 short rows instead of 1,000 of ten columns: ~5 ms less at 1,000 APIs);
    else :data:`PER_API`. Returns the rows and, when the configuration was read, its
    version (else None)."""
    params = {"agent_id": agent_id, "cut": cut, "fail_cut": fail_cut}
    conn: Any = session.connection().connection.driver_connection
    held = _CONFIGS.get(agent_id)
    with conn.cursor() as cursor:
        if held is not None and held[0] == version:
            cursor.execute(_STALENESS_DRIVER, params, prepare=True)
            seen = {url: (last, failures) for url, last, failures in cursor.fetchall()}
            make = ApiState._make
            return [make(c + seen.get(c[0], _NOT_SEEN)) for c in held[1]], None
        cursor.execute(_PER_API_DRIVER, params, prepare=True)
        rows = cursor.fetchall()
    read = rows[0][-1] if rows else version
    return [ApiState._make(r[:-1]) for r in rows], read


def _hold(agent_id: uuid.UUID, version: int, apis: list[ApiState]) -> None:
    """Keep the configuration of ``apis`` (read at ``version``, committed) for the next
    ticks: a change to the agent's ``monitored_apis`` bumps the version (migration 0018)."""
    if len(_CONFIGS) >= MAX_CONFIGS:
        _CONFIGS.clear()
    _CONFIGS[agent_id] = (version, [a[:CONFIG_FIELDS] for a in apis])


_ENSURE_SETTINGS = sa.text(
    "INSERT INTO monitor_settings (agent_id, daily_budget, burst_fraction, max_buys_per_tick) "
    "VALUES (:agent_id, :budget, :burst, :buys) ON CONFLICT (agent_id) DO NOTHING"
)


def _ensure(session: Session, agent_id: uuid.UUID, defaults: SettingsDefaults) -> None:
    """The settings row with ``defaults``, when absent (in the caller's transaction)."""
    session.execute(
        _ENSURE_SETTINGS,
        {"agent_id": agent_id, "budget": defaults[0], "burst": defaults[1], "buys": defaults[2]},
    )


def _configure(session: Session, agent_id: uuid.UUID, configured: Configured) -> None:
    """The ``configured`` APIs, those absent added (in the caller's transaction)."""
    session.execute(
        sa.text(
            "INSERT INTO monitored_apis (agent_id, url, weight, source) "
            "SELECT :agent_id, u, w, 'config' "
            "FROM unnest(CAST(:urls AS text[]), CAST(:weights AS numeric[])) AS c(u, w) "
            "ON CONFLICT ON CONSTRAINT uq_monitored_apis_agent_url DO NOTHING"
        ),
        {
            "agent_id": agent_id,
            "urls": [u for u, _ in configured],
            "weights": [w for _, w in configured],
        },
    )


#: procrastinate's jobs table, as far as the tick reads it.
_JOBS = sa.table(
    "procrastinate_jobs",
    sa.column("id", sa.BigInteger),
    sa.column("args", JSONB),
    schema="procrastinate",
)


def _situation_query() -> sa.Select[Any]:
    """Settings, policy, the latest balance, the sellers' breakers, whether the agent
    monitors anything, the longest TTL of its enabled APIs (``default_ttl`` where one
    has none), the spend windows (:func:`autopay_app.ledger.spend.windows`) and the
    paid fetches in flight of the agent named ``agent_name`` (URL -> job id,
    :func:`autopay_app.ledger.queue.in_flight`) and the version of its monitored APIs
    (``apis_version``), for the agent bound as ``agent_id`` (built once: a tick reuses
    it). No row: the agent has no settings (or no policy)."""
    s, p, w, b, m = MonitorSettings, SpendPolicy, WalletBalance, CircuitBreaker, MonitoredApi
    agent_id = sa.bindparam("agent_id", type_=s.agent_id.type)
    latest = (
        sa.select(w.balance_usdc, w.balance_cash, w.balance_sol, w.threshold, w.low_balance_event)
        .where(w.agent_id == agent_id)
        .order_by(w.last_checked.desc())
        .limit(1)
        .lateral("latest")
    )
    breakers = sa.select(sa.func.jsonb_object_agg(b.name, b.state)).where(b.name.like("seller:%"))
    has_apis = sa.exists().where(m.agent_id == agent_id)
    ttl = sa.func.coalesce(sa.func.nullif(m.ttl_seconds, 0), sa.bindparam("default_ttl"))
    longest = sa.select(sa.func.max(ttl)).where(m.agent_id == agent_id, m.enabled)
    spent = spend._spent(agent_id).lateral("spent")
    busy = (
        sa.select(sa.func.jsonb_object_agg(_JOBS.c.args["url"].astext, _JOBS.c.id))
        .select_from(_JOBS)
        .where(sa.text(queue._OPEN_OF_AGENT))
    )
    return (
        sa.select(
            *(s.daily_budget, s.burst_fraction, s.max_buys_per_tick, s.pacing_tokens, s.pacing_at),
            *(p.per_request_cap, p.hourly_cap, p.daily_cap, p.allowed_assets),
            latest,
            breakers.scalar_subquery().label("breakers"),
            has_apis.label("has_apis"),
            longest.scalar_subquery().label("longest_ttl"),
            spent.c.hour.label("spent_hour"),
            spent.c.day.label("spent_day"),
            busy.scalar_subquery().label("busy"),
            s.apis_version,
        )
        .join_from(s, p, p.agent_id == s.agent_id)
        .outerjoin(latest, sa.true())
        .join(spent, sa.true())
        .where(s.agent_id == agent_id)
    )


_SITUATION = _situation_query()


def _situation(
    session: Session, agent_id: uuid.UUID, default_ttl: int, agent_name: str | None
) -> Any:
    """The situation (:func:`_situation_query`) in one statement (None: no settings row)."""
    params = {
        "agent_id": agent_id,
        "default_ttl": default_ttl,
        "task": queue.PAID_FETCH_TASK,
        "agent": agent_name,
        "open": list(queue.OPEN),
    }
    return session.execute(_SITUATION, params).one_or_none()


def snapshot(
    session: Session,
    agent_id: uuid.UUID,
    now: datetime,
    *,
    stale_cap: float,
    default_ttl: int,
    failure_window_s: float = 3600.0,
    agent_name: str | None = None,
    defaults: SettingsDefaults | None = None,
    configured: Configured = (),
) -> Snapshot:
    """Read the prioritizer's inputs for ``agent_id`` in one transaction.

    Two statements: the situation (settings, policy, balance, breakers, spend windows
    and, with ``agent_name``, the agent's paid fetches queued or running:
    ``Snapshot.busy``; :func:`_situation_query`), then the per-API figures
    (:data:`PER_API`; only their :data:`STALENESS` when this process holds the agent's
    configuration at the situation's ``apis_version``: it keeps what it read once the
    transaction committed). The ``configured`` APIs are added first when absent; with
    ``defaults``, an agent without a settings row gets one (and the situation is read
    again), in the same transaction.

    Args:
        stale_cap, default_ttl: Staleness matters for ``stale_cap`` times the longest
            TTL (``default_ttl`` where a row has none).
        failure_window_s: Failures newer than this count against an API.
    """
    with session.begin():
        if configured:
            _configure(session, agent_id, configured)
        x = _situation(session, agent_id, default_ttl, agent_name)
        if x is None:
            if defaults is not None:
                _ensure(session, agent_id, defaults)
                x = _situation(session, agent_id, default_ttl, agent_name)
            if x is None:
                raise sa.exc.NoResultFound(f"agent {agent_id} has no monitor settings or policy")
        window = max(stale_cap * (x.longest_ttl or default_ttl), failure_window_s)
        fail_cut = now - timedelta(seconds=failure_window_s)
        cut = now - timedelta(seconds=window)
        apis, read = _per_api(session, agent_id, x.apis_version, cut, fail_cut)
    if read is not None:  # committed: the configuration at its version
        _hold(agent_id, read, apis)
    snap = Snapshot(
        apis=apis,
        daily_budget=x.daily_budget,
        burst_fraction=x.burst_fraction,
        max_buys_per_tick=x.max_buys_per_tick,
        pacing_tokens=x.pacing_tokens,
        pacing_at=x.pacing_at,
        per_request_cap=x.per_request_cap,
        hourly_cap=x.hourly_cap,
        daily_cap=x.daily_cap,
        allowed_assets=list(x.allowed_assets),
        spent_hour=Decimal(x.spent_hour),
        spent_day=Decimal(x.spent_day),
        breakers=dict(x.breakers or {}),
        has_apis=bool(x.has_apis),
        busy={str(url): int(job_id) for url, job_id in (x.busy or {}).items()},
    )
    if x.balance_usdc is not None:
        snap.balances = {"USDC": x.balance_usdc, "CASH": x.balance_cash, "SOL": x.balance_sol}
        snap.threshold, snap.paused = x.threshold, x.low_balance_event
    return snap


# ----------------------------------------------------------------- decisions
def record_tick(
    session: Session,
    agent_id: uuid.UUID,
    decisions: list[dict[str, Any]],
    *,
    tokens: Decimal,
    at: datetime,
    plan: dict[str, Any] | None,
    jobs: Sequence[queue.PaidFetchJob] = (),
    concurrency: int = 4,
    skips: Sequence[decisions_log.Skip] = (),
) -> dict[str, int]:
    """In one transaction (one statement, :func:`autopay_app.ledger.decisions.record`):
    defer the BUYs' paid-fetch ``jobs``, write one AGENT_DECISION event per BUY (it names
    its job; the dicts become the events' details) and one holding the tick's SKIPs (the
    SKIP dicts among ``decisions`` and ``skips``), the pacing state and the tick time.

    Returns request id -> job id of the jobs deferred; a BUY whose (agent, API) already
    had a queued job is recorded SKIPPED instead (its queueing lock refused it: the
    statement fails, and the tick is written again one job at a time).
    """
    tick = decisions_log.Tick(decisions, tokens, at, plan, jobs, concurrency, skips)
    try:
        with session.begin():
            return decisions_log.record(session, agent_id, tick)
    except sa.exc.IntegrityError:  # a queueing lock is taken: one job at a time
        with session.begin():
            return decisions_log.record_one_by_one(session, agent_id, tick)


def record_top_up(
    session: Session, agent_id: uuid.UUID, before: dict[str, str], after: dict[str, str]
) -> None:
    """A LOW_BALANCE-family event (state TOP_UP): funds arrived in the wallet."""
    with session.begin():
        session.add(
            AuditEvent(
                agent_id=agent_id,
                event_type=AuditEventType.LOW_BALANCE,
                severity=Severity.INFO,
                details={"state": "TOP_UP", "before": before, "after": after},
            )
        )


def _decision_events(agent_id: uuid.UUID) -> sa.Select[Any]:
    """The agent's Phase 3 decision events (one per BUY, one per tick's SKIPs), newest first."""
    return (
        sa.select(AuditEvent.created_at, AuditEvent.details)
        .where(
            AuditEvent.agent_id == agent_id,
            AuditEvent.event_type == AuditEventType.AGENT_DECISION,
            AuditEvent.details["kind"].astext.in_(decisions_log.KINDS),
        )
        .order_by(AuditEvent.created_at.desc())
    )


def _expanded(at: datetime, details: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [{"at": at.isoformat(), **d} for d in decisions_log.expand(details)]


def decisions(
    session: Session, agent_id: uuid.UUID, limit: int = 20, since: datetime | None = None
) -> list[dict[str, Any]]:
    """The prioritizer's latest ``limit`` decisions for ``agent_id``, one per API decided,
    newest tick first (a tick's in its order: BUYs by rank, then SKIPs), each its event's
    details with ``at`` (ISO time): a tick event's SKIPs expanded
    (:func:`autopay_app.ledger.decisions.expand`)."""
    query = _decision_events(agent_id).limit(limit)
    if since is not None:
        query = query.where(AuditEvent.created_at >= since)
    with session.begin():
        events = session.execute(query).all()
    out: list[dict[str, Any]] = []
    for _, group in groupby(events, key=_tick_of):
        tick = [d for e in group for d in _expanded(e.created_at, e.details)]
        tick.sort(key=_tick_order)
        out += tick
        if len(out) >= limit:
            break
    return out[:limit]


def _tick_of(event: Any) -> Any:
    """The tick an event belongs to (``details.tick``; its time for an event without)."""
    return (event.details or {}).get("tick") or event.created_at


def _tick_order(d: dict[str, Any]) -> tuple[int, int]:
    """BUYs (ranked) first, then SKIPs in the tick's order (a sort that keeps it)."""
    rank = d.get("rank")
    return (0, rank) if d.get("decision") != "SKIPPED" and isinstance(rank, int) else (1, 0)


#: Decision events read back at most to find each API's latest decision, and per page.
LATEST_EVENTS, LATEST_PAGE = 60, 6


def latest_decisions(
    session: Session, agent_id: uuid.UUID, urls: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Each of ``urls``'s latest Phase 3 decision (with ``at``): the newest events read
    back, a page at a time, until every URL is found (at most :data:`LATEST_EVENTS`
    events; an API not decided in them has none). A tick event is looked up, not
    expanded (:func:`autopay_app.ledger.decisions.pick`)."""
    missing: set[str] = set(urls)
    found: dict[str, dict[str, Any]] = {}
    before, scanned = None, 0
    with session.begin():
        while missing and scanned < LATEST_EVENTS:
            query = _decision_events(agent_id).limit(LATEST_PAGE)
            if before is not None:
                query = query.where(AuditEvent.created_at < before)
            page = session.execute(query).all()
            for e in page:
                for url, d in decisions_log.pick(e.details, missing).items():
                    found[url] = {"at": e.created_at.isoformat(), **d}
                missing -= found.keys()
            scanned += len(page)
            if len(page) < LATEST_PAGE:
                break
            before = page[-1].created_at
    return found


def settings_row(session: Session, agent_id: uuid.UUID) -> MonitorSettings | None:
    """The agent's Phase 3 settings row (None before it has one)."""
    with session.begin():
        return session.scalar(
            sa.select(MonitorSettings).where(MonitorSettings.agent_id == agent_id)
        )


def access_stats(
    session: Session, agent_id: uuid.UUID, since: datetime, failures_since: datetime
) -> dict[str, tuple[datetime | None, int]]:
    """Per URL: the last ACCESSED time since ``since`` and the failures since ``failures_since``."""
    with session.begin():
        return _stats(session, stats_query(agent_id, since, failures_since))
