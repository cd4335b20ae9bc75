"""``/autonomy`` and ``/api/v1/monitored-apis``: the Phase 3 panel and its editing."""

from __future__ import annotations

import types
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from autopay_app.extensions import db
from autopay_app.ledger import monitoring
from autopay_app.models import AutonomyLevel
from tests.factories import make_agent, make_request

FEED = "http://127.0.0.1:8402/api/market-feed"
OTHER = "https://seller.example/api/news"


@pytest.fixture()
def phase3(app, client, auth, catalog_url):
    """A PHASE3 agent monitoring FEED (bought a minute ago), one tick recorded; logged in."""
    app.config["AUTOPAY_SETTINGS"] = replace(
        app.config["AUTOPAY_SETTINGS"], premium_api_url=catalog_url
    )
    with app.app_context(), Session(db.engine, expire_on_commit=False) as session:
        with session.begin():
            agent = make_agent(session, name="phase3-agent", autonomy_level=AutonomyLevel.PHASE3)
            idle = make_agent(session, name="z-idle")
            make_request(session, agent, url=FEED, status="ACCESSED")
        monitoring.ensure_settings(session, agent.id, Decimal(5), Decimal("0.05"), 5)
        monitoring.upsert_api(session, agent.id, FEED, weight=Decimal(2), ttl_seconds=600)
        monitoring.record_tick(
            session,
            agent.id,
            [{"api": FEED, "decision": "SKIPPED", "reason": "fresh for 540 s more"}],
            tokens=Decimal("0.2"),
            at=datetime.now(UTC),
            plan={"api": FEED, "at": "2030-01-01T00:00:00+00:00", "reason": "stale by then"},
        )
    auth.login()
    return types.SimpleNamespace(agent=agent, idle=idle, token=auth.csrf("/autonomy"))


def _form(world, **fields):
    return {"csrf_token": world.token, "agent_id": str(world.agent.id), **fields}


def _apis(client, bearer, agent_id):
    answer = client.get(f"/api/v1/monitored-apis?agent_id={agent_id}", headers=bearer)
    assert answer.status_code == 200
    return {a["url"]: a for a in answer.json["items"]}


def test_page_shows_panel_catalog_forms_and_tick_interval(client, phase3):
    page = client.get(f"/autonomy?agent_id={phase3.agent.id}").get_data(as_text=True)
    assert 'href="/autonomy"' in page and 'class="active"' in page
    assert f'<option value="{phase3.idle.id}"' in page  # the agent selector
    assert f'data-url="{FEED}"' in page and "fresh until" in page
    assert "2030-01-01T00:00:00+00:00" in page and "stale by then" in page
    assert "fresh for 540 s more" in page and "SKIPPED" in page
    assert "Daily budget 5.000000000" in page
    assert 'hx-trigger="every 10s"' in page
    assert 'value="http://127.0.0.1:8402/api/market-feed">/api/market-feed' in page  # catalog
    assert "AUTOPAY_TICK_S" in page and 'data-test="not-phase3"' not in page
    assert 'name="tick_seconds"' in page and "the scheduler's default" in page


def test_panel_fragment_is_polled_and_escapes(client, phase3):
    fragment = client.get(f"/autonomy/panel?agent_id={phase3.agent.id}").get_data(as_text=True)
    assert "<html" not in fragment and 'data-test="phase3-panel"' in fragment
    assert client.get("/autonomy/panel?agent_id=nope").status_code == 400
    assert client.get(f"/autonomy/panel?agent_id={uuid.uuid4()}").status_code == 404


def test_other_agent_has_no_apis_and_no_settings(client, phase3):
    page = client.get(f"/autonomy?agent_id={phase3.idle.id}").get_data(as_text=True)
    assert 'data-test="no-monitored-apis"' in page and "No budget settings yet" in page
    assert 'data-test="not-phase3"' in page


