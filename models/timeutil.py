"""Time helpers: the database stores naive UTC; agencies see their own wall time."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "America/Sao_Paulo"


def utcnow() -> datetime:
    """Return the current time as a naive UTC datetime (the storage convention)."""
    return datetime.now(UTC).replace(tzinfo=None)


def to_local(dt_utc: datetime, tz_name: str = DEFAULT_TIMEZONE) -> datetime:
    """Convert a naive UTC datetime to an aware datetime in the given zone."""
    return dt_utc.replace(tzinfo=UTC).astimezone(ZoneInfo(tz_name))


def to_utc(dt_local: datetime, tz_name: str = DEFAULT_TIMEZONE) -> datetime:
    """Convert a naive wall-clock datetime in the given zone to naive UTC."""
    if dt_local.tzinfo is None:
        dt_local = dt_local.replace(tzinfo=ZoneInfo(tz_name))
    return dt_local.astimezone(UTC).replace(tzinfo=None)


def local_today(tz_name: str = DEFAULT_TIMEZONE, now_utc: datetime | None = None) -> date:
    """Return today's date in the given zone (not the UTC date)."""
    return to_local(now_utc or utcnow(), tz_name).date()


def local_day_bounds(day: date, tz_name: str = DEFAULT_TIMEZONE) -> tuple[datetime, datetime]:
    """Return the half-open naive-UTC interval [start, end) covering ``day`` in the given zone."""
    tz = ZoneInfo(tz_name)
    start = datetime.combine(day, time.min, tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    return start.astimezone(UTC).replace(tzinfo=None), end.astimezone(UTC).replace(tzinfo=None)
