"""The private calendar feed: which meetings a token gives, serialised as an iCalendar subscription."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from icalendar import Calendar
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from integrations.mail import PRODID, build_event
from models import CalendarFeed, Meeting, db
from models.feed import FeedScope, hash_token
from models.meeting import MeetingStatus
from models.timeutil import utcnow

#: How far back the feed goes (calendar apps keep what they already imported) and how many events at most.
FEED_PAST_DAYS = 180
FEED_MAX_EVENTS = 2000
#: last_used_at is written at most this often (a feed is polled all day long).
LAST_USED_RESOLUTION = timedelta(hours=1)


def find_feed(token: str) -> CalendarFeed | None:
    """Return the live feed of this token, or None (unknown, revoked, inactive user, meetings switched off)."""
    if not token or len(token) > 200:
        return None
    feed = db.session.scalar(select(CalendarFeed).where(CalendarFeed.token_hash == hash_token(token))
                             .options(joinedload(CalendarFeed.user)))
    if feed is None or not feed.user.active or feed.user.agency_id != feed.agency_id:
        return None
    if not feed.user.agency.meetings_enabled:
        return None
    return feed


def feed_meetings(feed: CalendarFeed, now: datetime | None = None) -> list[Meeting]:
    """The feed's meetings: those the user sees (``Meeting.visible_to``), only their own unless they chose all."""
    since = (now or utcnow()) - timedelta(days=FEED_PAST_DAYS)
    query = (select(Meeting).where(Meeting.visible_to(feed.user), Meeting.starts_at >= since)
             .options(joinedload(Meeting.creditor), joinedload(Meeting.owner), joinedload(Meeting.agency))
             .order_by(Meeting.starts_at).limit(FEED_MAX_EVENTS))
    if feed.effective_scope() != FeedScope.ALL:
        query = query.where(Meeting.owner_id == feed.user_id)
    return list(db.session.scalars(query))


def render_feed(feed: CalendarFeed, now: datetime | None = None) -> bytes:
    """Serialise the feed as a VCALENDAR (no METHOD: a published calendar, not an iTIP message)."""
    agency = feed.user.agency
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"Reuniões — {agency.name}")
    cal.add("x-wr-timezone", agency.timezone)
    cal.add("x-published-ttl", "PT1H")
    stamp = datetime.now(UTC)
    for meeting in feed_meetings(feed, now):
        cal.add_component(build_event(meeting, None, cancel=meeting.status == MeetingStatus.CANCELLED, stamp=stamp))
    return cal.to_ical()


def touch(feed: CalendarFeed) -> None:
    now = utcnow()
    if feed.last_used_at is None or now - feed.last_used_at > LAST_USED_RESOLUTION:
        feed.last_used_at = now
        db.session.commit()
