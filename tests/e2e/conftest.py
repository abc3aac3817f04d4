"""Browser tests: the real app on 127.0.0.1 (own SQLite file, SOA sandbox, SMTP server) driven by headless Chromium.

Chromium is Debian's (``/usr/bin/chromium``, installed by ``.ci/run`` when missing); Playwright only drives it
(no browser download). If the browser cannot start, every test here ERRORS with the reason: nothing is skipped.
"""

import os
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest
from flask import got_request_exception
from werkzeug.serving import make_server

from app import create_app
from devtools.demo import load_demo_data
from devtools.smtp_catcher import MailCatcher
from devtools.soa_sandbox import SandboxServer

CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
#: Chromium's background services (updates, sync, safe browsing, QUIC probes) would try to reach the internet.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
TIMEZONE = "America/Sao_Paulo"
DEMO_PASSWORD = "demo123"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """The panel served by werkzeug in a thread, with the services it talks to."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.db_path = tmp / "e2e.db"
        self.smtp = MailCatcher(host="127.0.0.1", port=_free_port(), outdir=tmp / "outbox")
        self.soa = SandboxServer(port=0, activation_delay=0)
        #: Exceptions raised inside request handlers (each one is a 500 the user would see).
        self.server_errors: list[str] = []

    def start(self) -> "LiveServer":
        self.smtp.start()
        self.soa.start()
        self.app = create_app({
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{self.db_path}",
            "SECRET_KEY": "e2e-secret-key",
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": self.smtp.port,
            "MAIL_SUPPRESS_SEND": False,
            "MAIL_DEFAULT_SENDER": "Painel de Cobrança <nao-responda@painel.test>",
            "SOA_URL_SANDBOX": self.soa.url,
            "SOA_URL_HOMOLOGACAO": self.soa.url,
            "SOA_URL_PRODUCAO": self.soa.url,
            "SOA_CONNECT_TIMEOUT": 2.0,
            "SOA_READ_TIMEOUT": 5.0,
            "HUEY_SQLITE_FILE": str(self.tmp / "queue.db"),
            "IMPORT_DIR": str(self.tmp / "imports"),
        })
        got_request_exception.connect(self._record_exception, self.app, weak=False)
        with self.app.app_context():
            from flask_migrate import upgrade

            upgrade()
            load_demo_data()
        from services.jobs import start_in_process

        # Long work (bulk negativation, status sync, imports) runs as jobs: a consumer in this process, as `make run`.
        self.consumer = start_in_process(self.app, workers=2)
        self.httpd = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="e2e-live-server", daemon=True)
        self.thread.start()
        from services.jobs import start_in_process

        self.consumer = start_in_process(self.app)  # the job consumer, in this process as under `make run`
        return self

    def _record_exception(self, sender, exception, **extra):
        from flask import request

        self.server_errors.append(f"{request.method} {request.full_path}: {exception!r}")

    def stop(self) -> None:
        self.consumer.stop(graceful=True)
        self.httpd.shutdown()
        self.thread.join(timeout=5)
        self.soa.stop()
        self.smtp.stop()

    def db(self):
        """An app context for reading or preparing rows in the live server's database."""
        return self.app.app_context()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("e2e")).start()
    yield server
    server.stop()


def _chromium_problem() -> str | None:
    if not (shutil.which(CHROMIUM) or os.path.exists(CHROMIUM)):
        return (f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium); "
                ".ci/run does it on a fresh machine")
    try:
        subprocess.run([CHROMIUM, "--version"], check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{CHROMIUM} --version failed: {exc}"
    return None


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session. Playwright gives each launch a fresh temporary profile."""
    problem = _chromium_problem()
    if problem:
        pytest.fail(f"E2E: the browser cannot start: {problem}", pytrace=False)
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=3_000)  # the server is on loopback: what is not there in 3 s is not coming
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        except PlaywrightError as exc:
            pytest.fail(f"E2E: the browser cannot start ({CHROMIUM}): {exc}", pytrace=False)
        yield browser
        browser.close()


class PageWatch:
    """What a page showed besides its content: console errors, uncaught JS errors, failed requests, 5xx."""

    def __init__(self, page):
        self.page = page
        self.problems: list[str] = []
        #: Documents (full pages) the browser received with a 4xx status on purpose (e.g. the 404 page).
        self.document_statuses: dict[str, int] = {}
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"JS error on {page.url}: {exc}"))
        page.on("requestfailed", self._request_failed)
        page.on("response", self._response)

    def _console(self, message):
        if message.type not in ("error", "warning") or message.type == "warning" and "deprecat" in message.text:
            return
        text = message.text
        location = (message.location or {}).get("url", "")
        if text.startswith("Failed to load resource: the server responded with a status of 4") and (
                location in self.document_statuses or location.endswith("/favicon.ico")):
            # A page answered 400/401/404 as the test intended (the test asserts what it shows), or the
            # browser asked for the favicon the panel does not have.
            return
        self.problems.append(f"console {message.type} on {self.page.url}: {text} ({location})")

    def _request_failed(self, request):
        if request.failure == "net::ERR_ABORTED":
            return  # the page navigated away (a click) before a font or script finished loading
        self.problems.append(f"request failed on {self.page.url}: {request.method} {request.url} "
                             f"({request.failure})")

    def _response(self, response):
        if response.request.resource_type == "document" and 400 <= response.status < 500:
            self.document_statuses[response.url] = response.status
        if response.status >= 500:
            self.problems.append(f"HTTP {response.status} for {response.request.method} {response.url}")


class Session:
    """A browser context (own cookies) for one user, in pt-BR and São Paulo time."""

    def __init__(self, browser, live_server):
        self.live = live_server
        self.context = browser.new_context(locale="pt-BR", timezone_id=TIMEZONE,
                                           viewport={"width": 1366, "height": 850})
        self.context.set_default_timeout(5_000)
        self.page = self.context.new_page()
        self.watch = PageWatch(self.page)

    def url(self, path: str) -> str:
        return self.live.url + path

    def goto(self, path: str):
        return self.page.goto(self.url(path))

    def login(self, email: str, password: str = DEMO_PASSWORD):
        self.goto("/login")
        self.page.get_by_label("E-mail").fill(email)
        self.page.get_by_label("Senha").fill(password)
        with self.page.expect_navigation():
            self.page.get_by_role("button", name="Entrar").click()
        return self.page

    def close(self):
        self.context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.e2e_call_failed = report.failed


@pytest.fixture
def new_session(request, browser, live_server):
    """Open browser sessions; after the test, fail on JS errors, console errors, failed requests or 500s.

    When the test itself already failed, those problems are attached to its report instead (one failure each).
    """
    sessions: list[Session] = []
    errors_before = len(live_server.server_errors)

    def open_session() -> Session:
        session = Session(browser, live_server)
        sessions.append(session)
        return session

    yield open_session
    problems = [p for s in sessions for p in s.watch.problems]
    problems += live_server.server_errors[errors_before:]
    for session in sessions:
        session.close()
    message = "The browser or the server reported errors:\n" + "\n".join(problems)
    if problems and getattr(request.node, "e2e_call_failed", False):
        request.node.add_report_section("teardown", "browser console", message)
        return
    assert not problems, message


@pytest.fixture
def screenshot():
    """Save a screenshot of the page under docs/screenshots/ (shown in the README)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str, **kwargs):
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), **kwargs)
        return path
    return take

