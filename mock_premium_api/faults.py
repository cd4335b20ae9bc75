"""Fault knobs for demos and tests, changeable at run time.

``POST /_mock/faults`` with any of ``price_multiplier``, ``error_rate_after_settle``,
``delay_ms`` and ``seed`` sets them (unnamed knobs keep their value),
``DELETE`` resets them, ``GET`` shows them. ``MOCK_API_FAULTS`` (the same JSON)
sets them at start. The error draw uses its own seeded
generator so a test that sets ``seed`` gets a repeatable sequence.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Blueprint, current_app, jsonify, request

MAX_DELAY_MS = 60_000


@dataclass(frozen=True)
class Faults:
    """Current fault settings.

    Attributes:
        price_multiplier: Every price is multiplied by this (e.g. 1.5).
        error_rate_after_settle: Probability that a paid request fails with 5xx
            after its payment settled (the buyer keeps the receipt).
        delay_ms: Extra latency added to every paid data response.
        seed: Seed of the error draw.
    """

    price_multiplier: Decimal = Decimal(1)
    error_rate_after_settle: float = 0.0
    delay_ms: int = 0
    seed: int = 1

    def as_json(self) -> dict[str, Any]:
        """JSON view (the multiplier as a number)."""
        data = asdict(self)
        data["price_multiplier"] = float(self.price_multiplier)
        return data


class FaultState:
    """Thread-safe holder of the current :class:`Faults`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults = Faults()
        self._rng = random.Random(self._faults.seed)

    @property
    def current(self) -> Faults:
        """The settings in force."""
        return self._faults

    def update(self, changes: dict[str, Any]) -> Faults:
        """Apply validated changes.

        Raises:
            ValueError: An unknown knob or a value out of range.
        """
        parsed = validate_faults(changes)
        with self._lock:
            self._faults = Faults(**{**asdict(self._faults), **parsed})
            if "seed" in parsed:
                self._rng = random.Random(self._faults.seed)
            return self._faults

    def reset(self) -> Faults:
        """Back to no faults."""
        with self._lock:
            self._faults = Faults()
            self._rng = random.Random(self._faults.seed)
            return self._faults

    def should_fail_after_settle(self) -> bool:
        """Draw whether this settled request fails."""
        rate = self._faults.error_rate_after_settle
        if rate <= 0:
            return False
        with self._lock:
            return self._rng.random() < rate


def validate_faults(changes: dict[str, Any]) -> dict[str, Any]:
    """Check fault knobs and convert them to their types.

    Raises:
        ValueError: An unknown knob or a value out of range.
    """
    known = {"price_multiplier", "error_rate_after_settle", "delay_ms", "seed"}
    unknown = set(changes) - known
    if unknown:
        raise ValueError(f"unknown fault knob(s): {sorted(unknown)}")
    out: dict[str, Any] = {}
    if "price_multiplier" in changes:
        try:
            value = Decimal(str(changes["price_multiplier"]))
        except InvalidOperation:
            raise ValueError("price_multiplier must be a number") from None
        if not value.is_finite() or value <= 0 or value > 1000:
            raise ValueError("price_multiplier must be in (0, 1000]")
        out["price_multiplier"] = value
    if "error_rate_after_settle" in changes:
        rate = float(changes["error_rate_after_settle"])
        if not 0.0 <= rate <= 1.0:
            raise ValueError("error_rate_after_settle must be in [0, 1]")
        out["error_rate_after_settle"] = rate
    if "delay_ms" in changes:
        delay = int(changes["delay_ms"])
        if not 0 <= delay <= MAX_DELAY_MS:
            raise ValueError(f"delay_ms must be in [0, {MAX_DELAY_MS}]")
        out["delay_ms"] = delay
    if "seed" in changes:
        out["seed"] = int(changes["seed"])
    return out


bp = Blueprint("faults", __name__, url_prefix="/_mock")


def _state() -> FaultState:
    return current_app.extensions["mock_api"].faults


@bp.get("/faults")
def get_faults() -> Any:
    """Show the fault settings."""
    return jsonify(_state().current.as_json())


@bp.post("/faults")
def set_faults() -> Any:
    """Change fault settings from a JSON object."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(error="expected a JSON object"), 400
    try:
        faults = _state().update(body)
    except (ValueError, TypeError) as error:
        return jsonify(error=str(error)), 400
    return jsonify(faults.as_json())


@bp.delete("/faults")
def clear_faults() -> Any:
    """Reset every fault."""
    return jsonify(_state().reset().as_json())
