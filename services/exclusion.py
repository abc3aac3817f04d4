"""Negativations leaving the bureau: at once when their debts leave collection (paid, or in an agreement), or by
hand (Excluir negativação). Each returns what to tell the user; the screens only flash it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from integrations.serasa import SerasaError
from models import Agency, AuditLog, Negativation, db
from models.debt import Settlement
from models.negativation import MOTIVE_BY_SETTLED_STATUS, NegativationNotAllowed, check_exclusion_request
from services import negativation as workflow

#: What in a notice of ``on_debt_settled`` calls for the user's attention (a refused exclusion, a late payment).
_WARNINGS = ("não foi aceita", "atraso")


@dataclass(frozen=True)
class Notice:
    """What to tell the user (pt-BR) and how loudly: ``success``, ``info``, ``warning`` or ``error``."""

    text: str
    level: str = "info"


def exclude_settled(agency: Agency, settlements: list[Settlement], user_id: int | None, today: date) -> list[Notice]:
    """Request, for each settled debt, the exclusion of its negativation, the legal deadline counting from the
    settlement's day; return what to tell the user.

    Each debt's request is committed before the next one starts: an exclusion that reached SOA stays recorded,
    whatever happens to the following ones.
    """
    notices = []
    for settlement in settlements:
        text = workflow.on_debt_settled(agency, settlement.debt, MOTIVE_BY_SETTLED_STATUS[settlement.status],
                                        settlement.on, user_id, recorded_on=today)
        db.session.commit()
        if text:
            notices.append(Notice(text, "warning" if any(w in text for w in _WARNINGS) else "info"))
    return notices


def exclude_by_hand(agency: Agency, record: Negativation, motive: str, code: str, note: str | None, user,
                    ip: str | None = None) -> Notice:
    """Excluir negativação: ask SOA to remove the record for the motive chosen, with that motive's code.

    Raises NegativationNotAllowed, nothing done, when the code does not follow the motive or a required note is
    missing (the form shows why). Otherwise returns the outcome: requested (audited), already being requested by
    someone else, or refused by SOA (the failed attempt kept in the record's history).
    """
    check_exclusion_request(motive, code, note)
    try:
        workflow.exclude_manually(agency, record, motive, code, note, user.id)
    except workflow.ExclusionAlreadyRequested as exc:
        db.session.rollback()
        return Notice(str(exc), "warning")
    except (SerasaError, NegativationNotAllowed) as exc:
        db.session.commit()  # keep the failed attempt in the history
        return Notice(f"A baixa não foi aceita: {exc}", "error")
    AuditLog.record("serasa.exclude", agency_id=user.agency_id, user_id=user.id, ip=ip,
                    target=f"negativation #{record.id}",
                    details=f"motivo={motive}; codigo={record.exclusion_code}"
                            + (f"; observacao={record.exclusion_note}" if record.exclusion_note else ""))
    db.session.commit()
    return Notice(f"Baixa da negativação nº {record.id} solicitada ao SOA.", "success")
