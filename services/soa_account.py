"""Perfil > Serasa (SOA WS) > Testar conexão: the agency's SOA account asked for its balance."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from integrations.serasa import SerasaError
from models import Agency, AuditLog, db
from models.agency import CredentialsError
from models.timeutil import utcnow
from services.serasa import CallLog, client_for


@dataclass(frozen=True)
class ConnectionTest:
    """The balance SOA answered, and whether it was read with the saved settings (then it is kept)."""

    balance: Decimal
    saved: bool


class ConnectionTestFailed(Exception):
    """SOA could not be reached or refused the credentials; the message is for the user (pt-BR)."""


def check_connection(agency: Agency, user, *, email: str | None, password: str | None, environment: str,
                    ip: str | None = None) -> ConnectionTest:
    """Call SOA with the typed settings (the saved e-mail and password where none was typed), record the calls
    and the attempt in the audit log, and keep the balance when it was read with the saved settings.

    Raises ConnectionTestFailed (audited) when SOA cannot be reached or refuses.
    """
    email = (email or "").strip() or agency.soa_email
    calls = CallLog(agency.id, user.id)
    try:
        balance = client_for(agency, calls=calls, email=email, password=password,
                             environment=environment).balance()
    except (SerasaError, CredentialsError) as exc:
        calls.flush()
        _audit(agency, user, ip, f"falhou: {type(exc).__name__}")
        db.session.commit()
        raise ConnectionTestFailed(f"Falha no teste de conexão: {exc}") from exc
    saved = password is None and email == agency.soa_email and environment == agency.soa_environment
    if saved:
        agency.soa_balance = balance
        agency.soa_balance_checked_at = utcnow()
    calls.flush()
    _audit(agency, user, ip, f"ok; saldo={balance}")
    db.session.commit()
    return ConnectionTest(balance, saved)



def _audit(agency: Agency, user, ip: str | None, details: str) -> None:
    AuditLog.record("serasa.test_connection", agency_id=agency.id, user_id=user.id, ip=ip,
                    target="Perfil > Serasa (SOA WS)", details=details)
