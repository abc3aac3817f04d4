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


@dataclass
class Period:
    """The days a calendar page shows: a week (Monday to Sunday), or a month padded to whole weeks."""

    anchor: date
    first: date
    last: date
    in_range: tuple[date, date]
    prev_day: date
    next_day: date
    title: str

    @classmethod
    def around(cls, anchor: date, mode: str) -> Period:
        if mode == "week":
            first = anchor - timedelta(days=anchor.weekday())
            last = first + timedelta(days=6)
            return cls(anchor, first, last, (first, last), first - timedelta(days=7), first + timedelta(days=7),
                       f"Semana de {first:%d/%m} a {last:%d/%m/%Y}")
        month_first = anchor.replace(day=1)
        month_last = anchor.replace(day=monthrange(anchor.year, anchor.month)[1])
        return cls(anchor, month_first - timedelta(days=month_first.weekday()),
                   month_last + timedelta(days=6 - month_last.weekday()), (month_first, month_last),
                   (month_first - timedelta(days=1)).replace(day=1), month_last + timedelta(days=1),
                   f"{MONTHS[anchor.month - 1].capitalize()} de {anchor.year}")

    def weeks(self, meetings, today: date, tz: str, now: datetime) -> list[list[Day]]:
        """The period's days in rows of seven, each with its meetings (local start time and situation)."""
        days = {}
        cursor = self.first
        while cursor <= self.last:
            days[cursor] = Day(cursor, self.in_range[0] <= cursor <= self.in_range[1], cursor == today)
            cursor += timedelta(days=1)
        for meeting in meetings:
            local = to_local(meeting.starts_at, tz)
            if local.date() in days:
                days[local.date()].items.append((meeting, local, situation(meeting, now)))
        ordered = list(days.values())
        return [ordered[i:i + 7] for i in range(0, len(ordered), 7)]


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
        tz = current_user.agency.timezone
        today = local_today(tz)
        mode = "month" if request.args.get("view") == "month" else "week"
        period = Period.around(_parse_day(request.args.get("date"), today), mode)
        start, _ = local_day_bounds(period.first, tz)
        _, end = local_day_bounds(period.last, tz)
        meetings = db.session.scalars(
            select(Meeting).where(Meeting.visible_to(current_user), Meeting.starts_at >= start,
                                  Meeting.starts_at < end)
            .options(joinedload(Meeting.creditor), joinedload(Meeting.owner))
            .order_by(Meeting.starts_at).limit(MAX_MEETINGS)).all()
        return self.render("admin/meeting_calendar.html", mode=mode, weeks=period.weeks(meetings, today, tz, utcnow()),
                           title=period.title, prev_day=period.prev_day, next_day=period.next_day, today=today,
                           anchor=period.anchor, weekdays=WEEKDAYS_SHORT, situations=SITUATIONS,
                           status_labels=MEETING_STATUS_LABELS, truncated=len(meetings) >= MAX_MEETINGS,
                           count=len(meetings))

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
        if action in ("enable", "regenerate"):
            feed, token = self._new_address(feed, scope, action)
            return self._render_feed(feed, form, token=token)
        if action == "scope" and feed is not None:
            self._save_scope(feed, scope)
        elif action == "revoke" and feed is not None:
            db.session.delete(feed)
            audit("calendar_feed.revoke", target=f"user #{current_user.id}")
            db.session.commit()
            flash("Assinatura desligada: o endereço antigo deixou de funcionar.", "success")
        else:
            flash("Ação inválida.", "error")
            return self._render_feed(feed, form, status=400)
        return redirect(url_for(".feed_view"))

    def _new_address(self, feed: CalendarFeed | None, scope: str, action: str) -> tuple[CalendarFeed, str]:
        """Turn the feed on (or give it a new address) and return it with its token: shown on this response only,
        the database keeps just its hash."""
        if feed is None:
            feed = CalendarFeed(user_id=current_user.id, agency_id=current_user.agency_id)
            db.session.add(feed)
        feed.scope = scope
        token = feed.new_token()
        audit("calendar_feed." + ("create" if action == "enable" else "regenerate"),
              target=f"user #{current_user.id}", details=f"escopo={feed.scope}")
        db.session.commit()
        flash("Endereço gerado. Copie-o agora: por segurança ele não será mostrado de novo.", "success")
        return feed, token

    def _save_scope(self, feed: CalendarFeed, scope: str) -> None:
        feed.scope = scope
        audit("calendar_feed.scope", target=f"user #{current_user.id}", details=f"escopo={feed.scope}")
        db.session.commit()
        flash("Preferência salva: o calendário assinado passa a mostrar "
              f"{FEED_SCOPE_LABELS[FeedScope(feed.effective_scope())].lower()}.", "success")

    def _render_feed(self, feed, form, token=None, status=200):
        url = url_for("calendar_feed.ics", token=token, _external=True) if token else None
        return self.render("admin/meeting_feed.html", feed=feed, form=form, feed_url=url,
                           scope_labels=FEED_SCOPE_LABELS), status
