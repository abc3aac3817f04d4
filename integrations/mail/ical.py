"""The meeting as iCalendar: one VEVENT (same UID and SEQUENCE in invites, updates, cancellations and the feed)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from icalendar import Calendar, Event, vCalAddress, vText

from integrations.mail.recipients import validate_address
from integrations.mail.senders import default_sender_address
from integrations.mail.text import clean_block, clean_line, safe_url

__all__ = ["CALENDAR_METHODS", "PRODID", "build_calendar", "build_event", "organizer_address"]

PRODID = "-//Painel de Cobranca//Reunioes//PT-BR"
#: iTIP methods the panel sends. No VALARM anywhere: mail clients strip organiser alarms and some reject invites
#: that carry one.
CALENDAR_METHODS = ("REQUEST", "CANCEL")


def as_utc(dt: datetime) -> datetime:
    """A naive-UTC (storage) or aware datetime as aware UTC."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def valid_address(value: Any) -> str | None:
    """The normalised address, or None when ``value`` is empty or not a usable address."""
    if not value:
        return None
    address, reason = validate_address(str(value).strip())
    return address if reason is None else None


def _param_text(value: str) -> str:
    # Parameter values cannot hold DQUOTE (RFC 5545 §3.1); everything else is quoted by icalendar.
    return value.replace('"', "'")


def build_calendar(
    meeting: Any, attendee: str, *, method: str = "REQUEST", stamp: datetime | None = None
) -> bytes:
    """Serialise the meeting as an iTIP VCALENDAR (RFC 5545/5546) addressed to one attendee."""
    method = method.upper()
    if method not in CALENDAR_METHODS:
        raise ValueError(f"Unsupported iTIP method: {method!r}")
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)
    cal.add_component(build_event(meeting, attendee, cancel=method == "CANCEL", stamp=stamp))
    return cal.to_ical()


def organizer_address() -> str:
    """The address every calendar object names as ORGANIZER: the configured sender's, as the e-mail's From."""
    return default_sender_address()


def build_event(
    meeting: Any, attendee: str | None, *, cancel: bool = False, stamp: datetime | None = None
) -> Event:
    """Build the meeting's VEVENT (same UID and SEQUENCE everywhere: invites, updates, the calendar feed).

    ``attendee`` None leaves the ATTENDEE out (the read-only feed: nobody is asked to answer).
    """
    subject = clean_line(meeting.subject, 200)
    place = clean_line(meeting.place)
    video_link = clean_line(meeting.video_link)
    agenda = clean_block(meeting.agenda)
    agency_name = clean_line(meeting.agency.name)
    owner_email = valid_address(meeting.owner.email)

    event = Event()
    event.add("uid", meeting.uid)
    event.add("sequence", int(meeting.sequence))
    event.add("dtstamp", stamp or datetime.now(UTC))
    # UTC (…Z) needs no VTIMEZONE, which is where Outlook and stale tz rules go wrong for São Paulo.
    event.add("dtstart", as_utc(meeting.starts_at))
    event.add("dtend", as_utc(meeting.ends_at))
    event.add("summary", subject)
    location = " — ".join(part for part in (place, video_link) if part)
    if location:
        event.add("location", location)
    description = [f"Credor: {clean_line(meeting.creditor.name)}"]
    owner_line = f"Responsável: {clean_line(meeting.owner.name)}"
    description.append(f"{owner_line} <{owner_email}>" if owner_email else owner_line)
    if video_link:
        description.append(f"Link da reunião: {video_link}")
    if agenda:
        description.append(f"\nPauta:\n{agenda}")
    if cancel:
        description.insert(0, "Reunião cancelada.\n")
    event.add("description", "\n".join(description))
    url = safe_url(video_link)
    if url:
        event.add("url", url)

    # The organizer is what the recipient sees in From: the agency's name at the configured sender address.
    organizer = vCalAddress(f"mailto:{organizer_address()}")
    organizer.params["CN"] = vText(_param_text(agency_name))
    event.add("organizer", organizer)
    if attendee is not None:
        guest = vCalAddress(f"mailto:{attendee}")
        guest.params["CUTYPE"] = vText("INDIVIDUAL")
        guest.params["ROLE"] = vText("REQ-PARTICIPANT")
        guest.params["PARTSTAT"] = vText("NEEDS-ACTION")
        guest.params["RSVP"] = vText("FALSE" if cancel else "TRUE")
        guest.params["CN"] = vText(_param_text(attendee))
        event.add("attendee", guest)
    event.add("status", "CANCELLED" if cancel else "CONFIRMED")
    event.add("transp", "OPAQUE")
    return event
