"""Slots, block heights and blockhashes.

The clock is lazy: nothing ticks in the background. With ``slot_ms > 0`` the current
slot is computed from the monotonic clock; with ``slot_ms == 0`` ("as fast as
possible") the slot advances by one each time the network is asked to ``tick`` (once
per RPC call), so a client polling for confirmation sees progress immediately.
Block height equals slot (no skipped slots).

Each slot has its own blockhash, derived from a per-chain nonce and the slot number.
A blockhash is valid for ``BLOCKHASH_VALID_SLOTS`` slots after the slot it belongs to,
as on a real cluster; only blockhashes the network has handed out (or that it derives
for a slot it has reached) are recognised.
"""

from __future__ import annotations

import hashlib
import threading
import time

from solders.hash import Hash

BLOCKHASH_VALID_SLOTS = 150
SLOTS_PER_EPOCH = 432_000


class SlotClock:
    """The network's slot counter and blockhash registry.

    Args:
        slot_ms: Milliseconds per slot; 0 advances one slot per ``tick()``.
        start_slot: The slot to start at (restored state continues from it).
        nonce: Per-chain bytes mixed into every blockhash.
        genesis_time: Unix time of slot 0, for block times.
    """

    def __init__(self, slot_ms: int, start_slot: int, nonce: bytes, genesis_time: float) -> None:
        self.slot_ms = slot_ms
        self.nonce = nonce
        self.genesis_time = genesis_time
        self._base_slot = start_slot
        self._t0 = time.monotonic()
        self._lock = threading.Lock()
        self._issued: dict[str, int] = {}

    def slot(self) -> int:
        """Return the current slot."""
        if self.slot_ms <= 0:
            return self._base_slot
        elapsed_ms = (time.monotonic() - self._t0) * 1000.0
        return self._base_slot + int(elapsed_ms // self.slot_ms)

    def tick(self) -> None:
        """Advance one slot when the clock is request-driven (``slot_ms == 0``)."""
        if self.slot_ms <= 0:
            with self._lock:
                self._base_slot += 1

    def advance(self, slots: int) -> int:
        """Warp forward by ``slots`` slots; return the new slot."""
        with self._lock:
            self._base_slot += max(0, slots)
        return self.slot()

    def block_time(self, slot: int) -> int:
        """Unix time of ``slot`` (400 ms per slot when the clock is request-driven)."""
        per_slot = (self.slot_ms or 400) / 1000.0
        return int(self.genesis_time + slot * per_slot)

    def blockhash_for(self, slot: int) -> str:
        """Derive the blockhash of ``slot`` and remember it as issued."""
        digest = hashlib.sha256(self.nonce + slot.to_bytes(8, "little")).digest()
        text = str(Hash(digest))
        if text not in self._issued:
            with self._lock:
                self._issued[text] = slot
                if len(self._issued) > 4 * BLOCKHASH_VALID_SLOTS:
                    self._prune(slot)
        return text

    def latest_blockhash(self) -> tuple[str, int, int]:
        """Return (blockhash, last valid block height, context slot)."""
        slot = self.slot()
        return self.blockhash_for(slot), slot + BLOCKHASH_VALID_SLOTS, slot

    def blockhash_slot(self, blockhash: str) -> int | None:
        """Return the slot a blockhash belongs to, or None if it was never issued."""
        return self._issued.get(blockhash)

    def is_blockhash_valid(self, blockhash: str) -> bool:
        """Tell whether a transaction using ``blockhash`` may still land."""
        issued = self._issued.get(blockhash)
        return issued is not None and self.slot() <= issued + BLOCKHASH_VALID_SLOTS

    def _prune(self, slot: int) -> None:
        horizon = slot - 2 * BLOCKHASH_VALID_SLOTS
        for key in [k for k, s in self._issued.items() if s < horizon]:
            del self._issued[key]

    def issued(self) -> dict[str, int]:
        """Return a copy of the issued blockhashes (for saving state)."""
        return dict(self._issued)

    def restore_issued(self, issued: dict[str, int]) -> None:
        """Restore issued blockhashes from saved state."""
        self._issued.update(issued)
