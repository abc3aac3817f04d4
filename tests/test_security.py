"""Hardening: login rate limit, security headers, secure cookies, NUL guard, the SOA password never leaking,
the audit trail, /healthz, and production serving (make serve: gunicorn with several workers)."""

import json
import logging
import os
import re
import signal
import subprocess
import time
import traceback
import urllib.request
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from flask import got_request_exception
from sqlalchemy import String, Text, select

from admin_views.security import CONTENT_SECURITY_POLICY, RATE_LIMITED_MESSAGE
from app import create_app
from integrations.soa_sandbox import SandboxServer
from models import Agency, AuditLog, Meeting, db
from tests.conftest import Auth, csrf_from, free_port
from tests.factories import PASSWORD

ROOT = Path(__file__).resolve().parents[1]


def _fail_login(client, email, password="senha-errada"):
    token = csrf_from(client.get("/login").text)
    return client.post("/login", data={"csrf_token": token, "email": email, "password": password})


def _production_app(**extra):
    return create_app({"APP_ENV": "production", "SECRET_KEY": "a-real-secret", "SQLALCHEMY_DATABASE_URI": "sqlite://",
                       "CREDENTIALS_KEY": Fernet.generate_key().decode(), **extra})


# --- login rate limit ----------------------------------------------------------------------------------------


def test_login_is_blocked_after_repeated_failures_with_a_portuguese_page(app, client, world):
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    for _ in range(3):
        assert _fail_login(client, world.admin_a.email).status_code == 401
    blocked = _fail_login(client, world.admin_a.email, PASSWORD)  # even the right password waits now
    assert blocked.status_code == 429
    assert RATE_LIMITED_MESSAGE in blocked.text and "Muitas tentativas" in blocked.text
    assert int(blocked.headers["Retry-After"]) > 0
    assert "Too Many Requests" not in blocked.text
    assert client.get("/admin/").status_code == 302
    # Another user behind the same address is not locked out by someone hammering the first e-mail.
    assert Auth(client).login(world.cons_a1).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_successful_logins_do_not_use_up_the_limit(app, client, world):
    app.config["LOGIN_RATE_LIMIT"] = "2 per minute"
    auth = Auth(client)
    for _ in range(5):
        assert auth.login(world.admin_a).status_code == 302
        assert auth.logout().status_code == 302


def test_the_address_limit_counts_failures_across_emails(app, client, world):
    app.config["LOGIN_RATE_LIMIT_PER_IP"] = "3 per minute"
    for n in range(3):
        assert _fail_login(client, f"tentativa{n}@ataque.com").status_code == 401
    assert _fail_login(client, "outra@ataque.com").status_code == 429
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "10.0.0.9"
    assert Auth(elsewhere).login(world.admin_a).status_code == 302


def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(app, world):
    app.config["LOGIN_RATE_LIMIT"] = "2 per minute"
    client = app.test_client()
    for n in range(2):
        client.environ_base["HTTP_X_FORWARDED_FOR"] = f"203.0.113.{n}"
        assert _fail_login(client, world.admin_a.email).status_code == 401
    client.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.99"  # a forged header does not reset the count
    assert _fail_login(client, world.admin_a.email).status_code == 429


def test_behind_a_trusted_proxy_each_client_address_counts_apart(app):
    proxied = create_app(dict(app.config, TRUSTED_PROXIES=1, LOGIN_RATE_LIMIT="1 per minute"))
    with proxied.app_context():
        db.create_all()
    client = proxied.test_client()
    client.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.1"
    assert _fail_login(client, "alguem@ag.com.br").status_code == 401
    assert _fail_login(client, "alguem@ag.com.br").status_code == 429
    client.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.2"
    assert _fail_login(client, "alguem@ag.com.br").status_code == 401
    with proxied.app_context():
        db.engine.dispose()  # a second engine on the test database: close its connections


def test_an_empty_limit_switches_it_off(app, client, world):
    app.config.update(LOGIN_RATE_LIMIT="", LOGIN_RATE_LIMIT_PER_IP="")
    for _ in range(15):
        assert _fail_login(client, world.admin_a.email).status_code == 401


def test_default_limits_are_ten_per_address_and_email():
    configured = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert configured.config["LOGIN_RATE_LIMIT"] == "10 per minute"
    assert configured.config["RATELIMIT_STORAGE_URI"] == "memory://"


