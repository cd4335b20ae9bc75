"""Crash points for tests: ``AUTOPAY_CRASH_AT=after_sign`` makes the process exit hard there.

Named points of the payment flow: after_reserve, after_sign, after_write_ahead,
after_send, after_200, before_verify, after_verify (the last two on the
agent's I/O pool, after the data is returned). ``os._exit`` skips every cleanup, exactly
like SIGKILL, so a test can restart the agent and check that reconciliation
leaves one transfer or none and one terminal payment row.
"""

from __future__ import annotations

import os

POINTS = (
    "after_reserve",
    "after_sign",
    "after_write_ahead",
    "after_send",
    "after_200",
    "before_verify",
    "after_verify",
)
EXIT_CODE = 86


def point(name: str) -> None:
    if os.environ.get("AUTOPAY_CRASH_AT") == name:
        os._exit(EXIT_CODE)
