"""The Serasa situation of debts where people look (Dívidas, Devedores, Negociações): column, filter, links."""

from flask import g, has_request_context
from flask_admin.babel import lazy_gettext
from flask_admin.contrib.sqla.filters import BaseSQLAFilter
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy import select

from admin_views.formatting import br_date
from admin_views.page_cache import fixed_url
from models import Negativation, db
from models.debt import negotiation_debt
from models.negativation import (
    DEBT_SERASA_FILTER,
    DEBT_SERASA_LABELS,
    has_live_records,
    latest_by_debt,
    serasa_filter_clause,
)
from models.negativation import NegativationStatus as S
from models.timeutil import local_today

_BADGES = {S.ACTIVE: "badge-dark", S.SENT: "badge-info", S.PENDING: "badge-info", S.REJECTED: "badge-secondary",
           S.ERROR: "badge-danger", S.UNCERTAIN: "badge-warning", S.EXCLUDED: "badge-success",
           S.EXCLUSION_REQUESTED: "badge-primary"}


def serasa_integration_visible() -> bool:
    """Show Serasa information while the integration is on, or while records it created still matter."""
    if not current_user.is_authenticated:
        return False
    agency = current_user.agency
    if agency.serasa_enabled:
        return True
    if not agency.has_soa_credentials:  # never configured: no record can exist (and no query on every page)
        return False
    if "serasa_records_alive" not in g:
        g.serasa_records_alive = has_live_records(agency.id)
    return g.serasa_records_alive


class SerasaColumnMixin:
    """A list with a "serasa" column, shown only while Serasa information is relevant to the agency.

    Flask-Admin caches the list's columns when the view is built; this hides the column per request.
    """

    @property
    def _list_columns(self):
        columns = self.__dict__["_all_list_columns"]
        if has_request_context() and not serasa_integration_visible():
            return [c for c in columns if c[0] != "serasa"]
        return columns

    @_list_columns.setter
    def _list_columns(self, value):
        self.__dict__["_all_list_columns"] = value


def remember_latest(debt_ids) -> None:
    """Load, in one query, the latest negativation of each debt on the page (for ``debt_badge``)."""
    g.serasa_latest = latest_by_debt(debt_ids)


def debt_badge(debt_id: int, today=None) -> Markup:
    """The debt's Serasa situation as a badge linking to its record, with the legal deadline when one runs."""
    record = g.get("serasa_latest", {}).get(debt_id)
    if record is None:
        return Markup('<span class="text-muted">Não negativada</span>')
    label = escape(DEBT_SERASA_LABELS.get(record.status, record.status))
    css = _BADGES.get(record.status, "badge-light")
    # The record's URL: the details path routed once (fixed_url), its id put in (what url_for builds).
    html = (f'<a class="badge {css} serasa-status" href="{fixed_url("negativation.details_view")}?id={record.id}">'
            f'{label}</a>')
    if record.removal_pending:
        today = today or local_today(current_user.agency.timezone)
        late = record.removal_deadline < today
        html += (f' <span class="badge {"badge-danger" if late else "badge-warning"} text-nowrap serasa-deadline">'
                 f'baixa até {br_date(record.removal_deadline)}</span>')
    return Markup(html)


def debt_column_formatter(view, context, model, name):
    return debt_badge(model.id)


def debt_export_formatter(view, context, model, name):
    record = g.get("serasa_latest", {}).get(model.id)
    return DEBT_SERASA_LABELS.get(record.status if record else None, "")


def negotiation_column_formatter(view, context, model, name):
    debt_ids = g.get("serasa_negotiation_debts", {}).get(model.id, [])
    if not debt_ids:
        return Markup('<span class="text-muted">—</span>')
    return Markup("<br>").join(debt_badge(i) for i in debt_ids)


def remember_negotiation_debts(negotiation_ids) -> None:
    """Load the page's negotiations' debts with their latest records (one query, whatever the page size)."""
    by_negotiation: dict[int, list[int]] = {}
    latest: dict[int, Negativation] = {}
    ids = list(negotiation_ids)
    if ids:
        rows = db.session.execute(
            select(negotiation_debt.c.negotiation_id, negotiation_debt.c.debt_id, Negativation)
            .outerjoin(Negativation, Negativation.debt_id == negotiation_debt.c.debt_id)
            .where(negotiation_debt.c.negotiation_id.in_(ids))
            .order_by(negotiation_debt.c.debt_id, Negativation.id))
        for negotiation_id, debt_id, record in rows:
            debt_ids = by_negotiation.setdefault(negotiation_id, [])
            if debt_id not in debt_ids:
                debt_ids.append(debt_id)
            if record is not None:
                latest[debt_id] = record  # ordered by id: the newest wins
    g.serasa_negotiation_debts = by_negotiation
    g.serasa_latest = latest


class DebtSerasaFilter(BaseSQLAFilter):
    """Filter debts by their Serasa situation (the latest record's status, or none)."""

    def __init__(self, debt_id_column, name="Serasa"):
        super().__init__(debt_id_column, name, options=[(k, label) for k, (label, _) in DEBT_SERASA_FILTER.items()])

    def validate(self, value):
        return value in DEBT_SERASA_FILTER

    def apply(self, query, value, alias=None):
        return query.filter(serasa_filter_clause(self.column, value))

    def operation(self):
        return lazy_gettext("equals")


class NegotiationSerasaFilter(DebtSerasaFilter):
    """Filter negotiations having at least one debt in the chosen Serasa situation."""

    def apply(self, query, value, alias=None):
        has = (select(negotiation_debt.c.debt_id)
               .where(negotiation_debt.c.negotiation_id == self.column,
                      serasa_filter_clause(negotiation_debt.c.debt_id, value)).exists())
        return query.filter(has)
