"""Benchmarks behind ``autopay bench``: each prints a table and a ratio against a
baseline measured in the same run, in a scratch database of its own.

``agent`` (the agent against the x402 SDK's bare client, the default), ``ledger``
(writes, and the audit queries at a million rows), ``dashboard`` (page times at
100,000 payments), ``prioritizer`` (a Phase 3 decision at 10 to 1,000 APIs).
Each ``run`` reports its progress through the ``progress`` it is given (the
CLI's :func:`autopay_app.cli.context.progress`).
"""

from __future__ import annotations

from collections.abc import Callable

from autopay_app.progress import Progress

#: Makes a progress line: ``progress(label, total=..., unit=...)``.
Bars = Callable[..., Progress]
