"""The autonomous agent: x402 pay-and-fetch with policy, balance guard, retries,
circuit breakers, crash-safe (write-ahead) payments and reconciliation.

How one paid request flows
--------------------------
:meth:`Agent.fetch <autopay_app.agent.core.Agent.fetch>` calls
:func:`pipeline.run <autopay_app.agent.pipeline.run>` with the agent's
:class:`~autopay_app.agent.context.AgentContext`; each step is a function of the
context and the previous step's result (:mod:`autopay_app.agent.steps`, over the
typed results of :mod:`autopay_app.agent.states`):

1. ``steps.open_request``: the request row, PENDING.
2. ``steps.ask``: GET the resource; a 402 is parsed (the blockhash is read
   meanwhile); a free answer is recorded and ends the request.
3. ``steps.decide``: the policy chooses an offer, the balance guard checks it.
   (Phase 2 stops here: ``approval.hold``; ``pipeline.resume`` continues from
   ``approval.approved_decision``.)
4. ``steps.reserve_sign_write_ahead``: signed with the agent's key; one
   statement under the spend lock writes the payment SIGNED with its bytes and
   the request PAID, in one durable commit: nothing is sent before it returns.
5. ``steps.deliver``: the signed bytes sent (retries resend them); a refusal
   diagnosed from the chain; the data and the receipt written (CONFIRMED,
   ACCESSED; a durable commit), then the transfer's read from the chain started; the
   balance row refreshed in the background.
6. ``steps.verify``: the data returned; VERIFIED (a mismatch FAILED) written
   right after, on the agent's I/O pool (``FetchResult.wait_verified``,
   ``Agent.wait_verified``; closing the agent drains it; after a crash,
   reconciliation verifies the CONFIRMED payment from the chain).

Any failure becomes the ledger's record in one place,
``pipeline.record_failure`` (after a payment is written, its fate is settled
from the chain by :mod:`~autopay_app.agent.settle`, never by paying again).

Modules: ``core`` (the :class:`Agent` facade), ``context`` (the agent's data and
handles), ``steps``, ``states`` and ``pipeline`` (above), ``approval`` (Phase 2:
hold, approve, decline), ``settle`` (verification and reconciliation from the
chain), ``diagnosis`` (why a seller refused a payment, from the chain),
``io`` (guarded calls: sellers, RPC, facilitator; retries), ``breaker``
(circuit breakers), ``guard`` (balances), ``policy`` (choosing an offer),
``gateway`` (the only module importing the x402 SDK), ``chain`` (RPC reads),
``http`` (seller calls), ``retry`` (tenacity), ``verify`` (the transfer against
what was signed), ``catalog`` (listed prices), ``wallet`` (the keypair),
``result`` (:class:`FetchResult`), ``runtime`` (the Flask app's agents),
``crash`` (crash points for tests), ``errors`` (classified).
The agent writes only through :mod:`autopay_app.ledger`.
"""

from autopay_app.agent.core import Agent
from autopay_app.agent.result import FetchResult

__all__ = ["Agent", "FetchResult"]
