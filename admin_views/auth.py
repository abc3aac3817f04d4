"""Login and logout (Flask-Login); pt-BR pages, generic errors, safe redirects."""

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import LoginManager, current_user, login_user, logout_user
from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from admin_views.base import PanelSecureForm
from models import AuditLog, User, db
from models.timeutil import utcnow

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Entre com seu e-mail e senha para acessar o painel."
login_manager.login_message_category = "info"
login_manager.session_protection = "strong"

GENERIC_ERROR = "E-mail ou senha inválidos."


def _session_identifier() -> str:
    """What Flask-Login's "strong" protection binds a session to: the address the server saw (behind
    TRUSTED_PROXIES, ProxyFix has already taken it from the proxy's X-Forwarded-For) and the browser. Flask-Login's
    own reads X-Forwarded-For from any client, so a copied cookie plus a forged header passed as the victim."""
    agent = request.headers.get("User-Agent", "")
    return hashlib.sha512(f"{request.remote_addr}|{agent}".encode()).hexdigest()


login_manager._session_identifier_generator = _session_identifier


#: A real hash of a random password, made like every user's (same method and cost): checking a password
#: against it costs what checking a real user's costs, so an unknown e-mail answers as slowly as a wrong password.
_DUMMY_HASH: str | None = None


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(16))
    return _DUMMY_HASH


def _check_password(user: User | None, password: str) -> bool:
    """Same work whether the e-mail exists or not: one hash check, always."""
    if user is None:
        check_password_hash(_dummy_hash(), password)
        return False
    return user.check_password(password)


#: The session's user with their agency (every page reads both): one statement, built once.
_SESSION_USER = select(User).options(joinedload(User.agency)).where(User.id == bindparam("user_id"))


@login_manager.user_loader
def load_user(session_id: str):
    """The session names the user and their session token: a rotated token (logout, new password, role change,
    deactivation, "Sair de todos os dispositivos") ends the session, whatever the cookie says."""
    user_id, _, token = session_id.partition(":")
    if not user_id.isdigit() or not token:
        return None
    user = db.session.execute(_SESSION_USER, {"user_id": int(user_id)}).scalar_one_or_none()
    if user is None or not hmac.compare_digest(user.session_token.encode(), token.encode()):
        return None
    return user


class LoginForm(PanelSecureForm):
    email = EmailField("E-mail", validators=[DataRequired(message="Informe o e-mail."), Length(max=254)])
    password = PasswordField("Senha", validators=[DataRequired(message="Informe a senha."), Length(max=200)])


class LogoutForm(PanelSecureForm):
    pass


def _safe_next(target: str | None) -> str:
    """Only follow a same-site relative path; anything else goes to the dashboard."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//") \
                and "\\" not in target:
            return target
    return url_for("admin.index")


INACTIVE = "Usuário inativo. Procure o administrador da sua assessoria."


def authenticate(email: str, password: str, ip: str | None) -> tuple[User | None, str]:
    """Check a login and record it in the audit log: ("ok" | "inactive" | "failed", the user when known).

    The same work whether the e-mail exists or not (``_check_password``); a successful login is stamped.
    """
    user = db.session.query(User).filter(User.email == email.strip().lower()).one_or_none()
    outcome = ("ok" if user.active else "inactive") if _check_password(user, password) else "failed"
    if user is not None:
        AuditLog.record({"ok": "login", "inactive": "login.inactive", "failed": "login.failed"}[outcome],
                        agency_id=user.agency_id, user_id=user.id, ip=ip)
        if outcome == "ok":
            user.last_login_at = utcnow()
        db.session.commit()
    return user, outcome


@bp.route("/login", methods=("GET", "POST"))
def login():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm(request.form if request.method == "POST" else None)
    if request.method == "POST" and form.validate():
        user, outcome = authenticate(form.email.data, form.password.data, request.remote_addr)
        if outcome == "ok":
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        flash(INACTIVE if outcome == "inactive" else GENERIC_ERROR, "error")
        return render_template("auth/login.html", form=form), 403 if outcome == "inactive" else 401
    if request.method == "POST":
        flash("Não foi possível entrar: recarregue a página e tente de novo." if "csrf_token" in form.errors
              else GENERIC_ERROR, "error")
        return render_template("auth/login.html", form=form), 400
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=("GET", "POST"))
def logout():
    form = LogoutForm(request.form if request.method == "POST" else None)
    if request.method == "POST":
        if not form.validate():
            flash("Não foi possível sair: recarregue a página e tente de novo.", "error")
            return render_template("auth/logout.html", form=form), 400
        if current_user.is_authenticated:
            # A copy of the cookie (another tab, a stolen one) must not outlive the logout.
            current_user.end_sessions()
            AuditLog.record("logout", agency_id=current_user.agency_id, user_id=current_user.id,
                            ip=request.remote_addr)
            db.session.commit()
        logout_user()
        flash("Você saiu do painel.", "info")
        return redirect(url_for("auth.login"))
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return render_template("auth/logout.html", form=form)


@bp.route("/")
def root():
    return redirect(url_for("admin.index"))
