"""Reuniões > Calendário (week and month, rendered on the server) and the user's private calendar feed."""

from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask import flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from wtforms import HiddenField, RadioField

from admin_views.base import AccessMixin, PanelSecureForm, audit
from admin_views.fields import choices
from admin_views.meetings import meetings_enabled
from models import CalendarFeed, Meeting, db
from models.agency import Capability
from models.feed import FEED_SCOPE_LABELS, FeedScope
from models.meeting import MEETING_STATUS_LABELS, MeetingStatus
from models.timeutil import local_day_bounds, local_today, to_local, utcnow

MONTHS = ("janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro", "outubro",
          "novembro", "dezembro")
WEEKDAYS_SHORT = ("seg", "ter", "qua", "qui", "sex", "sáb", "dom")
#: A month page shows at most this many meetings (the list has every filter for more).
MAX_MEETINGS = 1500

#: Situation of a meeting on the calendar: CSS class and label (the legend).
SITUATIONS = {
    "scheduled": "Agendada",
    "pending": "Passada sem resultado",
    "held": "Realizada",
    "cancelled": "Cancelada",
}


def situation(meeting: Meeting, now: datetime) -> str:
    if meeting.status == MeetingStatus.CANCELLED:
        return "cancelled"
    if meeting.status == MeetingStatus.HELD or meeting.productive is not None:
        return "held"
    return "pending" if meeting.starts_at < now else "scheduled"


@dataclass
class Day:
    day: date
    in_range: bool
    today: bool
    items: list = field(default_factory=list)


def _parse_day(value: str | None, fallback: date) -> date:
    try:
        parsed = date.fromisoformat((value or "")[:10])
    except ValueError:
        return fallback
    return parsed if date(2000, 1, 1) <= parsed <= date(2100, 12, 31) else fallback


class FeedForm(PanelSecureForm):
    action = HiddenField()
    scope = RadioField("Reuniões no calendário", choices=choices(FEED_SCOPE_LABELS.items()), default=FeedScope.MINE)


class CalendarView(AccessMixin, BaseView):
    def feature_enabled(self):
        return meetings_enabled()

    def is_visible(self):
        return False  # reached from the meetings list (Calendário) and the clock

    @expose("/")
    def index(self):
        agency = current_user.agency
        tz = agency.timezone
        today = local_today(tz)
        mode = "month" if request.args.get("view") == "month" else "week"
        anchor = _parse_day(request.args.get("date"), today)
        if mode == "week":
            first = anchor - timedelta(days=anchor.weekday())
            last = first + timedelta(days=6)
            prev_day, next_day = first - timedelta(days=7), first + timedelta(days=7)
            title = f"Semana de {first:%d/%m} a {last:%d/%m/%Y}"
            in_range = (first, last)
        else:
            month_first = anchor.replace(day=1)
            month_last = anchor.replace(day=monthrange(anchor.year, anchor.month)[1])
            first = month_first - timedelta(days=month_first.weekday())
            last = month_last + timedelta(days=6 - month_last.weekday())
            prev_day = (month_first - timedelta(days=1)).replace(day=1)
            next_day = month_last + timedelta(days=1)
            title = f"{MONTHS[anchor.month - 1].capitalize()} de {anchor.year}"
            in_range = (month_first, month_last)

        start, _ = local_day_bounds(first, tz)
        _, end = local_day_bounds(last, tz)
        query = (select(Meeting).where(Meeting.visible_to(current_user), Meeting.starts_at >= start,
                                       Meeting.starts_at < end)
                 .options(joinedload(Meeting.creditor), joinedload(Meeting.owner))
                 .order_by(Meeting.starts_at).limit(MAX_MEETINGS))
        meetings = db.session.scalars(query).all()

        days = {}
        cursor = first
        while cursor <= last:
            days[cursor] = Day(cursor, in_range[0] <= cursor <= in_range[1], cursor == today)
            cursor += timedelta(days=1)
        now = utcnow()
        for meeting in meetings:
            local = to_local(meeting.starts_at, tz)
            if local.date() in days:
                days[local.date()].items.append((meeting, local, situation(meeting, now)))
        ordered = list(days.values())
        weeks = [ordered[i:i + 7] for i in range(0, len(ordered), 7)]
        return self.render("admin/meeting_calendar.html", mode=mode, weeks=weeks, title=title,
                           prev_day=prev_day, next_day=next_day, today=today, anchor=anchor,
                           weekdays=WEEKDAYS_SHORT, situations=SITUATIONS, status_labels=MEETING_STATUS_LABELS,
                           truncated=len(meetings) >= MAX_MEETINGS, count=len(meetings))

    # --- the private ICS feed ---------------------------------------------------------------------
    def _feed(self) -> CalendarFeed | None:
        return db.session.scalar(select(CalendarFeed).where(CalendarFeed.user_id == current_user.id))

    @expose("/assinar/", methods=("GET", "POST"))
    def feed_view(self):
        feed = self._feed()
        form = FeedForm(request.form if request.method == "POST" else None)
        if request.method == "GET":
            form.scope.data = feed.scope if feed else FeedScope.MINE
            return self._render_feed(feed, form)
        if not form.validate():
            flash("Não foi possível concluir: recarregue a página e tente de novo.", "error")
            return self._render_feed(feed, form, status=400)
        action = form.action.data
        scope = form.scope.data if current_user.can(Capability.SEE_ALL_PORTFOLIOS) else FeedScope.MINE
        token = None
        if action in ("enable", "regenerate"):
            if feed is None:
                feed = CalendarFeed(user_id=current_user.id, agency_id=current_user.agency_id)
                db.session.add(feed)
            feed.scope = scope
            token = feed.new_token()
            audit("calendar_feed." + ("create" if action == "enable" else "regenerate"),
                  target=f"user #{current_user.id}", details=f"escopo={feed.scope}")
            db.session.commit()
            # The address is shown on this response only: the database keeps just its hash.
            flash("Endereço gerado. Copie-o agora: por segurança ele não será mostrado de novo.", "success")
            return self._render_feed(feed, form, token=token)
        if action == "scope" and feed is not None:
            feed.scope = scope
            audit("calendar_feed.scope", target=f"user #{current_user.id}", details=f"escopo={feed.scope}")
            db.session.commit()
            flash("Preferência salva: o calendário assinado passa a mostrar "
                  f"{FEED_SCOPE_LABELS[FeedScope(feed.effective_scope())].lower()}.", "success")
        elif action == "revoke" and feed is not None:
            db.session.delete(feed)
            audit("calendar_feed.revoke", target=f"user #{current_user.id}")
            db.session.commit()
            flash("Assinatura desligada: o endereço antigo deixou de funcionar.", "success")
        else:
            flash("Ação inválida.", "error")
            return self._render_feed(feed, form, status=400)
        return redirect(url_for(".feed_view"))

    def _render_feed(self, feed, form, token=None, status=200):
        url = url_for("calendar_feed.ics", token=token, _external=True) if token else None
        return self.render("admin/meeting_feed.html", feed=feed, form=form, feed_url=url,
                           scope_labels=FEED_SCOPE_LABELS), status
