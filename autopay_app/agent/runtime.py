"""The agents a Flask app runs (one per keypair), built on first use and cached."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

from flask import current_app
from sqlalchemy.orm import Session

from autopay_app.agent import wallet
from autopay_app.agent.core import Agent
from autopay_app.agent.errors import PolicyDenied
from autopay_app.extensions import db
from autopay_app.ledger import agents

_lock = threading.Lock()


def _registry() -> dict[str, Agent]:
    return current_app.extensions.setdefault("autopay_agents", {})  # type: ignore[no-any-return]


def default_agent() -> Agent:
    """The app's own agent (the keypair of AUTOPAY_KEYPAIR)."""
    with _lock:
        registry = _registry()
        if "__default__" not in registry:
            agent = Agent(
                current_app.config["AUTOPAY_SETTINGS"],
                db.engine,
                **current_app.config.get("AUTOPAY_AGENT_OPTIONS", {}),
            )
            registry["__default__"] = registry[agent.name] = agent
        return registry["__default__"]


def agent_for(name: str | None) -> Agent:
    """The running agent called ``name`` (only agents whose keypair this app holds can pay)."""
    agent = default_agent()
    if name in (None, "", agent.name):
        return agent
    found = _registry().get(name or "")
    if found is None:
        raise PolicyDenied(f"agent {name!r} does not run in this process (no keypair here)")
    return found


def agent_for_request(request_id: uuid.UUID) -> Agent:
    """The running agent that made request ``request_id``."""
    with Session(db.engine) as session:
        name = agents.name_for_request(session, request_id)
    if name is None:
        raise PolicyDenied(f"no request {request_id}")
    return agent_for(name)


def load_keys(directory: Path | None) -> list[str]:
    """Serve the agents of ``directory`` too (each ``NAME.json`` keypair is agent NAME);
    returns the names of the agents this app runs."""
    default_agent()
    with _lock:
        registry = _registry()
        for path in sorted(directory.glob("*.json")) if directory else []:
            if path.stem in registry:
                continue
            registry[path.stem] = Agent(
                current_app.config["AUTOPAY_SETTINGS"],
                db.engine,
                name=path.stem,
                keypair=wallet.parse_keypair(path.read_text(encoding="utf-8"), str(path)),
                **current_app.config.get("AUTOPAY_AGENT_OPTIONS", {}),
            )
        return sorted(k for k in registry if k != "__default__")