# --- headers, cookies, request sanity ---------------------------------------------------------------------


def _assert_hardened(response, production=False):
    headers = response.headers
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert ("Strict-Transport-Security" in headers) == production


def test_every_kind_of_response_carries_the_security_headers(client, world, login_as):
    _assert_hardened(client.get("/login"))
    _assert_hardened(client.get("/admin/"))  # a redirect
    _assert_hardened(client.get("/healthz"))
    with client.get("/admin/static/bootstrap/bootstrap4/css/bootstrap.min.css") as static:
        _assert_hardened(static)
    login_as(world.admin_a)
    for url in ("/admin/", "/admin/debtor/", "/admin/debtor/export/csv/", "/admin/debt/ajax/lookup/?name=debtor&query=",
                "/admin/nada/", f"/admin/debtor/details/?id={world.debtor_b.id}"):
        response = client.get(url)
        _assert_hardened(response)
        assert response.headers["Cache-Control"] == "no-store", url


def test_hsts_only_in_production():
    production = _production_app()
    _assert_hardened(production.test_client().get("/login", base_url="https://painel.example"), production=True)


def test_csp_allows_everything_the_pages_load(client, world, login_as):
    """Every script and stylesheet is ours (same origin), and no page needs inline script (tests/test_xss.py)."""
    policy = dict(part.split(" ", 1) for part in CONTENT_SECURITY_POLICY.split("; "))
    assert policy["script-src"] == "'self'"
    login_as(world.admin_a)
    inline_handlers = 0
    for url in ("/admin/", "/admin/meeting/", f"/admin/meeting/details/?id={world.meeting_a1.id}",
                "/admin/meeting/new/", "/admin/debt/", "/admin/profile/?tab=serasa", "/login"):
        page = client.get(url).text
        for asset in re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page):
            assert asset.startswith("/") and not asset.startswith("//"), (url, asset)
            with client.get(asset) as response:  # static files are streamed from open files
                assert response.status_code == 200, asset
        inline_handlers += len(re.findall(r"\son[a-z]+=", page))
    assert inline_handlers == 0


