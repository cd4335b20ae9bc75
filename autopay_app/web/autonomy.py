"""Phase 3 editing: the web side of :mod:`autopay_app.ledger.monitoring`.

The ``/autonomy`` page and ``/api/v1/monitored-apis`` both parse what they are
sent here (a monitored URL, a weight, the budget settings) into the ledger's
types, raising :class:`~autopay_app.web.params.BadParameter` (400) naming the
field, and then call the ledger's own functions (``upsert_api``,
``remove_api``, ``ensure_settings`` + ``update_settings``). Rows added here
carry the source ``dashboard``.

The tick interval is a per-agent setting too (``tick_seconds``): a number of
seconds, or blank / ``null`` for the scheduler's ``AUTOPAY_TICK_S``. The
scheduler's job sees a changed interval within ``AUTOPAY_TICK_S``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from werkzeug.exceptions import NotFound

from autopay_app.ledger import dashboard as ledger
from autopay_app.ledger import monitoring
from autopay_app.models import Agent
from autopay_app.web import phase3_panel
from autopay_app.web.context import ledger_session
from autopay_app.web.params import BadParameter

SOURCE = "dashboard"
MAX_URL = 2048
MAX_WEIGHT = Decimal("10000")
MAX_BUDGET = Decimal("1000000")
MAX_BUYS = 10_000
SETTINGS_FIELDS = ("daily_budget", "burst_fraction", "max_buys_per_tick", "tick_seconds")
#: (field, lowest, highest, decimal places) of the budget settings.
SETTINGS = (
    ("daily_budget", Decimal(0), MAX_BUDGET, 9),
    ("burst_fraction", Decimal("0.0001"), Decimal(1), 4),
)


def require_agent(agent_id: uuid.UUID) -> Agent:
    """The agent, or a 404 naming it."""
    agent = ledger.get_agent(ledger_session(), agent_id)
    if agent is None:
        raise NotFound(f"no agent {agent_id}")
    return agent


def parse_url(raw: Any) -> str:
    """An absolute http(s) URL of at most :data:`MAX_URL` characters."""
    if not isinstance(raw, str) or not raw.strip():
        raise BadParameter("url", "required: an http(s) URL")
    url = raw.strip()
    if len(url) > MAX_URL:
        raise BadParameter("url", f"longer than {MAX_URL} characters")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise BadParameter("url", f"contains spaces or control characters: {url[:80]!r}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError as exc:
        raise BadParameter("url", f"not a valid URL ({exc}): {url[:80]!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadParameter("url", f"not an http(s) URL: {url[:80]!r}")
    return url


def _decimal(raw: Any, name: str, low: Decimal, high: Decimal, places: int) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float | Decimal):
        raise BadParameter(name, "required: a number")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise BadParameter(name, f"not a number: {str(raw)[:40]!r}") from None
    if not value.is_finite() or not low <= value <= high:
        raise BadParameter(name, f"must be between {low} and {high}, got {raw}")
    if value != value.quantize(Decimal(1).scaleb(-places)):
        raise BadParameter(name, f"at most {places} decimal places")
    return value


def parse_weight(raw: Any) -> Decimal | None:
    """A weight above 0 and at most :data:`MAX_WEIGHT` (None when not given)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    weight = _decimal(raw, "weight", Decimal(0), MAX_WEIGHT, 4)
    if weight == 0:
        raise BadParameter("weight", "must be above 0")
    return weight


def parse_tick(raw: Any) -> Decimal | None:
    """Seconds between the agent's ticks; None (blank, ``null``, ``default``): AUTOPAY_TICK_S."""
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("", "default")):
        return None
    low, high = monitoring.TICK_BOUNDS
    return _decimal(raw, "tick_seconds", low, high, 3)


def _buys(raw: Any) -> int:
    try:
        buys = int(str(raw).strip()) if not isinstance(raw, bool) else None
    except ValueError:
        buys = None
    if buys is None or not 1 <= buys <= MAX_BUYS:
        raise BadParameter("max_buys_per_tick", f"a whole number from 1 to {MAX_BUYS}")
    return buys


def parse_settings(values: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """Budget settings and the tick interval, parsed and checked.

    The form sends daily budget, burst fraction and purchases per tick (all
    required) and ``tick_seconds`` (blank: the default). With ``partial`` (the
    JSON API) each field is optional, but at least one must be given; a field
    left out is left unchanged.
    """
    out: dict[str, Any] = {}
    for name, low, high, places in SETTINGS:
        if not partial or name in values:
            out[name] = _decimal(values.get(name), name, low, high, places)
    if not partial or "max_buys_per_tick" in values:
        out["max_buys_per_tick"] = _buys(values.get("max_buys_per_tick"))
    if "tick_seconds" in values:
        out["tick_seconds"] = parse_tick(values.get("tick_seconds"))
    if not out:
        raise BadParameter("body", f"give at least one of {', '.join(SETTINGS_FIELDS)}")
    return out


def add_api(agent_id: uuid.UUID, url: str, weight: Decimal | None) -> bool:
    """Monitor ``url`` (or change its weight); True when it was not monitored before."""
    session = ledger_session()
    known = {a.url for a in monitoring.list_apis(session, agent_id)}
    monitoring.upsert_api(session, agent_id, url, weight=weight, source=SOURCE)
    return url not in known


def remove_api(agent_id: uuid.UUID, url: str) -> bool:
    """Stop monitoring ``url``; False when it was not monitored."""
    return monitoring.remove_api(ledger_session(), agent_id, url)


def save_settings(agent_id: uuid.UUID, changes: dict[str, Any]) -> dict[str, Any]:
    """Write the agent's settings (its row is created with the defaults when absent).

    Returns:
        The agent's settings as the panel shows them.
    """
    cfg = scheduler_config()
    defaults: dict[str, Any] = {
        "daily_budget": getattr(cfg, "daily_budget", Decimal(5)),
        "burst_fraction": getattr(cfg, "pacing_burst", Decimal("0.05")),
        "max_buys_per_tick": getattr(cfg, "max_buys_per_tick", 5),
    }
    row = defaults | {k: v for k, v in changes.items() if k in defaults}
    session = ledger_session()
    monitoring.ensure_settings(
        session, agent_id, row["daily_budget"], row["burst_fraction"], row["max_buys_per_tick"]
    )
    monitoring.update_settings(session, agent_id, **changes)
    return settings_view(agent_id)


def settings_view(agent_id: uuid.UUID) -> dict[str, Any]:
    """The agent's settings with ``default_tick_seconds`` (AUTOPAY_TICK_S) beside its own."""
    settings = phase3_panel.settings_summary(ledger_session(), agent_id) or {}
    return {"agent_id": str(agent_id), **settings, "default_tick_seconds": default_tick_s()}


def default_tick_s() -> float | None:
    """The scheduler's AUTOPAY_TICK_S in this app (None without a scheduler)."""
    return getattr(scheduler_config(), "tick_s", None)


def panel(agent_id: uuid.UUID) -> dict[str, Any]:
    """The Phase 3 panel (:func:`autopay_app.web.phase3_panel.panel`) of one agent."""
    return phase3_panel.panel(ledger_session(), agent_id)


def scheduler_config() -> Any:
    """The scheduler's configuration in this app (tick interval, default budget), or None."""
    scheduler = current_app.extensions.get("autopay_scheduler")
    return getattr(scheduler, "cfg", None)
