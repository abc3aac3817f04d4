"""Painel de Cobrança: configuration from the environment and the application factory."""

import os
from datetime import timedelta

from flask import Flask
from flask_babel import Babel
from flask_migrate import Migrate

from admin_views import init_admin
from admin_views.feed import init_feed
from admin_views.security import init_security
from integrations.mail import mail
from integrations.soa_api import BASE_URLS as SOA_BASE_URLS
from models import db
from models.timeutil import DEFAULT_TIMEZONE
from services import jobs
from services.cli import register_commands

#: Public development-only keys, used only when APP_ENV=development (`make run`, `make test`); every other
#: environment must bring its own SECRET_KEY and CREDENTIALS_KEY and refuses to start with these.
DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"
DEV_CREDENTIALS_KEY = "qadCO9dSxktNVdQnovLb-EBrxF9un4g64GXA_rYSV8s="

babel = Babel()
migrate = Migrate()


def _bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "sim", "on"}


class Config:
    """Settings read from environment variables, with development defaults."""

    #: Production unless told otherwise: a forgotten variable must not serve with public development keys.
    APP_ENV = os.environ.get("APP_ENV", "production")
    SECRET_KEY = os.environ.get("SECRET_KEY")
    CREDENTIALS_KEY = os.environ.get("CREDENTIALS_KEY")
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL", "sqlite:///painel.db")
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    #: HTTPS-only cookies everywhere but development (create_app re-derives it from the final APP_ENV).
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", APP_ENV != "development")
    REMEMBER_COOKIE_HTTPONLY = True
    PERMANENT_SESSION_LIFETIME = timedelta(hours=8)

    BABEL_DEFAULT_LOCALE = "pt_BR"
    BABEL_DEFAULT_TIMEZONE = DEFAULT_TIMEZONE

    MAIL_SERVER = os.environ.get("MAIL_SERVER", "127.0.0.1")
    MAIL_PORT = int(os.environ.get("MAIL_PORT", "1025"))
    MAIL_USE_TLS = _bool("MAIL_USE_TLS")
    MAIL_USE_SSL = _bool("MAIL_USE_SSL")
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "Painel de Cobrança <nao-responda@painel.local>")
    MAIL_TIMEOUT = float(os.environ.get("MAIL_TIMEOUT", "15"))
    MAIL_MAX_RECIPIENTS = int(os.environ.get("MAIL_MAX_RECIPIENTS", "30"))
    #: Meeting e-mails (one per recipient) a user may send per hour, and an agency per 24 h (0 = no limit).
    MAIL_LIMIT_PER_USER_HOUR = int(os.environ.get("MAIL_LIMIT_PER_USER_HOUR", "100"))
    MAIL_LIMIT_PER_AGENCY_DAY = int(os.environ.get("MAIL_LIMIT_PER_AGENCY_DAY", "1000"))
    #: A meeting send still "pending" with no sign of life for this long was interrupted: a consumer resumes it.
    MAIL_RESUME_AFTER_SECONDS = float(os.environ.get("MAIL_RESUME_AFTER_SECONDS", "300"))

    SOA_URL_PRODUCAO = os.environ.get("SOA_URL_PRODUCAO", SOA_BASE_URLS["producao"])
    SOA_URL_HOMOLOGACAO = os.environ.get("SOA_URL_HOMOLOGACAO", SOA_BASE_URLS["homologacao"])
    SOA_URL_SANDBOX = os.environ.get("SOA_URL_SANDBOX", SOA_BASE_URLS["sandbox"])
    SOA_CONNECT_TIMEOUT = float(os.environ.get("SOA_CONNECT_TIMEOUT", "3.05"))
    SOA_READ_TIMEOUT = float(os.environ.get("SOA_READ_TIMEOUT", "20"))
    #: Price of one inclusion on the agency's prepaid plan (R$); 0 = only look at the balance, never block on it.
    SOA_INCLUSION_COST = os.environ.get("SOA_INCLUSION_COST", "0")
    #: Simultaneous calls to SOA in a bulk inclusion (bounded: SOA is a shared service).
    SOA_MAX_CONCURRENCY = int(os.environ.get("SOA_MAX_CONCURRENCY", "32"))
    #: SOA answers arriving within this many milliseconds are committed together (group commit; 0: one by one).
    SOA_COMMIT_WINDOW_MS = float(os.environ.get("SOA_COMMIT_WINDOW_MS", "20"))
    #: Records per agency that one "Atualizar situação" / `flask serasa sync` run asks SOA about.
    SERASA_SYNC_LIMIT = int(os.environ.get("SERASA_SYNC_LIMIT", "200"))

    #: Where the development mail catcher (make run) saves every message as .eml.
    MAIL_CATCHER_DIR = os.environ.get("MAIL_CATCHER_DIR", "instance/mail_outbox")
    FLASK_ADMIN_RAISE_ON_INTEGRITY_ERROR = False

    #: Failed logins allowed per client IP + e-mail, and per client IP (Flask-Limiter syntax; empty = off).
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute")
    LOGIN_RATE_LIMIT_PER_IP = os.environ.get("LOGIN_RATE_LIMIT_PER_IP", "50 per minute")
    #: Where the counters live: memory:// is per process; use e.g. redis://host:6379 for several workers.
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    #: Number of reverse proxies in front of the app whose X-Forwarded-For/-Proto are trusted.
    TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0"))
    #: Requests per client IP to a private calendar feed (Flask-Limiter syntax; empty = off).
    FEED_RATE_LIMIT = os.environ.get("FEED_RATE_LIMIT", "60 per minute")

    #: Largest carteira (CSV/XLSX) an upload may have, in bytes; uploads are kept in IMPORT_DIR (instance/imports).
    IMPORT_MAX_BYTES = int(os.environ.get("IMPORT_MAX_BYTES", str(50 * 1024 * 1024)))
    IMPORT_DIR = os.environ.get("IMPORT_DIR") or None
    #: A list export of more rows than this is written to a file by a job (services/exports.py) instead of being
    #: streamed by the request: the request counts at most this many rows + 1, never the whole list.
    EXPORT_JOB_THRESHOLD = int(os.environ.get("EXPORT_JOB_THRESHOLD", "20000"))
    #: Where the export jobs write their files (default instance/exports), and how long a file is kept.
    EXPORT_DIR = os.environ.get("EXPORT_DIR") or None
    EXPORT_RETENTION_DAYS = float(os.environ.get("EXPORT_RETENTION_DAYS", "7"))

    #: The job queue (services/jobs.py): Redis when set (several consumers, several machines), else a SQLite file.
    REDIS_URL = os.environ.get("REDIS_URL") or None
    HUEY_SQLITE_FILE = os.environ.get("HUEY_SQLITE_FILE") or None  # default: instance/huey.db
    #: The queue's name (its keys on Redis): installations sharing one Redis need different names.
    HUEY_NAME = os.environ.get("HUEY_NAME", "painel")
    #: Threads of one consumer (`flask worker`, the in-process one of `make run`).
    JOB_WORKERS = int(os.environ.get("JOB_WORKERS", "2"))
    #: A running job without a heartbeat this long belongs to a dead consumer: another one takes it over.
    JOB_STALE_SECONDS = float(os.environ.get("JOB_STALE_SECONDS", "60"))
    #: Agency-local times (HH:MM, comma-separated) of the automatic Serasa status sync; empty = off.
    SERASA_SYNC_TIMES = os.environ.get("SERASA_SYNC_TIMES", "07:00,13:00,19:00")
    #: Minutes between automatic retries of due exclusions and the 5-year expiry check; 0 = off.
    SERASA_EXCLUSION_RETRY_MINUTES = int(os.environ.get("SERASA_EXCLUSION_RETRY_MINUTES", "30"))


