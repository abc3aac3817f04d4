"""Debts leaving collection (paid, or in an agreement): their negativations leave the bureau at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from models import Agency, db
from models.debt import Settlement
from models.negativation import MOTIVE_BY_SETTLED_STATUS
from services import negativation as workflow

#: What in a notice of ``on_debt_settled`` calls for the user's attention (a refused exclusion, a late payment).
_WARNINGS = ("não foi aceita", "atraso")


@dataclass(frozen=True)
class Notice:
    """What to tell the user (pt-BR) and how loudly: ``info`` or ``warning``."""

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
