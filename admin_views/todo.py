"""Início > Para fazer hoje: what needs someone's action, each item a link to the list filtered to it."""

from dataclasses import dataclass

from flask_admin.contrib.sqla.filters import FilterEqual
from flask_login import current_user
from sqlalchemy import func, select

from admin_views.links import filtered_list_url
from models import Meeting, db
from models.agency import Capability
from models.meeting import past_without_outcome
from models.timeutil import utcnow


@dataclass
class TodoItem:
    key: str
    text: str
    url: str
    level: str  # bootstrap text colour: danger | warning | info


def todo_items(agency, flags: dict | None, low_balance: bool) -> list[TodoItem]:
    """List the to-dos of the logged-in user (their scope), most urgent first; empty when all is done."""
    from admin_views.meeting_extras import WhenFilter
    from admin_views.negativations import DeadlineFilter

    items = []
    if flags:
        if flags["overdue"]:
            items.append(TodoItem("removals-late", f"{flags['overdue']} baixa(s) com prazo legal vencido",
                                  filtered_list_url("negativation", ("removal_deadline", DeadlineFilter, "vencido")),
                                  "danger"))
        if flags["near"]:
            items.append(TodoItem("removals-due", f"{flags['near']} baixa(s) com prazo nos próximos dias",
                                  filtered_list_url("negativation", ("removal_deadline", DeadlineFilter, "proximo")),
                                  "warning"))
        if flags["errors"]:
            items.append(TodoItem("inclusions-error", f"{flags['errors']} inclusão(ões) em Erro para reenviar",
                                  filtered_list_url("negativation", ("status", FilterEqual, "erro")), "danger"))
        if flags["uncertain"]:
            items.append(TodoItem("inclusions-uncertain",
                                  f"{flags['uncertain']} inclusão(ões) Incerta(s) para conferir no SOA",
                                  filtered_list_url("negativation", ("status", FilterEqual, "incerta")), "warning"))
    if agency.meetings_enabled:
        query = select(func.count(Meeting.id)).where(Meeting.visible_to(current_user), past_without_outcome(utcnow()))
        pending = db.session.scalar(query)
        if pending:
            items.append(TodoItem("meetings-outcome", f"{pending} reunião(ões) passada(s) sem resultado registrado",
                                  filtered_list_url("meeting", ("starts_at", WhenFilter, "passadas")), "info"))
    if low_balance and current_user.can(Capability.NEGATIVATE):
        from flask import url_for

        items.append(TodoItem("low-balance", "Saldo baixo no SOA WebServices: compre créditos antes de negativar",
                              url_for("profile.index", tab="serasa"), "warning"))
    return items
