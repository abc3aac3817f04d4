"""When a meeting happens, the Brazilian way, in the agency's time zone (weekdays, dates, zone names by Babel)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.core import get_global
from babel.dates import format_date, get_timezone_gmt, get_timezone_name

#: The e-mails' language (the panel's BABEL_DEFAULT_LOCALE); e-mails are also built outside any request.
LOCALE = "pt_BR"
_LONG_DATE = "EEEE, dd/MM/yyyy"  # sexta-feira, 27/11/2026


def local_time(dt_utc: datetime, tz_name: str) -> datetime:
    """Convert a naive-UTC (or aware) datetime to the given IANA time zone."""
    aware = dt_utc.replace(tzinfo=UTC) if dt_utc.tzinfo is None else dt_utc
    return aware.astimezone(ZoneInfo(tz_name))


def zone_label(tz_name: str, moment: datetime) -> str:
    """Name the zone as people say it (“horário de Brasília”), followed by its IANA name.

    A zone without a common name (no CLDR metazone) is shown by its offset.
    """
    if tz_name in get_global("meta_zones"):
        name = get_timezone_name(ZoneInfo(tz_name), "long", zone_variant="generic", locale=LOCALE)
        label = name[:1].lower() + name[1:]  # mid-sentence: “(horário de Brasília, …)”
    else:
        label = "UTC" + get_timezone_gmt(moment, "iso8601", locale=LOCALE)
    return f"{label}, {tz_name}"


def long_date(moment: datetime) -> str:
    """``sexta-feira, 27/11/2026``."""
    return format_date(moment, _LONG_DATE, locale=LOCALE)


def format_when(meeting: Any) -> str:
    """Describe when the meeting happens, in Brazilian pt-BR, in the agency's time zone."""
    tz_name = meeting.agency.timezone
    start = local_time(meeting.starts_at, tz_name)
    end = local_time(meeting.ends_at, tz_name)
    zone = zone_label(tz_name, start)
    if end.date() == start.date():
        return f"{long_date(start)}, das {start:%H:%M} às {end:%H:%M} ({zone})"
    return f"{long_date(start)}, das {start:%H:%M} às {end:%H:%M} de {long_date(end)} ({zone})"


def short_when(meeting: Any) -> str:
    """``27/11/2026 22:00`` (the subject line)."""
    return f"{local_time(meeting.starts_at, meeting.agency.timezone):%d/%m/%Y %H:%M}"
