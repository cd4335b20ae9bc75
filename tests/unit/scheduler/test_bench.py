"""The prioritizer benchmark runs end to end on a small ledger and reports what it timed."""

from __future__ import annotations

import gc

import sqlalchemy as sa

from autopay_app.devtools.bench import prioritizer as bench


def test_bench_times_the_decision_and_the_whole_tick(database_url: str, capsys) -> None:
    engine = sa.create_engine(database_url)
    baseline = sa.create_engine(database_url, connect_args={"options": bench.NO_INDEX})
    try:
        agent_id = bench.setup(engine)
        filled: list[int] = []
        bench.fill_requests(engine, 3000, filled.append)
        figures = bench.measure(database_url, engine, baseline, agent_id, rounds=20)
        with engine.connect() as conn:
            events, bought, with_job = conn.execute(
                sa.text(
                    "SELECT count(*), count(*) FILTER (WHERE details->>'decision' = 'BOUGHT'), "
                    "count(*) FILTER (WHERE details->>'decision' = 'BOUGHT' AND details ? 'job_id')"
                    " FROM audit_events WHERE event_type = 'AGENT_DECISION'"
                )
            ).one()
            jobs = conn.scalar(sa.text("SELECT count(*) FROM procrastinate.procrastinate_jobs"))
    finally:
        gc.unfreeze()
        gc.collect()
        engine.dispose()
        baseline.dispose()
    assert sum(filled) == 3000
    assert [f.apis for f in figures] == list(bench.SIZES)
    for f in figures:
        assert 0 < f.p50_ms <= f.p95_ms and f.unfrozen_p95_ms > 0 and f.baseline_p50_ms > 0
        assert 0 < f.tick_p50_ms <= f.tick_p95_ms and 0 < f.floor_p50_ms <= f.floor_p95_ms
        assert f.bought == 5  # max buys per tick in the bench settings
    # per size: the floor's template tick, then 2 x (1 warm-up + 10) whole ticks and as many
    # floor writes of the same rows; one event per BUY and one for the SKIPs of each; the
    # jobs dropped after
    assert events == (1 + 2 * 11 * 2) * (5 + 1) * len(bench.SIZES) and jobs == 0
    assert bought == 5 * (1 + 2 * 11 * 2) * len(bench.SIZES) and with_job == bought
    bench.report(figures, 3000)
    out = capsys.readouterr().out
    assert "tick = the whole Phase 3 tick" in out and "tick/floor" in out
    assert "whole tick under 50 ms p95 at 1,000 APIs" in out
    assert "Index Scan" in out or "Bitmap" in out