def test_cookies_are_secure_outside_development():
    production = _production_app()
    with production.app_context():
        db.create_all()
    response = production.test_client().get("/login", base_url="https://painel.example")
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert production.config["REMEMBER_COOKIE_SECURE"] is True
    staging = create_app({"APP_ENV": "homologacao", "SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "y",
                          "CREDENTIALS_KEY": Fernet.generate_key().decode()})
    assert staging.config["SESSION_COOKIE_SECURE"] is True
    development = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert development.config["SESSION_COOKIE_SECURE"] is False  # http://127.0.0.1 must keep working
    explicit = create_app({"APP_ENV": "production", "SESSION_COOKIE_SECURE": False, "SECRET_KEY": "x",
                           "CREDENTIALS_KEY": Fernet.generate_key().decode(), "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert explicit.config["SESSION_COOKIE_SECURE"] is False


def test_line_breaks_in_return_addresses_are_refused_not_a_500(client, world, login_as, csrf_token):
    """Found by the URL fuzz: Flask-Admin redirected to ?url=%0A and Werkzeug refused the Location header."""
    login_as(world.admin_a)
    for url in ("/admin/debt/details/?url=%0A", "/admin/creditor/edit/?url=/admin/%0D%0ASet-Cookie:x=1",
                "/login?next=/admin/%0A"):
        response = client.get(url)
        assert response.status_code == 400, url
        assert "endereço de retorno" in response.text
    token = csrf_token("/admin/creditor/")
    response = client.post("/admin/creditor/delete/", data={"csrf_token": token, "id": world.creditor_a.id,
                                                            "url": "/admin/\n"})
    assert response.status_code == 400
    assert client.get("/admin/debt/details/?url=/admin/debt/%3Fpage%3D2").status_code == 302  # still followed


def test_nul_characters_are_refused_before_reaching_the_database(app, client, world, login_as, csrf_token):
    login_as(world.admin_a)
    for url in ("/admin/debtor/?search=a%00b", "/admin/debt/?flt0_0=%00", "/admin/debtor/details/?id=1%00"):
        response = client.get(url)
        assert response.status_code == 400, url
        assert "caracteres não permitidos" in response.text
    token = csrf_token("/admin/creditor/new/")
    response = client.post("/admin/creditor/new/", data={"csrf_token": token, "name": "Credor\x00Nulo",
                                                         "cnpj": "11222333000181"})
    assert response.status_code == 400
    with app.app_context():
        assert not db.session.execute(db.text("SELECT 1 FROM creditor WHERE name LIKE 'Credor%Nulo'")).first()


# --- the SOA password ------------------------------------------------------------------------------------

SOA_PASSWORD = "Zq7-SenhaSOA-Inconfundivel-91x"
SOA_EMAIL = "conta@soa.teste"


@pytest.fixture
def own_sandbox(app):
    """A sandbox whose account has a distinctive password, wired to every SOA environment of the app."""
    with SandboxServer(port=0, activation_delay=0, accounts={SOA_EMAIL: SOA_PASSWORD}) as sandbox:
        for key in ("SOA_URL_SANDBOX", "SOA_URL_HOMOLOGACAO", "SOA_URL_PRODUCAO"):
            app.config[key] = sandbox.url
        yield sandbox


def _exercise_everything(app, client, world):
    """Save the password, use it every way the panel can, and return every response body and header."""
    seen = []

    def keep(response):
        seen.append(response.get_data(as_text=True))
        seen.extend(f"{k}: {v}" for k, v in response.headers.items())
        return response

    def serasa(**fields):
        page = keep(client.get("/admin/profile/?tab=serasa")).text
        data = {"csrf_token": csrf_from(page), "serasa_enabled": "1", "soa_email": SOA_EMAIL,
                "soa_password": SOA_PASSWORD, "soa_environment": "sandbox", "soa_low_balance": "20,00",
                "action": "save"} | fields
        return keep(client.post("/admin/profile/serasa/", data=data))

    assert serasa(soa_email="não é e-mail").status_code == 400  # refused with the password typed
    assert serasa().status_code == 302
    assert "Saldo disponível" in serasa(soa_password="", action="test").text
    assert "Saldo disponível" in serasa(action="test").text  # typed again, not saved
    assert "Falha no teste de conexão" in serasa(soa_password=SOA_PASSWORD + "-errada", action="test").text
    if "debt.negativate_view" in app.view_functions:  # include one debt at Serasa with the saved password
        page = keep(client.get(f"/admin/debt/negativate/?rowid={world.debt_a1.id}")).text
        keep(client.post("/admin/debt/negativate/", data={"csrf_token": csrf_from(page), "rowid": world.debt_a1.id,
                                                          "restriction_code": "1"}))
    if "negativation.sync_view" in app.view_functions:
        token = csrf_from(keep(client.get("/admin/negativation/")).text)
        keep(client.post("/admin/negativation/sync/", data={"csrf_token": token}))
    if "negativation.exclude_view" in app.view_functions:  # and ask for its removal (baixa)
        with app.app_context():
            record_ids = db.session.execute(db.text("SELECT id FROM negativation")).scalars().all()
        for record_id in record_ids:
            url = f"/admin/negativation/exclude/?id={record_id}"
            page = keep(client.get(url)).text
            picks = {name: re.search(rf'<select[^>]*name="{name}"[^>]*>.*?<option[^>]*value="([^"]+)"', page, re.S)
                     for name in ("motive", "code")}
            keep(client.post(url, data={"csrf_token": csrf_from(page), "note": "teste",
                                        **{k: m.group(1) for k, m in picks.items() if m}}))
    views = app.extensions["admin"][0]._views
    for view in views:
        for url in (f"/admin/{view.endpoint}/", f"/admin/{view.endpoint}/export/csv/", f"/admin/{view.endpoint}/?search=a"):
            keep(client.get(url))
    with app.app_context():
        audit_ids = db.session.scalars(select(AuditLog.id).where(AuditLog.agency_id == world.a.id)).all()
    for audit_id in audit_ids:
        keep(client.get(f"/admin/audit/details/?id={audit_id}"))
    keep(client.get("/admin/profile/"))
    return seen


def test_soa_password_is_never_shown_logged_raised_or_stored_in_clear(app, client, world, login_as, own_sandbox,
                                                                     caplog):
    caplog.set_level(logging.DEBUG)
    raised = []
    got_request_exception.connect(lambda sender, exception, **kw: raised.append(repr(exception)), app, weak=False)
    login_as(world.admin_a)
    seen = _exercise_everything(app, client, world)

    leaks = [text[:200] for text in seen if SOA_PASSWORD in text]
    assert not leaks, leaks
    assert SOA_PASSWORD not in caplog.text
    for record in caplog.records:
        assert SOA_PASSWORD not in record.getMessage() and SOA_PASSWORD not in (record.exc_text or "")
    assert not raised, raised
    with app.app_context():
        agency = db.session.get(Agency, world.a.id)
        assert agency.soa_password(app.config["CREDENTIALS_KEY"]) == SOA_PASSWORD  # it was really saved
        found = []
        for table in db.metadata.sorted_tables:
            for column in table.columns:
                if isinstance(column.type, String | Text):
                    for (value,) in db.session.execute(select(column)):
                        if value and SOA_PASSWORD in value:
                            found.append(f"{table.name}.{column.name}")
        assert not found, found
        calls = db.session.execute(db.text("SELECT count(*) FROM soa_call WHERE agency_id = :a"),
                                   {"a": world.a.id}).scalar()
        assert calls >= 3  # the SoaCall log was really exercised (and holds no password)


def test_soa_errors_never_carry_the_password(app, own_sandbox):
    from integrations.serasa import SerasaError
    from services.serasa import client_for

    def failure(password):
        with pytest.raises(SerasaError) as caught:
            client_for(agency, password=password).balance()
        return "".join(traceback.format_exception(caught.value)) + repr(caught.value.args)

    with app.test_request_context():
        agency = Agency(id=999, name="X", soa_email=SOA_EMAIL, soa_environment="sandbox")
        wrong_password = failure(SOA_PASSWORD + "-errada")
        own_sandbox.stop()
        service_down = failure(SOA_PASSWORD)
        db.session.rollback()
    assert "senha" in wrong_password.lower() and SOA_PASSWORD not in wrong_password
    assert SOA_PASSWORD not in service_down


# --- audit trail ------------------------------------------------------------------------------------------


def _audit(app, **filters):
    with app.app_context():
        rows = db.session.scalars(select(AuditLog).filter_by(**filters).order_by(AuditLog.id)).all()
        db.session.expunge_all()
        return rows


def test_logins_profile_changes_and_sends_are_audited(app, client, world, auth, smtp):
    auth.login(world.admin_a, "senha-errada")
    auth.login(world.admin_a)
    page = client.get("/admin/profile/").text
    client.post("/admin/profile/geral/", data={"csrf_token": csrf_from(page), "name": "Assessoria A Renomeada",
                                               "timezone": "America/Manaus"})
    client.post("/admin/profile/reunioes/", data={"csrf_token": csrf_from(page), "meetings_enabled": "1"})
    client.post("/admin/profile/serasa/", data={"csrf_token": csrf_from(page), "serasa_enabled": "0",
                                                "soa_email": "x@soa.com.br", "soa_password": SOA_PASSWORD,
                                                "soa_environment": "sandbox", "action": "save"})
    url = f"/admin/meeting/send/?id={world.meeting_a1.id}&kind=invite"
    send = client.get(url).text
    nonce = re.search(r'name="nonce" type="hidden" value="([^"]*)"', send).group(1)
    assert client.post(url, data={"csrf_token": csrf_from(send), "nonce": nonce,
                                  "recipients": "a@credor.com.br"}).status_code == 302
    auth.logout()

    actions = [(a.action, a.target) for a in _audit(app, agency_id=world.a.id, user_id=world.admin_a.id)]
    assert actions == [("login.failed", None), ("login", None), ("profile.update", "Perfil > Geral"),
                       ("profile.update", "Perfil > Reuniões"), ("profile.update", "Perfil > Serasa (SOA WS)"),
                       ("meeting.invite", f"meeting #{world.meeting_a1.id}"), ("logout", None)]
    entries = _audit(app, agency_id=world.a.id)
    assert all(e.ip == "127.0.0.1" and e.created_at for e in entries)
    assert "a@credor.com.br" in entries[-2].details and "Assessoria A Renomeada" in entries[2].details
    assert "senha=alterada" in entries[4].details and SOA_PASSWORD not in " ".join(e.details or "" for e in entries)
    with app.app_context():
        assert db.session.get(Meeting, world.meeting_a1.id).invite_sent_at is not None


# --- /healthz and production serving ------------------------------------------------------------------------


def test_healthz_answers_without_login_or_session(client, world):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json["status"] == "ok"
    # The job queue, for a monitor: counts and ages only, no agency's data.
    assert set(response.json["queue"]) == {"queue_reachable", "queued_messages", "jobs_waiting", "jobs_running",
                                           "oldest_waiting_seconds", "consumer_heartbeat_seconds_ago"}
    assert "Set-Cookie" not in response.headers


def test_healthz_reports_a_broken_database_as_503(tmp_path, caplog):
    broken = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/nao/existe/painel.db"})
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503 and response.json == {"status": "erro"}
    assert "database unavailable (OperationalError)" in caplog.text


def test_healthz_is_exempt_from_rate_limits():
    limited = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", "RATELIMIT_DEFAULT": "2 per minute"})
    client = limited.test_client()
    assert [client.get("/healthz").status_code for _ in range(5)] == [200] * 5
    assert [client.get("/login").status_code for _ in range(3)] == [200, 200, 429]  # the default applies elsewhere


def _serve_command() -> str:
    """The command `make serve` runs (make -n prints it without running the install step or the server)."""
    printed = subprocess.run(["make", "-n", "serve"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    printed = printed.replace("\\\n", " ")
    command = next(line for line in printed.splitlines() if ".venv/bin/gunicorn" in line).strip()
    assert "--workers" in command and "app:create_app()" in command
    return command


def _get(url, timeout=1.0):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, dict(response.headers), response.read().decode()


@pytest.mark.parametrize("given", [{}, {"SECRET_KEY": "segredo-de-teste-longo"},
                                   {"APP_ENV": "homologacao", "SECRET_KEY": "segredo-de-teste-longo"}],
                         ids=["nothing", "no-credentials-key", "staging-without-credentials-key"])
def test_make_serve_refuses_to_start_without_its_own_keys(tmp_path, given):
    """A forgotten variable must stop the server, never serve with the public development keys."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("APP_ENV", "SECRET_KEY", "CREDENTIALS_KEY")}
    env.update(given, DATABASE_URL=f"sqlite:///{tmp_path}/painel.db", WEB_CONCURRENCY="1", BIND=f"127.0.0.1:{port}",
               PYTHONPATH=str(ROOT))
    server = subprocess.run(["bash", "-c", "exec env " + _serve_command()], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60, start_new_session=True)
    output = server.stdout + server.stderr
    assert server.returncode != 0, output
    missing = "CREDENTIALS_KEY" if "SECRET_KEY" in given else "SECRET_KEY"
    assert f"{missing} precisa ser definido em {given.get('APP_ENV', 'production')}" in output, output


def test_without_app_env_the_app_is_production(monkeypatch):
    import importlib

    import app as app_module

    monkeypatch.delenv("APP_ENV", raising=False)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("CREDENTIALS_KEY", raising=False)
    reloaded = importlib.reload(app_module)
    try:
        assert reloaded.Config.APP_ENV == "production"
        with pytest.raises(RuntimeError, match="SECRET_KEY precisa ser definido em production"):
            reloaded.create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    finally:
        monkeypatch.undo()
        importlib.reload(app_module)


def test_make_serve_runs_several_gunicorn_workers_in_production_mode(tmp_path):
    port = free_port()
    env = dict(os.environ, APP_ENV="production", SECRET_KEY="segredo-de-teste-longo",
               CREDENTIALS_KEY=Fernet.generate_key().decode(), DATABASE_URL=f"sqlite:///{tmp_path}/painel.db",
               WEB_CONCURRENCY="2", BIND=f"127.0.0.1:{port}", PYTHONPATH=str(ROOT))
    server = subprocess.Popen(["bash", "-c", "exec env " + _serve_command()], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, headers, body = _get(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                assert server.poll() is None, server.stdout.read().decode()
                assert time.monotonic() < deadline, "gunicorn did not answer in 30 s"
                time.sleep(0.2)
        assert status == 200 and json.loads(body)["status"] == "ok"
        assert headers["Strict-Transport-Security"].startswith("max-age=")
        status, headers, body = _get(f"http://127.0.0.1:{port}/login")
        assert status == 200 and "Acesso ao painel" in body and "Secure" in headers["Set-Cookie"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output = server.communicate(timeout=30)[0].decode()
    assert output.count("Booting worker") == 2, output
