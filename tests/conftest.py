"""Fixtures: an app per test (in-memory SQLite), logins, CSRF tokens, query counting, SMTP and SOA servers."""

import os
import re
import signal
import socket
import threading
from types import SimpleNamespace

import pytest
from flask.testing import FlaskClient

from app import create_app
from devtools.queries import QueryCounter
from devtools.smtp_catcher import MailCatcher
from devtools.soa_sandbox import SandboxServer
from models import db
from models.agency import Role
from tests import factories as f

CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def smtp_server(tmp_path_factory):
    """A real SMTP server (aiosmtpd) on 127.0.0.1 for the whole session; cleared for each test."""
    catcher = MailCatcher(host="127.0.0.1", port=free_port(), outdir=tmp_path_factory.mktemp("outbox"))
    catcher.start()
    yield catcher
    catcher.stop()


@pytest.fixture(scope="session")
def soa_server():
    """The project's SOA sandbox on 127.0.0.1 and a free port, shared by the session; reset per test."""
    server = SandboxServer(port=0, activation_delay=0).start()
    yield server
    server.stop()


@pytest.fixture
def smtp(smtp_server):
    smtp_server.clear()
    smtp_server.refuse = set()
    smtp_server.disconnect_after = None
    smtp_server.drop_before_reply = None
    return smtp_server


@pytest.fixture
def soa(soa_server):
    soa_server.reset()
    return soa_server


#: The database the suite runs on: in-memory SQLite by default; PostgreSQL when CI sets TEST_DATABASE_URL
#: (``make test-postgres``), so constraints, locking and migrations are proven on the production database.
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "sqlite://")
ON_POSTGRES = TEST_DATABASE_URL.startswith("postgresql")


def reset_database() -> None:
    """Drop every table (the models' and Alembic's), so each test starts from an empty schema."""
    db.session.remove()
    db.drop_all()
    with db.engine.begin() as conn:
        conn.execute(db.text("DROP TABLE IF EXISTS alembic_version"))


def end_consumers(app, processes) -> None:
    """Teardown of the tests that start ``flask worker`` processes: kill each one's process group, close its log,
    and leave the shared database empty."""
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        process.log.close()
    with app.app_context():
        reset_database()
        db.engine.dispose()


@pytest.fixture
def live_database_url(tmp_path):
    """A database that several threads or processes can share: a SQLite file, or the PostgreSQL test database."""
    yield TEST_DATABASE_URL if ON_POSTGRES else f"sqlite:///{tmp_path / 'live.db'}"


@pytest.fixture
def live(live_database_url, smtp_server, soa_server, tmp_path):
    """The app on a database threads can share, served by a threaded Werkzeug server on 127.0.0.1 (``live.url``)."""
    from werkzeug.serving import make_server

    sqlite = live_database_url.startswith("sqlite")
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": live_database_url, "SECRET_KEY": "live",
        "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp_server.port, "MAIL_SUPPRESS_SEND": False,
        "SOA_URL_SANDBOX": soa_server.url, "HUEY_SQLITE_FILE": str(tmp_path / "queue.db"),
        "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"timeout": 30}} if sqlite else {},
    })
    with app.app_context():
        reset_database()
        db.create_all()
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    from services.jobs import start_in_process

    consumer = start_in_process(app, workers=4)  # a real consumer in this process's threads, as `make run`
    yield SimpleNamespace(app=app, url=f"http://127.0.0.1:{server.server_port}")
    server.shutdown()
    consumer.stop(graceful=True)
    with app.app_context():
        reset_database()
        db.engine.dispose()


def wait_for_jobs(app, timeout: float = 30.0) -> None:
    """Wait until no job is queued or running (a consumer must be running)."""
    import time

    from models.job import ACTIVE_STATES, Job

    deadline = time.monotonic() + timeout
    while True:
        with app.app_context():
            left = db.session.query(Job).filter(Job.state.in_([str(s) for s in ACTIVE_STATES])).count()
            db.session.remove()
        if not left:
            return
        assert time.monotonic() < deadline, f"{left} job(s) still unfinished after {timeout} s"
        time.sleep(0.05)


def live_session(base_url: str, email: str):
    """Log in to a live server with a fresh requests session."""
    import requests

    session = requests.Session()
    token = csrf_from(session.get(f"{base_url}/login", timeout=10).text)
    session.post(f"{base_url}/login", data={"csrf_token": token, "email": email, "password": f.PASSWORD},
                 timeout=10)
    return session


