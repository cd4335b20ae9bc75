"""Scheduler wiring: configuration, refusals, leadership, job runs, the indexed read."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from autopay_app.errors import ConfigError
from autopay_app.extensions import db
from autopay_app.ledger import job_runs, monitoring
from autopay_app.scheduler import config, create_scheduler
from autopay_app.scheduler.core import Leadership, run_recorded
from autopay_app.web import phase3_panel
from tests.factories import make_agent


def test_config_defaults_and_errors_name_the_variable() -> None:
    cfg = config.load({})
    assert (cfg.monitor_interval_s, cfg.tick_s, cfg.daily_budget) == (30.0, 60.0, Decimal(5))
    assert cfg.jobs == config.JOBS
    parsed = config.load({"AUTOPAY_MONITORED_APIS": "http://a:1/x=2, http://a:1/y"})
    assert parsed.monitored == (("http://a:1/x", Decimal(2)), ("http://a:1/y", Decimal(1)))
    bad = {
        "AUTOPAY_TICK_S": "soon",
        "AUTOPAY_DAILY_BUDGET": "-1",
        "AUTOPAY_PACING_BURST": "2",
        "AUTOPAY_SCHEDULER_JOBS": "balances,coffee",
        "AUTOPAY_MONITORED_APIS": "ftp://x/y=1",
        "AUTOPAY_MAX_BUYS_PER_TICK": "0",
    }
    for name, value in bad.items():
        with pytest.raises(ConfigError, match=name):
            config.load({name: value})


def test_factory_made_scheduler_is_not_started_and_refuses_under_tests(app: Flask) -> None:
    scheduler = create_scheduler(app)
    assert not scheduler.running
    assert scheduler.refusal() == "the app is in testing mode"
    assert scheduler.start() is False and not scheduler.running
    app.testing, app.debug = False, True
    assert scheduler.refusal() == "debug mode outside the reloader's worker process"


def test_only_one_leadership_holds_the_lock(app: Flask) -> None:
    with app.app_context():
        first, second = Leadership(db.engine), Leadership(db.engine)
        try:
            assert first.try_acquire() is True
            assert second.try_acquire() is False
            assert first.try_acquire() is True  # still held, connection alive
            first.release()
            assert second.try_acquire() is True and second.held
        finally:
            first.release()
            second.release()


def test_job_runs_record_outcome_and_errors(app: Flask, session: Session) -> None:
    cfg = config.load({})
    outcome = run_recorded(app, "partitions", cfg)
    assert outcome is not None and outcome["created"] >= 0
    app.config["AUTOPAY_SETTINGS"] = None  # the retention job cannot read its settings
    assert run_recorded(app, "retention", cfg) is None
    runs = {r.job: r for r in job_runs.recent(session)}
    assert runs["partitions"].status == "OK" and runs["partitions"].finished_at is not None
    assert runs["retention"].status == "ERROR" and "AttributeError" in runs["retention"].error


def test_staleness_read_uses_the_agent_status_created_at_index(session: Session) -> None:
    with session.begin():
        agent = make_agent(session)
    session.execute(
        sa.text(
            "INSERT INTO api_requests (agent_id, endpoint, url, api_type, status, created_at) "
            "SELECT :a, '/x', 'http://s/' || (i % 50), 'MARKET_DATA', "
            "(ARRAY['ACCESSED','FAILED','PENDING'])[1 + i % 3]::request_status, "
            "now() - (i || ' minutes')::interval FROM generate_series(1, 20000) AS i"
        ),
        {"a": agent.id},
    )
    session.execute(sa.text("ANALYZE api_requests"))
    session.commit()
    now = datetime.now(UTC)
    query = monitoring.stats_query(agent.id, now - timedelta(hours=2), now - timedelta(hours=1))
    compiled = query.compile(session.get_bind(), compile_kwargs={"render_postcompile": True})
    params = {k: str(v) if isinstance(v, str) else v for k, v in compiled.params.items()}
    plan = "\n".join(
        r[0] for r in session.connection().exec_driver_sql(f"EXPLAIN {compiled}", params)
    )
    session.commit()
    assert "ix_api_requests_agent_id_status_created_at" in plan, plan
    stats = {u: (last, n) for u, last, n in session.execute(query)}
    session.commit()
    assert len(stats) == 50
    assert sum(n for _, n in stats.values()) == 20  # FAILED rows of the last hour (i % 3 == 1)


def test_monitored_apis_settings_and_panel(session: Session) -> None:
    with session.begin():
        agent = make_agent(session)
    s = monitoring.ensure_settings(session, agent.id, Decimal(2), Decimal("0.1"), 3)
    assert (s.daily_budget, s.max_buys_per_tick) == (Decimal(2), 3)
    assert monitoring.upsert_api(session, agent.id, "http://s/a", weight=Decimal(2), ttl_seconds=60)
    assert monitoring.upsert_api(session, agent.id, "http://s/b")
    monitoring.upsert_api(session, agent.id, "http://s/a", weight=Decimal(5), source="config")
    assert monitoring.update_settings(session, agent.id, daily_budget=Decimal(3)) == 1
    with pytest.raises(ValueError, match="not a monitor setting"):
        monitoring.update_settings(session, agent.id, hourly_cap=1)
    with session.begin():
        session.execute(
            sa.text(
                "INSERT INTO api_requests (agent_id, endpoint, url, api_type, status) "
                "VALUES (:a, '/a', 'http://s/a', 'MARKET_DATA', 'ACCESSED')"
            ),
            {"a": agent.id},
        )
    data = phase3_panel.panel(session, agent.id)
    apis = {a["url"]: a for a in data["apis"]}
    assert apis["http://s/a"]["weight"] == "5.0000" and apis["http://s/a"]["fresh"] is True
    assert apis["http://s/b"]["fresh"] is False and apis["http://s/b"]["last_access"] is None
    assert Decimal(data["settings"]["daily_budget"]) == 3
    assert monitoring.remove_api(session, agent.id, "http://s/b")
    assert not monitoring.remove_api(session, agent.id, "http://s/b")
    assert [m.url for m in monitoring.list_apis(session, agent.id)] == ["http://s/a"]
    assert monitoring.agent_id_for(session, agent.name) == (agent.id, agent.name)
    with pytest.raises(Exception, match="no such agent"):
        monitoring.agent_id_for(session, f"nobody-{uuid.uuid4()}")


def test_panel_partial_renders_apis_plan_and_decisions(session: Session) -> None:
    from pathlib import Path

    from jinja2 import Environment, FileSystemLoader, select_autoescape

    import autopay_app.web as package

    with session.begin():
        agent = make_agent(session)
    monitoring.ensure_settings(session, agent.id, Decimal(1), Decimal("0.05"), 5)
    monitoring.upsert_api(session, agent.id, "http://s/<a>", ttl_seconds=60)
    monitoring.record_tick(
        session,
        agent.id,
        [{"api": "http://s/<a>", "decision": "SKIPPED", "reason": "pacing: 0 in the bucket"}],
        tokens=Decimal(0),
        at=datetime.now(UTC),
        plan={"api": "http://s/<a>", "at": "2026-01-01T00:00:00+00:00", "reason": "waiting"},
    )
    env = Environment(
        loader=FileSystemLoader(Path(package.__file__).parent / "templates"),
        autoescape=select_autoescape(["html"]),
    )
    html = env.get_template("phase3_panel.html").render(panel=phase3_panel.panel(session, agent.id))
    assert "http://s/&lt;a&gt;" in html and "<a>" not in html
    assert "pacing: 0 in the bucket" in html and "2026-01-01T00:00:00+00:00" in html
    assert "SKIPPED: pacing: 0 in the bucket" in html  # the API's row: its latest decision


def test_tick_interval_column_claim_and_constraint(session: Session) -> None:
    with session.begin():
        agent = make_agent(session)
    monitoring.ensure_settings(session, agent.id, Decimal(1), Decimal("0.05"), 5)
    assert phase3_panel.settings_summary(session, agent.id)["tick_seconds"] is None
    assert monitoring.update_settings(session, agent.id, tick_seconds=Decimal("90.5")) == 1
    summary = phase3_panel.settings_summary(session, agent.id)
    assert summary["tick_seconds"] == "90.5" and summary["last_tick_at"] is None
    now = datetime.now(UTC)
    assert monitoring.claim_tick(session, agent.id, None, now) is True
    assert monitoring.claim_tick(session, agent.id, None, now) is False  # ticked since read
    later = now + timedelta(seconds=91)
    assert monitoring.claim_tick(session, agent.id, now, later) is True
    assert phase3_panel.settings_summary(session, agent.id)["last_tick_at"] == later.isoformat()
    monitoring.record_tick(
        session, agent.id, [], tokens=Decimal(0), at=later + timedelta(1), plan=None
    )
    assert (
        phase3_panel.panel(session, agent.id)["settings"]["last_tick_at"]
        == (later + timedelta(1)).isoformat()
    )
    monitoring.update_settings(session, agent.id, tick_seconds=None)
    assert phase3_panel.settings_summary(session, agent.id)["tick_seconds"] is None
    with pytest.raises(sa.exc.IntegrityError, match="tick_seconds_positive"):
        monitoring.update_settings(session, agent.id, tick_seconds=Decimal(0))


def test_pull_forward_moves_the_next_run_only_sooner(app: Flask) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.interval import IntervalTrigger

    scheduler = create_scheduler(app, config.load({}))
    scheduler._scheduler = BackgroundScheduler(timezone=UTC)
    scheduler._scheduler.start(paused=True)
    try:
        start = datetime.now(UTC)
        scheduler._scheduler.add_job(
            print,
            IntervalTrigger(seconds=60),
            id="prioritizer",
            next_run_time=start + timedelta(seconds=60),
        )
        assert scheduler.pull_forward("prioritizer", None) is None
        assert scheduler.pull_forward("nothing", start.isoformat()) is None
        later = (start + timedelta(seconds=120)).isoformat()
        assert scheduler.pull_forward("prioritizer", later) is None
        soon = start + timedelta(seconds=5)
        assert scheduler.pull_forward("prioritizer", soon.isoformat()) == soon
        assert scheduler._scheduler.get_job("prioritizer").next_run_time == soon
        past = scheduler.pull_forward("prioritizer", (start - timedelta(hours=1)).isoformat())
        assert past is not None and past >= start  # never in the past
    finally:
        scheduler._scheduler.shutdown(wait=False)
