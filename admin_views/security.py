"""HTTP hardening: login rate limit, security headers, request sanity checks, proxy trust and /healthz."""

import logging
import re

from flask import Blueprint, current_app, jsonify, render_template, request
from flask_limiter import Limiter
from sqlalchemy import text
from werkzeug.middleware.proxy_fix import ProxyFix

from models import db

log = logging.getLogger(__name__)

bp = Blueprint("ops", __name__)

#: Scripts come only from the panel's own static files: no inline <script>, no on* attributes, no
#: javascript: URLs, no eval. Pages pass data to static/panel.js in data-* attributes (or JSON inside
#: a non-executable <script type="application/json">), so a stored value can never become code.
#: Flask-Admin's templates that had inline handlers are overridden in templates/admin/. Styles keep
#: 'unsafe-inline' (Flask-Admin and select2 set style attributes; CSS cannot run script).
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "script-src-attr 'none'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
HSTS = "max-age=31536000; includeSubDomains"
RATE_LIMITED_MESSAGE = "Muitas tentativas de acesso sem sucesso. Por segurança, aguarde um minuto e tente novamente."
NUL_MESSAGE = "Requisição inválida: o texto enviado contém caracteres não permitidos (NUL)."
RETURN_URL_MESSAGE = "Requisição inválida: o endereço de retorno contém caracteres não permitidos."
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def client_ip() -> str:
    """The caller's address (the proxy's, unless TRUSTED_PROXIES tells how many proxies to look through)."""
    return request.remote_addr or "desconhecido"


def _ip_and_email() -> str:
    email = (request.form.get("email") or "").strip().casefold()[:254]
    return f"{client_ip()}|{email}"


def _login_failed(response) -> bool:
    # Only failed attempts count: a user who logs in and out all day is never locked out.
    return response.status_code != 302


def _config_limit(name: str):
    def provider() -> str:
        return current_app.config.get(name) or "1 per second"  # unused: exempt_when skips an empty limit
    return provider


def _config_disabled(name: str):
    return lambda: not current_app.config.get(name)


def _limit_login(app, limiter: Limiter) -> None:
    """Wrap the login view with two failure-counting limits: per IP + e-mail, and per IP."""
    view = app.view_functions["auth.login"]
    for name, key in (("LOGIN_RATE_LIMIT_PER_IP", client_ip), ("LOGIN_RATE_LIMIT", _ip_and_email)):
        view = limiter.limit(_config_limit(name), key_func=key, methods=["POST"], deduct_when=_login_failed,
                             exempt_when=_config_disabled(name), error_message=RATE_LIMITED_MESSAGE)(view)
    app.view_functions["auth.login"] = view


def init_security(app) -> Limiter:
    """Install the limiter, headers and checks on ``app``; return its limiter."""
    if app.config.get("TRUSTED_PROXIES"):
        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    # One limiter per app (not a module global): Flask-Limiter keeps its storage and switches on the
    # instance, and tests run many apps in one process.
    limiter = Limiter(client_ip, app=app, headers_enabled=True, strategy="moving-window")
    app.extensions["panel_limiter"] = limiter
    app.register_blueprint(bp)
    limiter.exempt(bp)
    _limit_login(app, limiter)
    app.before_request(_reject_unsafe_parameters)
    app.after_request(_security_headers)
    app.register_error_handler(429, _too_many_requests)
    return limiter


def _reject_unsafe_parameters():
    """Refuse what would only fail later as a 500: NUL characters anywhere (PostgreSQL can neither store
    nor compare them) and control characters in the return addresses Flask-Admin and the login page put
    into a Location header (?url=, ?next=; Werkzeug refuses a header with a line break)."""
    values = [*request.args.keys(), *request.args.values()]
    form = request.method == "POST" and request.mimetype in ("application/x-www-form-urlencoded",
                                                             "multipart/form-data")
    if form:
        values += [*request.form.keys(), *request.form.values()]
    if any("\x00" in value for value in values):
        return render_template("error.html", title="Requisição inválida", message=NUL_MESSAGE), 400
    targets = request.args.getlist("url") + request.args.getlist("next") + (request.form.getlist("url") if form else [])
    if any(CONTROL_CHARACTERS.search(target) for target in targets):
        return render_template("error.html", title="Requisição inválida", message=RETURN_URL_MESSAGE), 400
    return None


def _security_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    if current_app.config.get("APP_ENV") == "production":
        headers.setdefault("Strict-Transport-Security", HSTS)
    endpoint = request.endpoint or ""
    if endpoint != "static" and not endpoint.endswith(".static") and "Cache-Control" not in headers:
        # Pages carry debtors' personal data (LGPD): no copies in shared browsers' caches.
        headers["Cache-Control"] = "no-store"
    return response


def _too_many_requests(error):
    log.warning("login rate limit reached: ip=%s", client_ip())
    return render_template("error.html", title="Muitas tentativas", message=RATE_LIMITED_MESSAGE), 429


@bp.route("/healthz")
def healthz():
    """Liveness and database check for load balancers: no login, no rate limit, no session."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # any failure of the database means "not ready", never a 500 page
        log.warning("health check: database unavailable (%s)", type(exc).__name__)
        db.session.rollback()
        return jsonify(status="erro"), 503
    from services.jobs import queue_health

    try:
        queue = queue_health()
    except Exception as exc:  # e.g. the jobs table not migrated yet: the database answers, the queue cannot tell
        log.warning("health check: queue state unavailable (%s)", type(exc).__name__)
        queue = {"error": "indisponível"}
    db.session.rollback()
    return jsonify(status="ok", queue=queue)
