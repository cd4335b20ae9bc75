"""Browser tests: the system Chromium (Debian package) driven by Playwright.

The app runs on a real threaded server on 127.0.0.1 (free port) against the
test database. Playwright's own browser is never downloaded: without
/usr/bin/chromium (``make browser-deps`` installs it) these tests skip and
say why. Each test saves screenshots under test-output/browser/.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from autopay_app import create_app
from autopay_app.config import Settings, load_settings

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "browser-test-password"
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "browser"


def pytest_configure(config: pytest.Config) -> None:
    # solana-py 0.39 deprecates its sync Client, which x402[svm] still uses.
    config.addinivalue_line(
        "filterwarnings",
        r"ignore:Client is deprecated; use solana\.rpc\.async_api\.AsyncClient instead",
    )


# Module scope, not session: Playwright's sync API keeps its event loop marked as running
# in the main thread while it is started, so a session-long browser would make every later
# test that runs asyncio (MCP clients, procrastinate's defer) fail with "Cannot run the event
# loop while another loop is running". Leaving each module stops it.
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (run `make browser-deps` as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    return replace(
        load_settings({}),
        home=tmp_path / "home",
        secret_key="browser-secret-key-of-at-least-32-characters",
        admin_password=PASSWORD,
        premium_api_url="http://127.0.0.1:9",
    )


def serve(app: Flask) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1:<free port> in a thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture()
def live_app(database_url: str, settings: Settings) -> Iterator[Flask]:
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "AUTOPAY_SETTINGS": settings})
    yield app
    from autopay_app.extensions import db

    with app.app_context():
        db.engine.dispose()


#: Reports every Content-Security-Policy violation to the console, where the page
#: fixture collects it (Chromium also logs a console error of its own for each).
REPORT_CSP = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`
    + ` at ${e.sourceFile}:${e.lineNumber}`);
});
"""


def csp_errors(messages: list[str]) -> list[str]:
    return [m for m in messages if "Content Security Policy" in m or "CSP violation" in m]


@pytest.fixture()
def page(browser, request: pytest.FixtureRequest) -> Iterator[object]:
    """A page; the test fails if anything on it broke the Content-Security-Policy."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(REPORT_CSP)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.console_errors = []  # type: ignore[attr-defined]
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))  # type: ignore[attr-defined]
    page.shot = lambda name: _shot(page, request.node.name, name)  # type: ignore[attr-defined]
    yield page
    _shot(page, request.node.name, "end")
    context.close()
    assert not csp_errors(page.console_errors), csp_errors(page.console_errors)  # type: ignore[attr-defined]


def _shot(page: object, test: str, name: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{test}-{name}.png"), full_page=True)  # type: ignore[attr-defined]


def login(page: object, base: str) -> None:
    page.goto(base + "/")  # type: ignore[attr-defined]
    page.fill("input[name=password]", PASSWORD)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_selector("h1:text('Overview')")  # type: ignore[attr-defined]
