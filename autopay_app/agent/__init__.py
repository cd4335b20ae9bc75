"""The autonomous agent: x402 pay-and-fetch with policy, balance guard, retries,
circuit breakers, crash-safe (write-ahead) payments and reconciliation.

Layout: ``core`` (the :class:`Agent` and its services), ``flow`` (one paid
request, step by step), ``gateway`` (the only module importing the x402 SDK),
``policy`` (choosing an offer), ``guard`` (balances), ``chain`` (RPC reads),
``http`` (seller calls), ``retry`` (tenacity), ``settle`` (verification and
reconciliation from the chain), ``interactive`` (Phase 2 approvals), ``wallet``
(the keypair), ``crash`` (crash points for tests), ``errors`` (classified).
The agent writes only through :mod:`autopay_app.ledger`.
"""

from autopay_app.agent.core import Agent
from autopay_app.agent.flow import FetchResult

__all__ = ["Agent", "FetchResult"]
