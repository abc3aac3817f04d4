"""Reuniões, beyond the basic screen: upcoming first, quick filters, the responsible filter, meetings that already
happened, and the minutes (ata). Mixed into MeetingView (admin_views/meetings.py)."""

from __future__ import annotations

from datetime import timedelta

from flask import g, has_request_context, request
from flask_admin import expose
from flask_admin.contrib.sqla.filters import BaseSQLAFilter
from flask_login import current_user
from sqlalchemy import case, literal, select, union_all
from wtforms import BooleanField

from admin_views.base import parse_pk
from admin_views.formatting import br_datetime
from models import Meeting, User, db
from models.meeting import EMAIL_KIND_LABELS, MEETING_STATUS_LABELS, SEND_STATUS_LABELS, EmailKind, past_without_outcome
from models.timeutil import local_day_bounds, local_today, utcnow

QUICK_FILTERS = {"hoje": "Hoje", "7dias": "Próximos 7 dias", "passadas": "Passadas sem resultado"}
PAST_LABEL = "Registrar reunião que já aconteceu"
PAST_DESCRIPTION = ("Marque para registrar uma reunião com data no passado: nenhum convite poderá ser enviado para "
                    "ela, e as observações e a produtividade já podem ser informadas.")


def _today_start():
    tz = current_user.agency.timezone
    return local_day_bounds(local_today(tz), tz)[0]


class WhenFilter(BaseSQLAFilter):
    """Quando: Hoje / Próximos 7 dias / Passadas sem resultado (in the agency's time zone)."""

    def __init__(self):
        super().__init__(Meeting.starts_at, "Quando", options=list(QUICK_FILTERS.items()))

    def validate(self, value):
        return value in QUICK_FILTERS

    def operation(self):
        return "é"

    def apply(self, query, value, alias=None):
        tz = current_user.agency.timezone
        today = local_today(tz)
        start = local_day_bounds(today, tz)[0]
        if value == "hoje":
            return query.filter(Meeting.starts_at >= start, Meeting.starts_at < local_day_bounds(today, tz)[1])
        if value == "7dias":
            end = local_day_bounds(today + timedelta(days=6), tz)[1]
            return query.filter(Meeting.starts_at >= start, Meeting.starts_at < end)
        return query.filter(past_without_outcome(utcnow()))


class OwnerFilter(BaseSQLAFilter):
    """Responsável: a pick list of the agency's users (a consultant only ever has themselves)."""

    def __init__(self):
        super().__init__(Meeting.owner_id, "Responsável", options=self.current_options)

    @staticmethod
    def current_options():
        if not has_request_context() or not current_user.is_authenticated:
            return None
        query = db.session.query(User.id, User.name).filter(User.visible_to(current_user))
        return [(str(i), name) for i, name in query.order_by(User.name)]

    def validate(self, value):
        return parse_pk(value) is not None

    def clean(self, value):
        return parse_pk(value)

    def operation(self):
        return "é"

    def apply(self, query, value, alias=None):
        return query.filter(Meeting.owner_id == value)


def upcoming_first_page(query, today_start, offset: int, size: int | None):
    """One page of ``query`` (a Meeting query, filters applied) with the meetings from ``today_start`` on first, soonest
    first, then the past, latest first.

    A single ``ORDER BY CASE …`` would sort every row of the agency for each page (≈0.5 s at 100k meetings); instead
    each side walks the (agency, starts_at) index in its own direction for at most offset + size rows, and only those
    are merged and sorted.
    """
    columns = (Meeting.id.label("mid"), Meeting.starts_at.label("t"))
    upcoming = query.filter(Meeting.starts_at >= today_start).with_entities(*columns, literal(0).label("grp")) \
        .order_by(Meeting.starts_at.asc(), Meeting.id.asc())
    past = query.filter(Meeting.starts_at < today_start).with_entities(*columns, literal(1).label("grp")) \
        .order_by(Meeting.starts_at.desc(), Meeting.id.desc())
    if size:
        upcoming, past = upcoming.limit(offset + size), past.limit(offset + size)
    both = union_all(select(upcoming.subquery()), select(past.subquery())).subquery()

    def order(table):
        return (table.c.grp, case((table.c.grp == 0, table.c.t)).asc(), table.c.t.desc(),
                case((table.c.grp == 0, table.c.mid)).asc(), table.c.mid.desc())

    page = select(both.c.mid, both.c.t, both.c.grp).order_by(*order(both))
    if size:
        page = page.limit(size).offset(offset)
    page = page.subquery()
    return query.session.query(Meeting).join(page, page.c.mid == Meeting.id).order_by(*order(page))


