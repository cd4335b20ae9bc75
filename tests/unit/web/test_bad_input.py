"""Input that made the dashboard and the API answer 500: each is now a 4xx naming the field.

NUL bytes (PostgreSQL refuses them in text) in filters, search and export; URLs
``urlsplit`` chokes on; JSON nested deeper than Python's recursion limit; and an
export whose query failed after its 200 had been sent.
"""

from __future__ import annotations

import pytest

DEEP = "[" * 5000 + "]" * 5000
DEEP_OBJECT = '{"a":' * 5000 + "1" + "}" * 5000


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/api/v1/requests?endpoint=%00", "endpoint"),
        ("/api/v1/audit-events?q=%00", "q"),
        ("/api/v1/audit-events?q=ok%00still", "q"),
        ("/api/v1/export?endpoint=%00", "endpoint"),
        ("/api/v1/requests?status=%00", "status"),
        ("/api/v1/payments?cursor=%00", "cursor"),
        ("/api/v1/agents/%00", "agent_id"),
    ],
)
def test_nul_in_api_parameters_is_a_400_naming_it(client, demo, bearer, path, parameter):
    answer = client.get(path, headers=bearer)
    assert answer.status_code == 400, answer.get_data(as_text=True)[:300]
    assert answer.is_json
    assert answer.json["error"]["message"].startswith(f"{parameter}:")


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/requests?endpoint=%00", "endpoint"),
        ("/audit?q=%00", "q"),
        ("/export/download?endpoint=%00", "endpoint"),
        ("/export/download?endpoint=a%00b&format=csv", "endpoint"),
    ],
)
def test_nul_in_page_parameters_is_a_400_page_naming_it(client, auth, demo, path, parameter):
    auth.login()
    answer = client.get(path)
    assert answer.status_code == 400
    assert "text/html" in answer.headers["Content-Type"]
    assert f"{parameter}:" in answer.get_data(as_text=True)


@pytest.mark.parametrize(
    "url",
    ["http://[::1", "http://[::1/x", "http://a\x00b/", "http://host:99999/", "http://host:x/"],
)
def test_malformed_monitored_urls_are_400_naming_url(client, demo, bearer, url):
    agent_id = client.get("/api/v1/agents", headers=bearer).json["items"][0]["id"]
    answer = client.post(
        "/api/v1/monitored-apis", json={"agent_id": agent_id, "url": url}, headers=bearer
    )
    assert answer.status_code == 400, answer.get_data(as_text=True)[:300]
    assert answer.json["error"]["message"].startswith("url:")
    gone = client.delete(
        "/api/v1/monitored-apis",
        query_string={"agent_id": agent_id, "url": url},
        headers=bearer,
    )
    assert gone.status_code == 400
    assert gone.json["error"]["message"].startswith("url:")


@pytest.mark.parametrize("url", ["http://[::1", "http://a\x00b/"])
def test_malformed_monitored_urls_in_the_form_are_refused_with_a_message(
    client, auth, demo, bearer, url
):
    agent_id = client.get("/api/v1/agents", headers=bearer).json["items"][0]["id"]
    auth.login()
    token = auth.csrf("/autonomy")
    for form in ("/autonomy/apis", "/autonomy/apis/remove"):
        answer = client.post(
            form,
            data={"csrf_token": token, "agent_id": agent_id, "url": url},
            follow_redirects=True,
        )
        assert answer.status_code in (200, 400), (form, answer.status_code)
        assert "url:" in answer.get_data(as_text=True)


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/quotes"),
        ("post", "/api/v1/monitored-apis"),
        ("patch", "/api/v1/monitored-apis/settings"),
        ("post", "/api/v1/agents/00000000-0000-0000-0000-000000000000/autonomy"),
    ],
)
def test_deeply_nested_json_is_a_400(client, demo, bearer, method, path, body):
    answer = getattr(client, method)(
        path, data=body, content_type="application/json", headers=bearer
    )
    assert answer.status_code == 400, answer.get_data(as_text=True)[:300]
    assert answer.json["error"]["message"].startswith("body:")


def test_an_export_that_cannot_read_the_ledger_fails_before_its_200(
    client, demo, bearer, monkeypatch
):
    """The query runs before the download starts: a failure is a JSON error, not a 200
    cut short (or the server's HTML page)."""
    from sqlalchemy.exc import OperationalError

    def broken(*args, **kwargs):
        raise OperationalError("SELECT ...", {}, Exception("server closed the connection"))
        yield  # pragma: no cover - a generator, like the real one

    monkeypatch.setattr("autopay_app.web.exporting.export_rows", broken)
    answer = client.get("/api/v1/export", headers=bearer)
    assert answer.status_code == 503
    assert answer.is_json
    assert "ledger" in answer.json["error"]["message"]
