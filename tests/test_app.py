"""The factory and its configuration."""

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from app import DEV_CREDENTIALS_KEY, DEV_SECRET_KEY, Config, create_app

REPO = Path(__file__).resolve().parents[1]


def test_factory_applies_overrides_and_defaults():
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.testing
    assert app.config["BABEL_DEFAULT_LOCALE"] == "pt_BR"
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert "admin" in app.extensions and "mail" in app.extensions and "sqlalchemy" in app.extensions


def test_default_database_is_sqlite_in_instance_folder():
    assert Config.SQLALCHEMY_DATABASE_URI.startswith("sqlite:///") or "DATABASE_URL" in __import__("os").environ


def test_production_refuses_development_secret_key():
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app({"APP_ENV": "production", "SECRET_KEY": DEV_SECRET_KEY, "SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_production_refuses_development_credentials_key():
    with pytest.raises(RuntimeError, match="CREDENTIALS_KEY"):
        create_app({"APP_ENV": "production", "SECRET_KEY": "a-real-secret", "CREDENTIALS_KEY": DEV_CREDENTIALS_KEY,
                    "SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_production_starts_with_real_secrets():
    from cryptography.fernet import Fernet

    app = create_app({"APP_ENV": "production", "SECRET_KEY": "a-real-secret",
                      "CREDENTIALS_KEY": Fernet.generate_key().decode(), "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["APP_ENV"] == "production"


def test_config_reads_environment(monkeypatch):
    import importlib

    import app as app_module

    monkeypatch.setenv("DATABASE_URL", "sqlite:////tmp/outro.db")
    monkeypatch.setenv("MAIL_PORT", "2525")
    monkeypatch.setenv("MAIL_USE_TLS", "true")
    monkeypatch.setenv("SOA_URL_SANDBOX", "http://127.0.0.1:5999")
    reloaded = importlib.reload(app_module)
    try:
        assert reloaded.Config.SQLALCHEMY_DATABASE_URI == "sqlite:////tmp/outro.db"
        assert reloaded.Config.MAIL_PORT == 2525
        assert reloaded.Config.MAIL_USE_TLS is True
        assert reloaded.Config.SOA_URL_SANDBOX == "http://127.0.0.1:5999"
    finally:
        monkeypatch.undo()
        importlib.reload(app_module)


# A production install (`pip install .`) has neither devtools/ nor the dev extra (aiosmtpd): the panel must start
# and offer its production commands without them. Run in a fresh interpreter where both cannot be imported.
_PRODUCTION_PROBE = """
import importlib.abc, json, sys

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("devtools", "aiosmtpd"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, NotInstalled())
from cryptography.fernet import Fernet
from app import create_app

app = create_app({"APP_ENV": sys.argv[1], "SECRET_KEY": "a-real-secret",
                  "CREDENTIALS_KEY": Fernet.generate_key().decode(), "SQLALCHEMY_DATABASE_URI": "sqlite://"})
print(json.dumps({"commands": sorted(app.cli.commands),
                  "loaded": sorted(m for m in sys.modules if m.partition(".")[0] in ("devtools", "aiosmtpd"))}))
"""


def _probe(app_env: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("APP_ENV", "SECRET_KEY", "CREDENTIALS_KEY")}
    return subprocess.run([sys.executable, "-c", _PRODUCTION_PROBE, app_env], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def test_production_starts_without_devtools_and_offers_only_production_commands():
    probe = _probe("production")
    assert probe.returncode == 0, probe.stderr
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    assert result["loaded"] == []
    assert {"create-agency", "create-admin", "serasa"} <= set(result["commands"])
    assert not {"demo-data", "soa-sandbox", "mail-catcher", "dev-server"} & set(result["commands"])


def test_development_offers_the_dev_commands():
    app = create_app({"APP_ENV": "development", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert {"create-agency", "create-admin", "serasa", "demo-data", "soa-sandbox", "mail-catcher",
            "dev-server"} <= set(app.cli.commands)


def test_production_package_leaves_devtools_and_aiosmtpd_out():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "devtools" not in project["tool"]["setuptools"]["packages"]
    assert not [d for d in project["project"]["dependencies"] if d.startswith("aiosmtpd")]
    assert [d for d in project["project"]["optional-dependencies"]["dev"] if d.startswith("aiosmtpd")]


def test_demo_data_offers_every_role_and_its_logins_work(app, client, auth):
    """`make run`'s demo: each login it prints opens the panel; the supervisor sees both consultants' portfolios
    but not Serasa actions."""
    from devtools.demo import DEMO_PASSWORD, LOGINS, load_demo_data
    from models import Debt, User, db
    from models.agency import Role

    with app.app_context():
        assert load_demo_data(size=10) is True
        roles = {u.email: u.role for u in db.session.scalars(db.select(User))}
        demo_consultants = {u.id for u in db.session.scalars(db.select(User).where(
            User.role == Role.CONSULTANT, User.email.like("%@demo.com.br")))}
        owners = {d.consultant_id for d in db.session.scalars(db.select(Debt).join(Debt.debtor).where(
            Debt.consultant_id.in_(demo_consultants)))}
    assert {Role(r) for r in roles.values()} == set(Role)
    assert owners == demo_consultants and len(owners) == 2
    for _agency, email, _label in LOGINS:
        assert auth.login(email, DEMO_PASSWORD).status_code == 302, email
        assert client.get("/admin/").status_code == 200
        auth.logout()
    assert roles["supervisora@demo.com.br"] == Role.SUPERVISOR
    auth.login("supervisora@demo.com.br", DEMO_PASSWORD)
    page = client.get("/admin/debt/")
    assert page.status_code == 200
    with app.app_context():
        contracts = [d.contract_number for d in db.session.scalars(db.select(Debt).where(
            Debt.consultant_id.in_(demo_consultants)).order_by(Debt.id))]
    seen = [c for c in contracts if c in page.text]
    assert seen, "the supervisor's Dívidas list shows the demo debts"
    assert client.get("/admin/debt/negativate/").status_code == 403