def _check_keys(app: Flask) -> None:
    """Development gets the public development keys; any other environment refuses to start without its own."""
    if app.config["APP_ENV"] == "development":
        app.config["SECRET_KEY"] = app.config.get("SECRET_KEY") or DEV_SECRET_KEY
        app.config["CREDENTIALS_KEY"] = app.config.get("CREDENTIALS_KEY") or DEV_CREDENTIALS_KEY
        return
    env = app.config["APP_ENV"]
    if app.config.get("SECRET_KEY") in (DEV_SECRET_KEY, "", None):
        raise RuntimeError(f"SECRET_KEY precisa ser definido em {env} (não use a chave de desenvolvimento; "
                           "APP_ENV=development só para make run e make test).")
    if app.config.get("CREDENTIALS_KEY") in (DEV_CREDENTIALS_KEY, "", None):
        raise RuntimeError(f"CREDENTIALS_KEY precisa ser definido em {env} (não use a chave de desenvolvimento; "
                           "APP_ENV=development só para make run e make test).")


def _secure_cookies(app: Flask, config: dict | None) -> None:
    """Mark cookies Secure outside development, unless SESSION_COOKIE_SECURE was set explicitly."""
    if "SESSION_COOKIE_SECURE" not in os.environ and "SESSION_COOKIE_SECURE" not in (config or {}):
        app.config["SESSION_COOKIE_SECURE"] = app.config["APP_ENV"] != "development"
    app.config.setdefault("REMEMBER_COOKIE_SECURE", app.config["SESSION_COOKIE_SECURE"])


def create_app(config: dict | None = None) -> Flask:
    """Create and configure the admin panel application."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(Config)
    if config:
        app.config.update(config)
    _check_keys(app)
    _secure_cookies(app, config)
    os.makedirs(app.instance_path, exist_ok=True)

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(app.root_path, "migrations"))
    mail.init_app(app)
    babel.init_app(app)
    init_admin(app)
    init_security(app)
    init_feed(app)
    jobs.init_app(app)
    import services.exports  # noqa: F401  (registers the export job kind and the files' expiry)
    import services.meetings  # noqa: F401  (registers the resumption of interrupted meeting e-mails)
    import services.serasa_jobs  # noqa: F401  (registers the Serasa job kinds and their schedule)
    register_commands(app)
    return app