class MeetingExtrasMixin:
    """Needs a ProtectedModelView over Meeting after it in the MRO."""

    create_template = "admin/meeting_create.html"

    def create_form(self, obj=None):
        # The confirmation right under the date; Observações and Produtiva stay (for a meeting that already
        # happened: static/js/meeting_form.js shows them when it is ticked).
        form = super().create_form(obj)
        fields = list(form._fields.items())
        moved = dict(fields).get("already_happened")
        if moved is not None:
            fields = [item for item in fields if item[0] != "already_happened"]
            at = next((i for i, (name, _) in enumerate(fields) if name == "starts_at"), len(fields) - 1) + 1
            fields.insert(at, ("already_happened", moved))
            form._fields.clear()
            form._fields.update(fields)
        return form

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        if hasattr(form, "already_happened"):
            delattr(form, "already_happened")
        return form

    def get_filters(self):
        self.when_filter, self.owner_filter = WhenFilter(), OwnerFilter()
        return [self.when_filter, self.owner_filter, *(super().get_filters() or [])]

    def _get_filter_groups(self):
        groups = super()._get_filter_groups()
        if groups:
            for items in groups.values():
                for item in items:
                    if self._filters[item["index"]] is self.owner_filter:
                        item["options"] = OwnerFilter.current_options()
        return groups

    def quick_filter_url(self, value: str) -> str:
        index = self._filters.index(self.when_filter)
        return self.get_url(".index_view", **{f"flt0_{self.get_filter_arg(index, self.when_filter)}": value})

    def active_quick_filter(self) -> str | None:
        arg = f"flt0_{self.get_filter_arg(self._filters.index(self.when_filter), self.when_filter)}"
        value = request.args.get(arg)
        return value if value in QUICK_FILTERS and len([k for k in request.args if k.startswith("flt")]) == 1 \
            else None

    # --- upcoming first ---------------------------------------------------------------------------
    def _apply_sorting(self, query, joins, sort_column, sort_desc):
        """Without a sort chosen by the user: today and the next days (soonest first), then the past (latest first).

        The order itself is applied with the page (``_apply_pagination``), as two index range scans.
        """
        if sort_column is not None:
            return super()._apply_sorting(query, joins, sort_column, sort_desc)
        g.meeting_upcoming_first = True
        return query, joins

    def _apply_pagination(self, query, page, page_size):
        if not g.pop("meeting_upcoming_first", False):
            return super()._apply_pagination(query, page, page_size)
        size = self.page_size if page_size is None else page_size
        return upcoming_first_page(query, _today_start(), (page or 0) * (size or 0), size or None)

    # --- recording a meeting that already happened -----------------------------------------------
    def scaffold_form(self):
        form_class = super().scaffold_form()
        form_class.already_happened = BooleanField(PAST_LABEL, description=PAST_DESCRIPTION)
        return form_class

    def records_past_meeting(self, form) -> bool:
        field = getattr(form, "already_happened", None)
        return bool(field is not None and field.data)

    # --- minutes (ata) ----------------------------------------------------------------------------
    @expose("/ata/")
    def minutes_view(self):
        meeting = self.get_one(request.args.get("id"))
        invited = []
        for email in meeting.emails:
            if email.kind in (EmailKind.INVITE, EmailKind.INVITE_RETRY, EmailKind.UPDATE):
                invited += [r.address for r in email.recipients if r.delivered]
        return self.render("admin/meeting_minutes.html", meeting=meeting, invited=list(dict.fromkeys(invited)),
                           status_labels=MEETING_STATUS_LABELS, kind_labels=EMAIL_KIND_LABELS,
                           send_labels=SEND_STATUS_LABELS, br_datetime=br_datetime, tz=current_user.agency.timezone,
                           printed_at=utcnow())
