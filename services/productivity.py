"""Productivity at a glance: meetings per month and the share marked produtiva (dashboard chart)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import case, func, select

from models import Meeting, User, db
from models.agency import Capability
from models.meeting import MeetingStatus
from models.timeutil import local_day_bounds, local_today

MONTHS_SHORT = ("jan", "fev", "mar", "abr", "mai", "jun", "jul", "ago", "set", "out", "nov", "dez")
#: Months on the chart, the current one included.
MONTHS = 6


@dataclass
class MonthBar:
    label: str
    total: int = 0
    productive: int = 0

    @property
    def share(self) -> int | None:
        """Percentage of the month's meetings marked produtiva (None without meetings)."""
        return round(100 * self.productive / self.total) if self.total else None


@dataclass
class Series:
    name: str
    bars: list[MonthBar] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(b.total for b in self.bars)

    @property
    def productive(self) -> int:
        return sum(b.productive for b in self.bars)

    @property
    def peak(self) -> int:
        return max((b.total for b in self.bars), default=0)


def month_starts(today: date, count: int = MONTHS) -> list[date]:
    """First day of each of the last ``count`` months, oldest first, plus the first day of next month."""
    year, month = today.year, today.month
    starts = []
    for back in range(count - 1, -1, -1):
        m = month - back
        y = year + (m - 1) // 12
        starts.append(date(y, (m - 1) % 12 + 1, 1))
    nxt = date(year + month // 12, month % 12 + 1, 1)
    return [*starts, nxt]


def productivity(user, today: date | None = None) -> tuple[Series, list[Series]]:
    """Return the series of the meetings ``user`` sees (``Meeting.visible_to``) and, for a user who sees every
    portfolio, one per responsible person (one query)."""
    agency_id, tz = user.agency_id, user.agency.timezone
    per_person = user.can(Capability.SEE_ALL_PORTFOLIOS)
    starts = month_starts(today or local_today(tz))
    bounds = [local_day_bounds(d, tz)[0] for d in starts]
    month = case(*((Meeting.starts_at < bounds[i + 1], i) for i in range(MONTHS)), else_=MONTHS)
    query = (select(Meeting.owner_id, month.label("month"), func.count(Meeting.id),
                    func.count(Meeting.id).filter(Meeting.productive.is_(True)))
             .where(Meeting.visible_to(user), Meeting.starts_at >= bounds[0], Meeting.starts_at < bounds[-1],
                    Meeting.status != MeetingStatus.CANCELLED)
             .group_by(Meeting.owner_id, month))
    labels = [f"{MONTHS_SHORT[d.month - 1]}/{d.year % 100:02d}" for d in starts[:-1]]

    def empty(name):
        return Series(name, [MonthBar(label) for label in labels])

    overall = empty("Toda a assessoria" if per_person else "Minhas reuniões")
    per_owner: dict[int, Series] = {}
    for owner, index, total, productive in db.session.execute(query):
        if not 0 <= index < MONTHS:
            continue
        for series in (overall, per_owner.setdefault(owner, empty(""))):
            series.bars[index].total += total
            series.bars[index].productive += productive
    people = []
    if per_person and per_owner:
        names = dict(db.session.execute(select(User.id, User.name).where(User.id.in_(per_owner),
                                                                          User.agency_id == agency_id)).all())
        for owner, series in per_owner.items():
            series.name = names.get(owner, "—")
            people.append(series)
        people.sort(key=lambda s: s.name.casefold())
    return overall, people