def test_forms_add_reweigh_and_remove(client, phase3, bearer):
    assert client.post("/autonomy/apis", data={"url": OTHER}).status_code == 400  # no CSRF
    answer = client.post("/autonomy/apis", data=_form(phase3, url=OTHER, weight="3.5"))
    assert answer.status_code == 302 and f"agent_id={phase3.agent.id}" in answer.headers["Location"]
    assert "Now monitoring" in client.get(answer.headers["Location"]).get_data(as_text=True)
    added = _apis(client, bearer, phase3.agent.id)[OTHER]
    assert added["weight"] == "3.5000" and added["source"] == "dashboard"
    client.post("/autonomy/apis", data=_form(phase3, url=OTHER, weight="0.25"))
    assert _apis(client, bearer, phase3.agent.id)[OTHER]["weight"] == "0.2500"
    client.post("/autonomy/apis/remove", data=_form(phase3, url=OTHER))
    assert set(_apis(client, bearer, phase3.agent.id)) == {FEED}
    again = client.post(
        "/autonomy/apis/remove", data=_form(phase3, url=OTHER), follow_redirects=True
    )
    assert "was not monitored" in again.get_data(as_text=True)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"url": "ftp://x/y"}, "url: not an http(s) URL"),
        ({"url": OTHER, "weight": "0"}, "weight: must be above 0"),
        ({"url": OTHER, "weight": "abc"}, "weight: not a number"),
        ({"url": OTHER, "weight": "1.00001"}, "weight: at most 4 decimal places"),
        ({"url": ""}, "url: required"),
    ],
)
def test_bad_api_form_input_is_refused_with_a_message(client, phase3, bearer, fields, message):
    page = client.post("/autonomy/apis", data=_form(phase3, **fields), follow_redirects=True)
    assert message in page.get_data(as_text=True)
    assert set(_apis(client, bearer, phase3.agent.id)) == {FEED}


def test_forms_for_an_unknown_agent_are_404(client, phase3):
    data = _form(phase3, url=OTHER)
    data["agent_id"] = str(uuid.uuid4())
    assert client.post("/autonomy/apis", data=data).status_code == 404
    data["agent_id"] = "nope"
    assert client.post("/autonomy/settings", data=data).status_code == 400


def test_settings_form_updates_and_creates_budgets(client, phase3, bearer):
    budgets = {"daily_budget": "7.5", "burst_fraction": "0.1", "max_buys_per_tick": "3"}
    answer = client.post("/autonomy/settings", data=_form(phase3, **budgets))
    assert answer.status_code == 302
    settings = client.get(
        f"/api/v1/monitored-apis?agent_id={phase3.agent.id}", headers=bearer
    ).json["settings"]
    assert settings["daily_budget"] == "7.500000000" and settings["burst_fraction"] == "0.1000"
    assert settings["max_buys_per_tick"] == 3
    data = {**_form(phase3, **budgets), "agent_id": str(phase3.idle.id)}
    client.post("/autonomy/settings", data=data)
    idle = client.get(f"/api/v1/monitored-apis?agent_id={phase3.idle.id}", headers=bearer).json
    assert idle["settings"]["max_buys_per_tick"] == 3


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("daily_budget", "-1", "daily_budget: must be between 0 and 1000000"),
        ("burst_fraction", "2", "burst_fraction: must be between 0.0001 and 1"),
        ("max_buys_per_tick", "0", "max_buys_per_tick: a whole number from 1 to 10000"),
        ("max_buys_per_tick", "two", "max_buys_per_tick: a whole number from 1 to 10000"),
    ],
)
def test_bad_settings_are_refused(client, phase3, bearer, field, value, message):
    budgets = {"daily_budget": "7.5", "burst_fraction": "0.1", "max_buys_per_tick": "3"}
    page = client.post(
        "/autonomy/settings", data=_form(phase3, **{**budgets, field: value}), follow_redirects=True
    )
    assert message in page.get_data(as_text=True)
    answer = client.get(f"/api/v1/monitored-apis?agent_id={phase3.agent.id}", headers=bearer)
    assert answer.json["settings"]["daily_budget"] == "5.000000000"


def test_api_get_post_delete(client, phase3, bearer):
    body = client.get(f"/api/v1/monitored-apis?agent_id={phase3.agent.id}", headers=bearer).json
    assert [a["url"] for a in body["items"]] == [FEED] and body["items"][0]["fresh"] is True
    assert body["next_plan"]["reason"] == "stale by then"
    assert body["decisions"][0]["reason"] == "fresh for 540 s more"
    new = {"agent_id": str(phase3.agent.id), "url": OTHER, "weight": 2.5}
    created = client.post("/api/v1/monitored-apis", json=new, headers=bearer)
    assert created.status_code == 201 and created.json["weight"] == "2.5000"
    changed = client.post("/api/v1/monitored-apis", json={**new, "weight": "4"}, headers=bearer)
    assert changed.status_code == 200 and changed.json["weight"] == "4.0000"
    gone = client.delete(
        f"/api/v1/monitored-apis?agent_id={phase3.agent.id}&url={OTHER}", headers=bearer
    )
    assert gone.status_code == 200 and gone.json["removed"] is True
    again = client.delete(
        f"/api/v1/monitored-apis?agent_id={phase3.agent.id}&url={OTHER}", headers=bearer
    )
    assert again.status_code == 404


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        (None, "body"),
        ({"url": OTHER}, "agent_id"),
        ({"agent_id": "nope", "url": OTHER}, "agent_id"),
        ({"agent_id": "AGENT", "url": "javascript:alert(1)"}, "url"),
        ({"agent_id": "AGENT", "url": OTHER, "weight": -1}, "weight"),
        ({"agent_id": "AGENT", "url": OTHER, "weight": True}, "weight"),
        ({"agent_id": "AGENT", "url": OTHER, "weight": "1e9"}, "weight"),
        ({"agent_id": "AGENT", "url": "http://x/" + "a" * 3000}, "url"),
    ],
)
def test_api_post_bad_input_is_400(client, phase3, bearer, body, parameter):
    if body and body.get("agent_id") == "AGENT":
        body = {**body, "agent_id": str(phase3.agent.id)}
    answer = client.post("/api/v1/monitored-apis", json=body, headers=bearer)
    assert answer.status_code == 400
    assert answer.json["error"]["message"].startswith(f"{parameter}:")
    assert set(_apis(client, bearer, phase3.agent.id)) == {FEED}


