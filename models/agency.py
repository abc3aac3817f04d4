"""The tenant (Agency, with its profile settings) and its logins (User)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask_login import UserMixin
from sqlalchemy import Boolean, DateTime, ForeignKey, Numeric, String, Text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from models import db
from models.documents import CNPJ_ONLY
from models.labelled import LabelledEnum
from models.scope import Scoped
from models.timeutil import DEFAULT_TIMEZONE, utcnow


class Role(LabelledEnum):
    ADMIN = "admin", "Administrador"
    SUPERVISOR = "supervisor", "Supervisor"
    CONSULTANT = "consultant", "Consultor"


ROLE_LABELS = Role.labels()


class Capability(StrEnum):
    """What a role may do. Screens, templates and services ask ``user.can(Capability.X)``, never the role."""

    #: Usuário > Perfil (the agency's settings, its SOA credentials) and Usuários (logins and roles).
    MANAGE_AGENCY = "manage_agency"
    #: Auditoria (users' actions, calls to SOA).
    SEE_AUDIT = "see_audit"
    #: Every consultant's rows of the agency (debtors, debts, negotiations, meetings, negativations), and choosing
    #: whose portfolio a row belongs to; without it, a user sees and creates only their own rows.
    SEE_ALL_PORTFOLIOS = "see_all_portfolios"
    #: Create and edit the agency's registers (Credores, Devedores, Dívidas) and delete rows (a meeting whose invite
    #: was sent included); without it those screens are read-only and only one's own uninvited meetings are deleted.
    MANAGE_RECORDS = "manage_records"
    #: Negativar no Serasa, Excluir negativação, Reenviar, Atualizar situação, the send reports, the balance alert.
    NEGATIVATE = "negativate"
    #: Export a list (every list names people: LGPD); each export is audited.
    EXPORT_PERSONAL_DATA = "export_personal_data"
    #: May be assigned debtors (the Consultor picker of Devedores).
    HOLD_PORTFOLIO = "hold_portfolio"


#: The one table of who may do what (docs/rules.md, "Who may do what").
ROLE_CAPABILITIES: dict[Role, frozenset[Capability]] = {
    Role.ADMIN: frozenset({Capability.MANAGE_AGENCY, Capability.SEE_AUDIT, Capability.SEE_ALL_PORTFOLIOS,
                           Capability.MANAGE_RECORDS, Capability.NEGATIVATE, Capability.EXPORT_PERSONAL_DATA}),
    Role.SUPERVISOR: frozenset({Capability.SEE_ALL_PORTFOLIOS, Capability.MANAGE_RECORDS}),
    Role.CONSULTANT: frozenset({Capability.HOLD_PORTFOLIO}),
}


def role_can(role: str, capability: Capability) -> bool:
    """Whether a role holds a capability (an unknown role holds none)."""
    try:
        return capability in ROLE_CAPABILITIES[Role(role)]
    except ValueError:
        return False


def roles_with(capability: Capability) -> list[str]:
    """The roles holding a capability (for SQL: ``User.role.in_(roles_with(...))``)."""
    return [str(role) for role, held in ROLE_CAPABILITIES.items() if capability in held]


class SoaEnvironment(LabelledEnum):
    PRODUCTION = "producao", "Produção"
    HOMOLOGATION = "homologacao", "Homologação"
    SANDBOX = "sandbox", "Sandbox (testes locais)"


SOA_ENVIRONMENT_LABELS = SoaEnvironment.labels()


class CredentialsError(ValueError):
    """The stored SOA password cannot be decrypted with the configured key."""


class SoaConfigurationRefused(ValueError):
    """The Serasa settings cannot be saved as given (nothing changed); the message is for the user (pt-BR).

    ``needs_confirmation``: saving is possible once the user confirms switching off with ``alive`` records.
    """

    def __init__(self, message: str, *, alive: int = 0, needs_confirmation: bool = False):
        super().__init__(message)
        self.alive = alive
        self.needs_confirmation = needs_confirmation


@dataclass(frozen=True)
class SoaConfigured:
    """What ``Agency.configure_soa`` saved."""

    enabled: bool
    email: str | None
    environment: str
    password_changed: bool
    alive: int

    @property
    def audit_details(self) -> str:
        return (f"habilitada={'sim' if self.enabled else 'nao'}; email={self.email}; ambiente={self.environment}; "
                f"senha={'alterada' if self.password_changed else 'mantida'}"
                + (f"; negativacoes_vivas={self.alive} (confirmado)" if self.alive else ""))


def _cipher(keys: str) -> MultiFernet:
    """Build a cipher from a comma-separated list of Fernet keys (first one encrypts; all decrypt)."""
    return MultiFernet([Fernet(k.strip().encode()) for k in keys.split(",") if k.strip()])


class Agency(db.Model):
    """A collection agency: the tenant. Holds the profile settings (Perfil)."""

    __tablename__ = "agency"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    cnpj: Mapped[str | None] = mapped_column(String(14), info=CNPJ_ONLY)
    contact_email: Mapped[str | None] = mapped_column(String(254))
    timezone: Mapped[str] = mapped_column(String(64), default=DEFAULT_TIMEZONE)
    meetings_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    serasa_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    soa_email: Mapped[str | None] = mapped_column(String(254))
    #: Fernet token of the SOA password; never the plain text.
    soa_password_encrypted: Mapped[str | None] = mapped_column(Text)
    soa_environment: Mapped[str] = mapped_column(String(20), default=SoaEnvironment.SANDBOX)
    soa_balance: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    soa_balance_checked_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: Below this balance (R$) the dashboard warns.
    soa_low_balance: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("20.00"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="agency")

    def __str__(self) -> str:
        return self.name

    @property
    def has_soa_credentials(self) -> bool:
        return bool(self.soa_email and self.soa_password_encrypted)

    def configure_soa(self, *, enabled: bool, email: str | None, password: str | None, environment: str,
                      low_balance: Decimal | None, keys: str, live_records: Callable[[], int],
                      confirmed: bool = False) -> SoaConfigured:
        """Save the Serasa (SOA WebServices) settings of Perfil, or raise SoaConfigurationRefused (nothing changed).

        - Switching the integration on needs the SOA account's e-mail and a password (typed now, or saved).
        - Switching it off while records are alive (``live_records()``: in flight or at the bureau) stops new
          inclusions only; it needs the user's confirmation, and the credentials stay, as the exclusions, the
          sync and the legal deadlines go on with them.
        - A blank password keeps the saved one; new credentials forget the balance read with the old ones.
        """
        email = (email or "").strip() or None
        has_credentials = bool(email) and (bool(password) or bool(self.soa_password_encrypted))
        if enabled and not has_credentials:
            raise SoaConfigurationRefused("Para habilitar a integração, informe o e-mail e a senha da conta SOA "
                                          "WebServices.")
        alive = live_records() if self.serasa_enabled and not enabled else 0
        if alive and not confirmed:
            raise SoaConfigurationRefused(
                f"Há {alive} negativação(ões) ativa(s) ou em andamento. Desabilitar a integração impede apenas novas "
                "inclusões: as baixas automáticas (pagamento, 5 anos), a atualização de situação e os prazos legais "
                "continuam, com as credenciais salvas. Marque a confirmação abaixo e salve de novo.",
                alive=alive, needs_confirmation=True)
        if alive and not has_credentials:
            raise SoaConfigurationRefused("Com negativações vivas, mantenha o e-mail e a senha da conta SOA: as "
                                          "baixas dependem deles.", alive=alive)
        if email != self.soa_email or password:
            self.soa_balance = None
            self.soa_balance_checked_at = None
        self.serasa_enabled = enabled
        self.soa_email = email
        self.soa_environment = environment
        if low_balance is not None:
            self.soa_low_balance = low_balance
        if password:
            self.set_soa_password(password, keys)
        return SoaConfigured(enabled, email, environment, bool(password), alive)

    def set_soa_password(self, plain: str, keys: str) -> None:
        """Encrypt and store the SOA password (write-only in the UI)."""
        self.soa_password_encrypted = _cipher(keys).encrypt(plain.encode()).decode()

    def soa_password(self, keys: str) -> str | None:
        """Decrypt the SOA password for a call to SOA; never render it."""
        if not self.soa_password_encrypted:
            return None
        try:
            return _cipher(keys).decrypt(self.soa_password_encrypted.encode()).decode()
        except InvalidToken as exc:
            raise CredentialsError(
                "A senha do SOA não pôde ser lida com a chave atual (CREDENTIALS_KEY). Salve-a novamente."
            ) from exc


class UserNotAllowed(ValueError):
    """A login cannot be saved as given; the message is for the user (pt-BR)."""


#: Logins are unique across the whole installation, but an agency must not learn which addresses another
#: agency uses: the refusal is the same whether the address belongs to a user of this agency or of another.
EMAIL_UNAVAILABLE = ("Este e-mail não pode ser usado como login. Se a pessoa já tem acesso, procure-a na lista "
                     "de usuários; senão, cadastre outro endereço.")


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


class User(Scoped, UserMixin, db.Model):
    """A login of an agency: an administrator, a supervisor or a consultant."""

    #: A consultant sees only themselves among the users (e.g. the Responsável of a meeting).
    consultant_path = "id"

    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), default=Role.CONSULTANT, index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: Every session cookie carries it (get_id) and is refused once it changes: a new value ends all of the
    #: user's sessions on every device (logout, password, role or activation change, "Sair de todos os
    #: dispositivos").
    session_token: Mapped[str] = mapped_column(String(64), default=new_session_token)

    agency: Mapped[Agency] = relationship(back_populates="users")

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def can(self, capability: Capability) -> bool:
        """Whether this user's role holds ``capability`` (models.agency.ROLE_CAPABILITIES)."""
        return role_can(self.role, capability)

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)

    def apply_form(self, *, new_password: str | None, creating: bool, editor_id: int) -> None:
        """Apply the rules of saving a login (Usuários); raise UserNotAllowed.

        The e-mail is compared lowercased and must be nobody's login, in any agency (one neutral refusal); a new
        user needs a password; nobody deactivates themselves or gives up their own access to Usuários; a new
        password, role, activation or e-mail ends the user's sessions on every device.
        """
        self.email = self.email.strip().lower()
        if new_password:
            self.set_password(new_password)
        elif creating:
            raise UserNotAllowed("Defina uma senha para o novo usuário.")
        if self.id == editor_id and (not self.active or not self.can(Capability.MANAGE_AGENCY)):
            raise UserNotAllowed("Você não pode desativar nem rebaixar o seu próprio usuário.")
        with db.session.no_autoflush:  # the new row is not complete until validated
            clash = db.session.query(User.id).filter(User.email == self.email, User.id != (self.id or 0)).first()
        if clash:
            raise UserNotAllowed(EMAIL_UNAVAILABLE)
        state = sa_inspect(self)
        if not creating and (new_password or any(state.attrs[name].history.has_changes()
                                                 for name in ("role", "active", "email"))):
            self.end_sessions()

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"

    def end_sessions(self) -> None:
        """Invalidate every session of this user, on every device."""
        self.session_token = new_session_token()

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)
