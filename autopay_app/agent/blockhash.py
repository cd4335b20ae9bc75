"""The recent blockhash a payment is signed with: read once, reused while surely valid.

Every payment names a recent blockhash, which stays valid for 150 blocks (about
a minute on Devnet). Reading one for every payment costs an RPC round trip and
the node's work on the paid request, so the agent reuses the one it read while

* at most :data:`REUSE_SLOTS` slots have passed since it was read, as far as
  the agent has seen the chain: every RPC answer names its slot
  (:attr:`~autopay_app.agent.chain.Chain.seen_slot`), and the agent reads the
  chain on every payment (its verification) — slots count skipped ones too, so
  they overestimate the blocks gone, on the safe side; and
* it is at most :data:`MAX_AGE_S` old: slots the agent has not seen pass while it
  is idle (a second is 2.5 slots on Devnet, 50 on the fastest clock the tests
  give the harness).

That leaves a payment about 100 of its 150 blocks to land, retries included.
A refused payment drops the blockhash (it may be the cause).

The x402 SDK makes each transaction unique with a random memo, unless the seller
asks for its own (``extra.memo``): two payments with that memo, the same amount
and recipient and one blockhash would be one transaction, so such an offer is
signed with a blockhash read for it.
"""

from __future__ import annotations

import time
from concurrent.futures import Future

from autopay_app.agent import io
from autopay_app.agent.context import AgentContext
from autopay_app.agent.gateway import Offer

#: Slots (seen) after its read within which a blockhash is reused.
REUSE_SLOTS = 40
#: Seconds after its read within which a blockhash is reused.
MAX_AGE_S = 1.0


def prefetch(ctx: AgentContext) -> Future[tuple[str, int]]:
    """The blockhash for a payment that may follow: the recent one, or a read started
    on the agent's I/O pool."""
    recent = reusable(ctx)
    if recent is not None:
        done: Future[tuple[str, int]] = Future()
        done.set_result(recent)
        return done
    return io.in_background(ctx, lambda: read(ctx))


def for_offer(
    ctx: AgentContext, offer: Offer, prefetched: Future[tuple[str, int]] | None
) -> tuple[str, int]:
    """The blockhash to sign ``offer`` with (and its last valid block height)."""
    if offer.extra.get("memo"):
        return read(ctx)  # the seller's memo: only the blockhash tells transactions apart
    if prefetched is not None:
        return prefetched.result()
    return reusable(ctx) or read(ctx)


def read(ctx: AgentContext) -> tuple[str, int]:
    """Read the latest blockhash from the chain; it becomes the one reused."""
    blockhash, last_valid, slot = io.rpc(ctx, lambda c: c.latest_blockhash_at())
    recent = ctx.blockhash
    with recent.lock:
        if slot >= recent.slot:
            recent.value, recent.slot, recent.read_at = (
                (blockhash, last_valid),
                slot,
                time.monotonic(),
            )
    return blockhash, last_valid


def reusable(ctx: AgentContext) -> tuple[str, int] | None:
    """The blockhash read last, if it is still surely valid (see the module)."""
    recent = ctx.blockhash
    with recent.lock:
        if recent.value is None or time.monotonic() - recent.read_at > MAX_AGE_S:
            return None
        if ctx.chain.seen_slot - recent.slot >= REUSE_SLOTS:
            return None
        return recent.value


def forget(ctx: AgentContext) -> None:
    """Read a new blockhash for the next payment."""
    with ctx.blockhash.lock:
        ctx.blockhash.value = None