def test_api_bad_queries_and_unknown_agent(client, phase3, bearer):
    assert client.get("/api/v1/monitored-apis", headers=bearer).status_code == 400
    unknown = f"/api/v1/monitored-apis?agent_id={uuid.uuid4()}"
    assert client.get(unknown, headers=bearer).status_code == 404
    post = {"agent_id": str(uuid.uuid4()), "url": OTHER}
    assert client.post("/api/v1/monitored-apis", json=post, headers=bearer).status_code == 404
    no_url = f"/api/v1/monitored-apis?agent_id={phase3.agent.id}"
    assert client.delete(no_url, headers=bearer).status_code == 400


def test_api_with_the_session_cookie_needs_csrf(client, phase3, bearer):
    new = {"agent_id": str(phase3.agent.id), "url": OTHER}
    assert client.post("/api/v1/monitored-apis", json=new).status_code == 400
    headers = {"X-CSRFToken": phase3.token}
    assert client.post("/api/v1/monitored-apis", json=new, headers=headers).status_code == 201
    delete = f"/api/v1/monitored-apis?agent_id={phase3.agent.id}&url={OTHER}"
    assert client.delete(delete).status_code == 400
    assert client.delete(delete, headers=headers).status_code == 200


def test_openapi_documents_the_monitored_apis(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    ops = paths["/monitored-apis"]
    assert set(ops) == {"get", "post", "delete"}
    body = ops["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["agent_id", "url"] and "weight" in body["properties"]
    assert "201" in ops["post"]["responses"] and "400" in ops["post"]["responses"]
    assert {p["name"] for p in ops["delete"]["parameters"]} == {"agent_id", "url"}


def _settings(client, bearer, agent_id):
    answer = client.get(f"/api/v1/monitored-apis/settings?agent_id={agent_id}", headers=bearer)
    assert answer.status_code == 200
    return answer.json


BUDGETS = {"daily_budget": "5", "burst_fraction": "0.05", "max_buys_per_tick": "5"}


def test_settings_form_sets_and_resets_the_tick_interval(client, phase3, bearer):
    answer = client.post("/autonomy/settings", data=_form(phase3, **BUDGETS, tick_seconds="90.5"))
    assert answer.status_code == 302
    assert _settings(client, bearer, phase3.agent.id)["tick_seconds"] == "90.5"
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Settings saved" in page and "every 90.5 s, this agent's own" in page
    assert 'value="90.5"' in page and "a tick every 90.5 s" in page  # form and panel
    client.post("/autonomy/settings", data=_form(phase3, **BUDGETS, tick_seconds=""))
    settings = _settings(client, bearer, phase3.agent.id)
    assert settings["tick_seconds"] is None and settings["default_tick_seconds"] == 60.0
    assert (
        client.post("/autonomy/settings", data={**BUDGETS, "tick_seconds": "5"}).status_code == 400
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "tick_seconds: must be between 1 and 86400"),
        ("86401", "tick_seconds: must be between 1 and 86400"),
        ("soon", "tick_seconds: not a number"),
        ("1.0001", "tick_seconds: at most 3 decimal places"),
        ("NaN", "tick_seconds: must be between 1 and 86400"),
    ],
)
def test_bad_tick_interval_in_the_form_is_refused(client, phase3, bearer, value, message):
    client.post("/autonomy/settings", data=_form(phase3, **BUDGETS, tick_seconds="30"))
    page = client.post(
        "/autonomy/settings",
        data=_form(phase3, **{**BUDGETS, "daily_budget": "9"}, tick_seconds=value),
        follow_redirects=True,
    )
    assert f"Not saved: {message}" in page.get_data(as_text=True)
    settings = _settings(client, bearer, phase3.agent.id)
    assert settings["tick_seconds"] == "30" and settings["daily_budget"] == "5.000000000"


