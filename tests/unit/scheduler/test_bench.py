"""The prioritizer benchmark runs end to end on a small ledger and reports what it timed."""

from __future__ import annotations

import gc

import sqlalchemy as sa

from autopay_app.devtools.bench import prioritizer as bench


def test_bench_times_the_decision_and_the_writes_separately(database_url: str, capsys) -> None:
    engine = sa.create_engine(database_url)
    baseline = sa.create_engine(database_url, connect_args={"options": bench.NO_INDEX})
    try:
        agent_id = bench.setup(engine)
        filled: list[int] = []
        bench.fill_requests(engine, 3000, filled.append)
        figures = bench.measure(engine, baseline, agent_id, rounds=20)
        with engine.connect() as conn:
            events = conn.scalar(
                sa.text("SELECT count(*) FROM audit_events WHERE event_type = 'AGENT_DECISION'")
            )
    finally:
        gc.unfreeze()
        gc.collect()
        engine.dispose()
        baseline.dispose()
    assert sum(filled) == 3000
    assert [f.apis for f in figures] == list(bench.SIZES)
    for f in figures:
        assert 0 < f.p50_ms <= f.p95_ms and f.unfrozen_p95_ms > 0 and f.baseline_p50_ms > 0
        assert f.tick_p50_ms > 0 and f.bought == 5  # max buys per tick in the bench settings
    # the +writes rounds (1 warm-up + 20 per size) wrote one event per enabled API
    assert events == 21 * sum(bench.SIZES)
    bench.report(figures, 3000)
    out = capsys.readouterr().out
    assert "audit-event writes are OUTSIDE it" in out and "+writes" in out
    assert "Index Scan" in out or "Bitmap" in out
