"""Mock premium API: Market Data and Knowledge Data sold over real x402.

Design overview
---------------
A Flask app (``create_app``) serving four paid JSON endpoints and a free
catalog. Requests to a paid endpoint pass three layers, outermost first::

    SecurityHeaders (headers.py)   CSP, nosniff, no framing, no referrer
    PaymentGate (gate.py)          header limits, 503 on facilitator trouble,
                                   malformed-header reasons, v1 <-> v2,
                                   replay ledger, idempotent retries, faults
    SDK PaymentMiddleware          x402 v2: 402 + PAYMENT-REQUIRED, paywall,
      (x402_setup.py)              verify (after the strict-check hook; for a
                                   good payment inside the facilitator's
                                   /settle: one round trip), handler, settle,
                                   PAYMENT-RESPONSE
    Flask views (views.py)         seeded market / knowledge data

Modules: ``config`` (env -> typed config), ``catalog`` (the endpoint list and
the Bazaar-style listing), ``market`` and ``knowledge`` (data generators),
``strict`` (exact-amount, mint, recipient checks on the signed transaction),
``ledger`` (replay and idempotency state), ``faults`` (run-time knobs),
``openapi`` (its OpenAPI document), ``headers`` (security headers),
``x402_setup`` (the only importer of the x402 SDK), ``server``/``cli``
(threaded WSGI serving, READY line), ``testing`` (run it as a subprocess),
``bench`` (throughput and latency through the real payment path).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from .config import MockApiConfig, load_config
from .faults import FaultState
from .faults import bp as faults_bp
from .gate import PaymentGate
from .headers import SecurityHeaders
from .ledger import PaymentLedger
from .market import MarketModel
from .openapi import bp as openapi_bp
from .views import MockApiState
from .views import bp as views_bp
from .x402_setup import Seller

__all__ = ["create_app", "MockApiConfig"]


def create_app(config: Mapping[str, Any] | MockApiConfig | None = None) -> Flask:
    """Create the mock premium API.

    Args:
        config: A ready :class:`MockApiConfig`, or overrides of the settings
            read from the environment (field names, e.g. ``{"seed": 7}``).

    Returns:
        The Flask app; the facilitator is contacted lazily, on the first
        paid request or catalog read.
    """
    cfg = config if isinstance(config, MockApiConfig) else load_config(config)
    app = Flask(__name__)
    app.json = BoundedJSON(app)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    faults = FaultState()
    faults.update(cfg.faults)
    seller = Seller(cfg, faults)
    ledger = PaymentLedger()
    app.extensions["mock_api"] = MockApiState(cfg, faults, seller, ledger, MarketModel(cfg.seed))
    app.register_blueprint(views_bp)
    app.register_blueprint(faults_bp)
    app.register_blueprint(openapi_bp)
    data_app = app.wsgi_app
    seller.install(app)
    gate = PaymentGate(app.wsgi_app, data_app, seller, ledger, faults.should_fail_after_settle)
    app.wsgi_app = SecurityHeaders(gate)  # type: ignore[method-assign]
    return app


class BoundedJSON(DefaultJSONProvider):
    """Flask's JSON; a body nested past the recursion limit is bad JSON (400), not a 500."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