def post_all_at_once(url: str, submissions) -> list:
    """POST each (session, form data) from its own thread, released together by a barrier; return the responses
    (redirects followed, so each holds the page and flash its user saw), in submission order."""
    barrier = threading.Barrier(len(submissions))
    responses: list = [None] * len(submissions)

    def submit(index, session, data):
        barrier.wait()
        responses[index] = session.post(url, data=data, timeout=30)

    workers = [threading.Thread(target=submit, args=(i, *item)) for i, item in enumerate(submissions)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return responses


class QueueRunningClient(FlaskClient):
    """The screens' test client: after each request (and before following a redirect) the jobs it queued run,
    through the queue (enqueue, dequeue, execute) but in this thread, so screen tests read the finished result.

    The job layer itself is tested with real consumer threads and processes (tests/test_jobs.py), with
    ``RUN_QUEUE_AFTER_REQUEST`` off.
    """

    def _drain(self):
        if self.application.config.get("RUN_QUEUE_AFTER_REQUEST", True):
            from services.jobs import run_pending

            run_pending(self.application)

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        self._drain()
        return response

    def resolve_redirect(self, response, buffered=False):
        self._drain()
        return super().resolve_redirect(response, buffered=buffered)


@pytest.fixture
def app(smtp_server, soa_server, tmp_path):
    app = create_app({
        "TESTING": True,
        "HUEY_SQLITE_FILE": str(tmp_path / "queue.db"),
        "SQLALCHEMY_DATABASE_URI": TEST_DATABASE_URL,
        "FLASK_ADMIN_RAISE_ON_VIEW_EXCEPTION": True,
        "SECRET_KEY": "test-secret",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp_server.port,
        "MAIL_SUPPRESS_SEND": False,
        "MAIL_DEFAULT_SENDER": "Painel de Cobrança <nao-responda@painel.test>",
        "SOA_URL_SANDBOX": soa_server.url,
        "SOA_URL_HOMOLOGACAO": soa_server.url,
        "SOA_URL_PRODUCAO": soa_server.url,
        "SOA_CONNECT_TIMEOUT": 1.0,
        "SOA_READ_TIMEOUT": 1.0,
        # Tests log in (and fail to) many times; tests/test_security.py lowers these to prove the limit.
        "LOGIN_RATE_LIMIT": "1000 per minute",
        "LOGIN_RATE_LIMIT_PER_IP": "1000 per minute",
    })
    app.test_client_class = QueueRunningClient
    # Requests run in their own app context, as in production (fresh session, fresh ``g``); tests that
    # touch the database directly open one with ``app.app_context()``.
    with app.app_context():
        if ON_POSTGRES:
            reset_database()
        db.create_all()
    yield app
    with app.app_context():
        reset_database()
        db.engine.dispose()


def ref(obj) -> SimpleNamespace:
    """Copy a model's column values, so tests can use them outside the app context."""
    return SimpleNamespace(**{c.key: getattr(obj, c.key) for c in obj.__mapper__.column_attrs}, obj_type=type(obj))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def world(app):
    """Two agencies: A with an admin, a supervisor and two consultants, B with an admin and a consultant, plus
    data."""
    with app.app_context():
        return _build_world()


def _build_world():
    a = f.make_agency(name="Assessoria A")
    b = f.make_agency(name="Assessoria B")
    w = SimpleNamespace(a=a, b=b)
    w.admin_a = f.make_user(a, Role.ADMIN, name="Admin A")
    w.cons_a1 = f.make_user(a, Role.CONSULTANT, name="Consultor A1")
    w.cons_a2 = f.make_user(a, Role.CONSULTANT, name="Consultor A2")
    w.sup_a = f.make_user(a, Role.SUPERVISOR, name="Supervisora A")
    w.admin_b = f.make_user(b, Role.ADMIN, name="Admin B")
    w.cons_b = f.make_user(b, Role.CONSULTANT, name="Consultor B")
    w.creditor_a = f.make_creditor(a, name="Credor Alfa")
    w.creditor_b = f.make_creditor(b, name="Credor Beta")
    w.debtor_a1 = f.make_debtor(a, w.cons_a1, name="Devedor de A1")
    w.debtor_a2 = f.make_debtor(a, w.cons_a2, name="Devedor de A2")
    w.debtor_b = f.make_debtor(b, w.cons_b, name="Devedor de B")
    w.debt_a1 = f.make_debt(w.debtor_a1, w.creditor_a, contract_number="CT-A1")
    w.debt_a2 = f.make_debt(w.debtor_a2, w.creditor_a, contract_number="CT-A2")
    w.debt_b = f.make_debt(w.debtor_b, w.creditor_b, contract_number="CT-B")
    w.neg_a1 = f.make_negotiation(w.debtor_a1, w.creditor_a, debts=[w.debt_a1])
    w.neg_a2 = f.make_negotiation(w.debtor_a2, w.creditor_a, debts=[w.debt_a2])
    w.neg_b = f.make_negotiation(w.debtor_b, w.creditor_b, debts=[w.debt_b])
    w.meeting_a1 = f.make_meeting(w.cons_a1, w.creditor_a, subject="Reunião de A1")
    w.meeting_a2 = f.make_meeting(w.cons_a2, w.creditor_a, subject="Reunião de A2")
    w.meeting_b = f.make_meeting(w.cons_b, w.creditor_b, subject="Reunião de B")
    db.session.commit()
    return SimpleNamespace(**{k: ref(v) for k, v in vars(w).items()})


def csrf_from(html: str) -> str:
    found = CSRF_RE.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


class Auth:
    """Log in and out through the real login form (flaskr's AuthActions)."""

    def __init__(self, client):
        self.client = client

    def login(self, user_or_email, password=f.PASSWORD):
        email = getattr(user_or_email, "email", user_or_email)
        token = csrf_from(self.client.get("/login").text)
        return self.client.post("/login", data={"csrf_token": token, "email": email, "password": password})

    def logout(self):
        token = csrf_from(self.client.get("/logout").text)
        return self.client.post("/logout", data={"csrf_token": token})


@pytest.fixture
def auth(client):
    return Auth(client)


@pytest.fixture
def login_as(auth):
    def do(user):
        response = auth.login(user)
        assert response.status_code == 302, response.text
        return user
    return do


@pytest.fixture
def csrf_token(client):
    """GET a page and return the CSRF token of its first form."""
    def get(url: str) -> str:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return csrf_from(response.text)
    return get


@pytest.fixture
def queries(app):
    """Count the SQL statements sent to the database inside ``with queries() as q:``."""
    with app.app_context():
        engine = db.engine

    return lambda: QueryCounter(engine)