def test_api_settings_get_and_patch(client, phase3, bearer):
    agent = str(phase3.agent.id)
    before = _settings(client, bearer, agent)
    assert before["tick_seconds"] is None and before["max_buys_per_tick"] == 5
    url = "/api/v1/monitored-apis/settings"
    changed = client.patch(url, json={"agent_id": agent, "tick_seconds": 120}, headers=bearer)
    assert changed.status_code == 200 and changed.json["tick_seconds"] == "120"
    assert changed.json["daily_budget"] == "5.000000000"  # left out: unchanged
    both = {"agent_id": agent, "tick_seconds": "2.5", "max_buys_per_tick": 2}
    assert client.patch(url, json=both, headers=bearer).json["max_buys_per_tick"] == 2
    listing = client.get(f"/api/v1/monitored-apis?agent_id={agent}", headers=bearer).json
    assert listing["settings"]["tick_seconds"] == "2.5" and listing["default_tick_seconds"] == 60.0
    reset = client.patch(url, json={"agent_id": agent, "tick_seconds": None}, headers=bearer)
    assert reset.json["tick_seconds"] is None
    # an agent without settings gets a row with the defaults and the change
    idle = client.patch(
        url, json={"agent_id": str(phase3.idle.id), "tick_seconds": 30}, headers=bearer
    )
    assert idle.status_code == 200 and idle.json["tick_seconds"] == "30"
    assert idle.json["daily_budget"] == "5.000000000"


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        (None, "body"),
        ({"tick_seconds": 30}, "agent_id"),
        ({"agent_id": "AGENT"}, "body"),
        ({"agent_id": "AGENT", "tick_seconds": 0}, "tick_seconds"),
        ({"agent_id": "AGENT", "tick_seconds": -5}, "tick_seconds"),
        ({"agent_id": "AGENT", "tick_seconds": "1e9"}, "tick_seconds"),
        ({"agent_id": "AGENT", "tick_seconds": True}, "tick_seconds"),
        ({"agent_id": "AGENT", "tick_seconds": [30]}, "tick_seconds"),
        ({"agent_id": "AGENT", "tick_seconds": 0.5}, "tick_seconds"),
        ({"agent_id": "AGENT", "tick_s": 30}, "tick_s"),
        ({"agent_id": "AGENT", "max_buys_per_tick": 0}, "max_buys_per_tick"),
        ({"agent_id": "AGENT", "tick_seconds": 30, "daily_budget": -1}, "daily_budget"),
    ],
)
def test_api_settings_bad_input_is_400_and_changes_nothing(client, phase3, bearer, body, parameter):
    if body and body.get("agent_id") == "AGENT":
        body = {**body, "agent_id": str(phase3.agent.id)}
    answer = client.patch("/api/v1/monitored-apis/settings", json=body, headers=bearer)
    assert answer.status_code == 400
    assert answer.json["error"]["message"].startswith(f"{parameter}:")
    assert _settings(client, bearer, phase3.agent.id)["tick_seconds"] is None


def test_api_settings_unknown_agent_and_csrf(client, phase3, bearer):
    url = "/api/v1/monitored-apis/settings"
    unknown = {"agent_id": str(uuid.uuid4()), "tick_seconds": 30}
    assert client.patch(url, json=unknown, headers=bearer).status_code == 404
    assert client.get(f"{url}?agent_id={uuid.uuid4()}", headers=bearer).status_code == 404
    assert client.get(url, headers=bearer).status_code == 400
    body = {"agent_id": str(phase3.agent.id), "tick_seconds": 30}
    assert client.patch(url, json=body).status_code == 400  # session cookie, no CSRF token
    assert _settings(client, bearer, phase3.agent.id)["tick_seconds"] is None
    answer = client.patch(url, json=body, headers={"X-CSRFToken": phase3.token})
    assert answer.status_code == 200 and answer.json["tick_seconds"] == "30"


def test_openapi_documents_the_settings_endpoint(client):
    ops = client.get("/api/v1/openapi.json").json["paths"]["/monitored-apis/settings"]
    assert set(ops) == {"get", "patch"}
    body = ops["patch"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["agent_id"] and body["additionalProperties"] is False
    assert "null" in body["properties"]["tick_seconds"]["type"]
    assert "AUTOPAY_TICK_S" in body["properties"]["tick_seconds"]["description"]
    assert "400" in ops["patch"]["responses"] and "404" in ops["patch"]["responses"]
    assert {p["name"] for p in ops["get"]["parameters"]} == {"agent_id"}
