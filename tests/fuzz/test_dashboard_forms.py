"""Every dashboard form, every page's query string and the monitored-API inputs under
hypothesis: whatever is sent, the answer is never a 5xx.

schemathesis covers what the OpenAPI documents describe; the dashboard's HTML
forms and pages are not in them. Here a logged-in browser (session cookie, the
CSRF token in every form) sends hostile values: NUL and control characters,
URLs ``urlsplit`` chokes on, huge and non-finite numbers, deep JSON, known ids
and unknown ones. The app runs in-process on the demo data, with a real mock
API (and harness) as its premium API, so a quote that passes the catalog check
reaches a real seller. ``AUTOPAY_FUZZ_EXAMPLES`` sets the examples per target.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from autopay_app.ledger import dashboard
from autopay_app.web.security import ensure_api_token

EXAMPLES = int(os.environ.get("AUTOPAY_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

NASTY = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\t\r\n",
    "%00",
    "http://[::1",
    "http://[::1]:99999/",
    "http://host:x/",
    "http://a\x00b/",
    "http://\u2028/",
    "https://xn--/",
    "//evil.example",
    "/\t/evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "１２３",
    "NaN",
    "-Infinity",
    "1e999",
    "-0",
    "9" * 400,
    "0.0000000001",
    "2000-01-01T00:00:00+99:00",
    "0001-01-01T00:00:00-14:00",
    "9999-12-31T23:59:59+14:00",
    "\ud7ff" * 50,
    "x" * 5000,
]
text = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=60),
    st.builds(lambda a, b: f"{a}\x00{b}", st.text(max_size=8), st.text(max_size=8)),
)
numbers = st.one_of(
    text,
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.decimals(allow_nan=True).map(str),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, text, st.floats(allow_nan=False)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)),
    max_leaves=12,
)


class World:
    """The demo data's ids, the catalog's URLs and a logged-in client with its CSRF token."""

    def __init__(self, app: Flask) -> None:
        from autopay_app.extensions import db

        with app.app_context():
            from autopay_app.agent.runtime import default_agent

            default_agent()  # the app's own agent: quotes for it reach the real seller
        with app.app_context(), Session(db.engine) as session:
            self.agent_ids = [str(a.id) for a in dashboard.list_agents(session)]
        with app.app_context(), Session(db.engine) as session:
            rows = dashboard.requests_page(session, _everything())
            self.request_ids = [str(r[0].id) for r in rows]
        premium = app.config["AUTOPAY_SETTINGS"].premium_api_url
        self.catalog_urls = [premium + p for p in ("/api/market-feed", "/api/knowledge/insights")]
        self.client = app.test_client()
        password = app.config["AUTOPAY_SETTINGS"].admin_password
        login = self.client.post("/login", data={"password": password, "csrf_token": self._csrf()})
        assert login.status_code == 302
        self.csrf = self._csrf()  # a login starts a new session, with a new CSRF token
        probe = self.client.post("/autonomy/settings", data={"csrf_token": self.csrf})
        assert probe.status_code == 400 and "CSRF" not in probe.get_data(True)
        self.bearer = {"Authorization": f"Bearer {ensure_api_token(app)[0]}"}

    # Known ids come up most often: a form with an unknown one is refused before the rest
    # of it is read, and the rest is where the bugs were.
    def _csrf(self) -> str:
        page = self.client.get("/login").get_data(True)
        token = re.search(r'name="csrf-token" content="([^"]+)"', page)
        assert token is not None
        return token.group(1)

    def agent_id(self) -> st.SearchStrategy[str]:
        known = st.sampled_from(self.agent_ids)
        return st.one_of(known, known, known, st.just(str(uuid.uuid4())), text)

    def request_id(self) -> st.SearchStrategy[str]:
        known = st.sampled_from(self.request_ids)
        return st.one_of(known, known, known, st.just(str(uuid.uuid4())), text)

    def url(self) -> st.SearchStrategy[str]:
        hosts = st.sampled_from(["127.0.0.1:9", "[::1", "a\x00b", "host:0", "", "例え.テスト"])
        built = st.builds(
            lambda scheme, host, path: f"{scheme}://{host}{path}",
            st.sampled_from(["http", "https", "ftp", "", "HTTP"]),
            hosts,
            text,
        )
        return st.one_of(st.sampled_from(self.catalog_urls), built, built, text)


def _everything() -> Any:
    from autopay_app.web.filters import request_filter

    return request_filter({"limit": "200"})


@pytest.fixture(scope="module")
def world(module_app: Flask) -> World:
    return World(module_app)


def _no_5xx(answer: Any, what: str) -> None:
    assert answer.status_code < 500, (what, answer.status_code, answer.get_data(True)[:500])


def _post(world: World, path: str, fields: dict[str, str]) -> None:
    answer = world.client.post(path, data={"csrf_token": world.csrf, **fields})
    _no_5xx(answer, f"POST {path} {fields!r}")


def test_monitored_api_forms(world: World) -> None:
    @FUZZ
    @given(
        form=st.sampled_from(["/autonomy/apis", "/autonomy/apis/remove"]),
        agent_id=world.agent_id(),
        url=world.url(),
        weight=numbers,
    )
    def run(form: str, agent_id: str, url: str, weight: str) -> None:
        _post(world, form, {"agent_id": agent_id, "url": url, "weight": weight})

    run()


def test_budget_settings_form(world: World) -> None:
    @FUZZ
    @given(
        agent_id=world.agent_id(),
        budget=numbers,
        burst=numbers,
        buys=numbers,
        tick=numbers,
    )
    def run(agent_id: str, budget: str, burst: str, buys: str, tick: str) -> None:
        fields = {
            "agent_id": agent_id,
            "daily_budget": budget,
            "burst_fraction": burst,
            "max_buys_per_tick": buys,
            "tick_seconds": tick,
        }
        _post(world, "/autonomy/settings", fields)

    run()


@pytest.mark.parametrize("action", ["quote", "approve", "decline", "autonomy"])
def test_interactive_and_autonomy_forms(world: World, action: str) -> None:
    @FUZZ
    @given(
        agent_id=world.agent_id(),
        request_id=world.request_id(),
        url=world.url(),
        query=text,
        level=st.one_of(st.sampled_from(["PHASE1", "phase2", "PHASE3"]), text),
        nxt=text,
    )
    def run(agent_id: str, request_id: str, url: str, query: str, level: str, nxt: str) -> None:
        if action == "quote":
            fields = {"agent_id": agent_id, "url": url, "query": query}
            _post(world, "/interactive/quote", fields)
        elif action == "autonomy":
            fields = {"level": level, "next": nxt}
            _post(world, f"/agents/{_path(agent_id)}/autonomy", fields)
        else:
            _post(world, f"/interactive/{_path(request_id)}/{action}", {"agent_id": agent_id})

    run()


def _path(segment: str) -> str:
    from urllib.parse import quote

    return quote(segment, safe="") or "x"


PAGES = {
    "/": [],
    "/requests": ["agent_id", "status", "api_type", "endpoint", "since", "until", "cursor"],
    "/payments": ["agent_id", "status", "currency", "since", "until", "cursor", "limit"],
    "/audit": ["agent_id", "event_type", "severity", "q", "since", "until", "cursor", "limit"],
    "/interactive": ["agent_id", "done"],
    "/interactive/approvals": ["agent_id"],
    "/autonomy": ["agent_id"],
    "/autonomy/panel": ["agent_id"],
    "/export": ["agent_id", "api_type", "endpoint", "since", "until", "format"],
    "/export/download": ["agent_id", "api_type", "endpoint", "since", "until", "format"],
    "/overview/cards": [],
    "/overview/spend.json": [],
}


#: Each parameter alone (the others would usually be refused first), then any mix.
PAGE_PARAMS = [(page, name) for page, names in sorted(PAGES.items()) for name in names or [""]]


@pytest.mark.parametrize(("page", "name"), PAGE_PARAMS)
def test_pages_and_their_query_strings(world: World, page: str, name: str) -> None:
    names = PAGES[page] or ["x"]
    values = world.agent_id() | world.request_id() | numbers | text
    one = st.builds(lambda value: {name: value} if name else {}, values)

    @FUZZ
    @given(args=one | st.dictionaries(st.sampled_from(names), values, max_size=len(names)))
    def run(args: dict[str, str]) -> None:
        with world.client.get(page, query_string=args) as answer:
            _no_5xx(answer, f"GET {page} {args!r}")
            answer.get_data()  # a streamed export must not fail half-way either

    run()


def test_detail_pages(world: World) -> None:
    @FUZZ
    @given(kind=st.sampled_from(["requests", "payments", "audit"]), ident=world.request_id())
    def run(kind: str, ident: str) -> None:
        _no_5xx(world.client.get(f"/{kind}/{_path(ident)}"), f"{kind}/{ident!r}")

    run()


def test_monitored_api_json_inputs(world: World) -> None:
    @FUZZ
    @given(
        method=st.sampled_from(["post", "patch", "delete", "get"]),
        body=st.one_of(
            st.dictionaries(
                st.sampled_from(
                    ["agent_id", "url", "weight", "daily_budget", "burst_fraction"]
                    + ["max_buys_per_tick", "tick_seconds", "other"]
                ),
                json_values,
                max_size=5,
            ),
            json_values,
        ),
        agent_id=world.agent_id(),
        url=world.url(),
    )
    def run(method: str, body: Any, agent_id: str, url: str) -> None:
        if isinstance(body, dict) and "agent_id" not in body:
            body["agent_id"] = agent_id
        path = "/api/v1/monitored-apis" + ("/settings" if method == "patch" else "")
        answer = world.client.open(
            path,
            method=method.upper(),
            data=json.dumps(body),
            content_type="application/json",
            query_string={"agent_id": agent_id, "url": url},
            headers=world.bearer,
        )
        _no_5xx(answer, f"{method} {path} {body!r}")

    run()
