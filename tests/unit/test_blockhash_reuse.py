"""When the agent reuses the blockhash it read last, and when it reads a new one."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from autopay_app.agent import blockhash, io
from autopay_app.agent.context import RecentBlockhash
from autopay_app.agent.gateway import Offer


class FakeChain:
    """Answers getLatestBlockhash with a new blockhash per read, at ``slot``."""

    def __init__(self) -> None:
        self.slot = 1000
        self.seen_slot = 0
        self.reads = 0

    def latest_blockhash_at(self) -> tuple[str, int, int]:
        self.reads += 1
        self.seen_slot = max(self.seen_slot, self.slot)
        return f"hash-{self.reads}", self.slot + 150, self.slot


@pytest.fixture()
def ctx(monkeypatch: pytest.MonkeyPatch) -> Any:
    chain = FakeChain()
    monkeypatch.setattr(io, "rpc", lambda ctx, read: read(ctx.chain))
    return SimpleNamespace(chain=chain, blockhash=RecentBlockhash())


def offer(**extra: Any) -> Offer:
    return Offer(0, "exact", "solana:devnet", "mint", 10_000, "payee", 60, extra)


def test_the_blockhash_is_reused_within_its_slots_then_read_again(ctx: Any) -> None:
    first = blockhash.for_offer(ctx, offer(), None)
    assert first == ("hash-1", 1150)
    ctx.chain.seen_slot = 1000 + blockhash.REUSE_SLOTS - 1  # a verification named this slot
    assert blockhash.for_offer(ctx, offer(), None) == first
    assert blockhash.prefetch(ctx).result() == first
    ctx.chain.seen_slot = 1000 + blockhash.REUSE_SLOTS  # no longer surely valid long enough
    ctx.chain.slot = 1000 + blockhash.REUSE_SLOTS
    assert blockhash.for_offer(ctx, offer(), None) == ("hash-2", 1190)
    assert ctx.chain.reads == 2


def test_an_old_blockhash_is_read_again(ctx: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(blockhash.time, "monotonic", lambda: clock[0])
    assert blockhash.for_offer(ctx, offer(), None)[0] == "hash-1"
    clock[0] += blockhash.MAX_AGE_S - 0.1
    assert blockhash.for_offer(ctx, offer(), None)[0] == "hash-1"
    clock[0] += 0.2  # slots the agent has not seen may have passed
    assert blockhash.for_offer(ctx, offer(), None)[0] == "hash-2"


def test_a_refusal_forgets_it_and_a_seller_memo_always_reads_a_new_one(ctx: Any) -> None:
    assert blockhash.for_offer(ctx, offer(), None)[0] == "hash-1"
    blockhash.forget(ctx)
    assert blockhash.for_offer(ctx, offer(), None)[0] == "hash-2"
    # With the seller's memo only the blockhash tells two payments' transactions apart.
    assert blockhash.for_offer(ctx, offer(memo="order-7"), None)[0] == "hash-3"
    assert blockhash.for_offer(ctx, offer(memo="order-7"), None)[0] == "hash-4"


def test_an_older_read_finishing_last_does_not_replace_a_newer_one(ctx: Any) -> None:
    ctx.chain.slot = 2000
    assert blockhash.read(ctx) == ("hash-1", 2150)
    ctx.chain.slot = 1990  # a read that started earlier, answered later
    blockhash.read(ctx)
    assert blockhash.reusable(ctx) == ("hash-1", 2150)
