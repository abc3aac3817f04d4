"""The factory and its configuration."""

import pytest

from app import DEV_CREDENTIALS_KEY, DEV_SECRET_KEY, Config, create_app


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
