"""Início: the dashboard with the agency's figures at a glance."""

from datetime import timedelta

from flask import flash, redirect, request, url_for
from flask_admin import AdminIndexView, expose
from flask_login import current_user
from sqlalchemy import func, select

from admin_views.formatting import brl
from admin_views.serasa_status import serasa_integration_visible
from admin_views.todo import todo_items
from models import Debt, Debtor, Negativation, Negotiation, db
from models.agency import Capability
from models.debt import NEGOTIATION_STATUS_LABELS, DebtStatus
from models.negativation import DEADLINE_WARNING_DAYS
from models.negativation import NegativationStatus as S
from models.timeutil import local_today
from services.productivity import productivity


class DashboardView(AdminIndexView):
    def is_accessible(self):
        return current_user.is_authenticated

    def inaccessible_callback(self, name, **kwargs):
        flash("Entre com seu e-mail e senha para acessar o painel.", "info")
        return redirect(url_for("auth.login", next=request.full_path))

    @expose("/")
    def index(self):
        agency = current_user.agency
        today = local_today(agency.timezone)
        stats = self._stats(current_user, today)
        serasa_visible = serasa_integration_visible()
        if serasa_visible:
            stats["serasa"] = self._serasa_flags(current_user, today)
        # Only who negativates buys credits: the balance alert is theirs.
        low_balance = (current_user.can(Capability.NEGATIVATE) and agency.serasa_enabled
                       and agency.soa_balance is not None and agency.soa_balance < agency.soa_low_balance)
        todo = todo_items(agency, stats.get("serasa"), low_balance)
        chart = productivity(current_user, today) if agency.meetings_enabled else None
        return self.render("admin/dashboard.html", stats=stats, agency=agency, brl=brl, low_balance=low_balance,
                           todo=todo, serasa_visible=serasa_visible, productivity=chart)

    @staticmethod
    def _stats(user, today) -> dict:
        """The figures of the rows ``user`` sees (each model's ``visible_to``)."""
        debtors = select(func.count(Debtor.id)).where(Debtor.visible_to(user))
        debts = select(func.count(Debt.id), func.coalesce(func.sum(Debt.amount), 0),
                       func.count(Debt.id).filter(Debt.due_date < today)).where(
            Debt.visible_to(user), Debt.status == DebtStatus.OPEN)
        negotiations = select(Negotiation.status, func.count(Negotiation.id)).where(
            Negotiation.visible_to(user)).group_by(Negotiation.status)
        open_count, open_total, overdue = db.session.execute(debts).one()
        return {
            "debtors": db.session.scalar(debtors),
            "open_debts": open_count,
            "open_total": brl(open_total),
            "overdue": overdue,
            "negotiations": [(NEGOTIATION_STATUS_LABELS.get(s, s), n) for s, n in db.session.execute(negotiations)],
        }

    @staticmethod
    def _serasa_flags(user, today) -> dict:
        """Count records whose removal deadline is past or near, uncertain ones and due exclusions (one query)."""
        still_listed = Negativation.status.in_((S.ACTIVE, S.SENT, S.UNCERTAIN, S.PENDING))
        has_deadline = Negativation.removal_deadline.is_not(None) & still_listed
        query = select(
            func.count(Negativation.id).filter(has_deadline & (Negativation.removal_deadline < today)),
            func.count(Negativation.id).filter(has_deadline & (Negativation.removal_deadline >= today)
                                               & (Negativation.removal_deadline <= today + timedelta(
                                                   days=DEADLINE_WARNING_DAYS))),
            func.count(Negativation.id).filter(Negativation.status == S.UNCERTAIN),
            func.count(Negativation.id).filter(Negativation.status == S.ACTIVE),
            func.count(Negativation.id).filter(Negativation.status == S.ERROR),
        ).where(Negativation.visible_to(user))
        overdue, near, uncertain, active, errors = db.session.execute(query).one()
        return {"overdue": overdue, "near": near, "uncertain": uncertain, "active": active, "errors": errors}
