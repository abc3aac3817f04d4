"""E-mail: meeting invites (iCalendar/iMIP), reminders, recipient parsing and batch sending."""

from __future__ import annotations

import logging
import re
import smtplib
import socket
import ssl
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import charset as email_charset
from email.encoders import encode_base64
from email.mime.base import MIMEBase
from email.mime.text import MIMEText
from email.utils import formataddr, make_msgid, parseaddr
from typing import Any
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email
from flask import current_app, render_template
from flask_mail import BadHeaderError, Connection, Mail, Message, email_dispatched, sanitize_address
from icalendar import Alarm, Calendar, Event, vCalAddress, vText

__all__ = [
    "MAX_RECIPIENTS",
    "BatchResult",
    "CalendarMessage",
    "RecipientError",
    "build_calendar",
    "build_event",
    "build_invite_messages",
    "build_reminder_messages",
    "format_when",
    "local_time",
    "mail",
    "parse_recipients",
    "send_batch",
]

logger = logging.getLogger(__name__)

mail = Mail()

#: Upper bound of addresses per send screen (RFC 5321 only guarantees 100 per transaction; providers
#: throttle bulk senders). Callers may pass a lower or higher ``max_count``.
MAX_RECIPIENTS = 30
#: Minutes before the start for the VALARM in REQUEST invites; None omits the alarm. Several clients
#: strip or ignore organiser alarms, so it is a hint, never a guarantee.
INVITE_ALARM_MINUTES: int | None = None  # no VALARM: clients strip it and some reject invites carrying one
#: Seconds for SMTP connect and each SMTP command; Flask-Mail 0.10 sets no timeout at all.
DEFAULT_SMTP_TIMEOUT = 30.0
PRODID = "-//Painel de Cobranca//Reunioes//PT-BR"
DEFAULT_TIMEZONE = "America/Sao_Paulo"

CALENDAR_METHODS = ("REQUEST", "CANCEL")
ATTACHMENT_NAMES = {"REQUEST": "invite.ics", "CANCEL": "cancel.ics"}

WEEKDAYS = (
    "segunda-feira",
    "terça-feira",
    "quarta-feira",
    "quinta-feira",
    "sexta-feira",
    "sábado",
    "domingo",
)

_BRASILIA = "horário de Brasília"
#: Friendly pt-BR names of the Brazilian IANA zones; other zones are shown by their UTC offset.
ZONE_LABELS = {
    "America/Sao_Paulo": _BRASILIA,
    "America/Bahia": _BRASILIA,
    "America/Fortaleza": _BRASILIA,
    "America/Recife": _BRASILIA,
    "America/Belem": _BRASILIA,
    "America/Maceio": _BRASILIA,
    "America/Araguaina": _BRASILIA,
    "America/Santarem": _BRASILIA,
    "America/Manaus": "horário do Amazonas",
    "America/Porto_Velho": "horário de Rondônia",
    "America/Boa_Vista": "horário de Roraima",
    "America/Cuiaba": "horário de Mato Grosso",
    "America/Campo_Grande": "horário de Mato Grosso do Sul",
    "America/Rio_Branco": "horário do Acre",
    "America/Eirunepe": "horário do Acre",
    "America/Noronha": "horário de Fernando de Noronha",
}

_SEPARATORS = re.compile(r"[,;\s]+")
_HEADER_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9-]*:")
_SPACES = re.compile(r"\s+")


# --------------------------------------------------------------------------- recipients


class RecipientError(ValueError):
    """Raised when a typed recipient list cannot be used; ``errors`` names each bad address."""

    def __init__(self, message: str, errors: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors: list[tuple[str, str]] = list(errors or [])

    def __str__(self) -> str:
        return self.message


def parse_recipients(text: str, max_count: int = MAX_RECIPIENTS) -> list[str]:
    """Split, validate and de-duplicate a hand-typed recipient list, or raise RecipientError."""
    tokens = [token for token in _SEPARATORS.split(text or "") if token]
    if not tokens:
        raise RecipientError("Informe ao menos um destinatário.")
    # A pasted address book must not make us validate thousands of entries before saying "too many".
    if len(tokens) > max(max_count * 10, 100):
        raise RecipientError(_too_many_message(max_count, len(tokens)))

    addresses: list[str] = []
    seen: set[str] = set()
    errors: list[tuple[str, str]] = []
    for token in tokens:
        address, reason = _validate_address(token)
        if reason is not None:
            errors.append((_printable(token), reason))
            continue
        assert address is not None
        key = address.casefold()
        if key not in seen:
            seen.add(key)
            addresses.append(address)

    if errors:
        listed = "; ".join(f"“{shown}” ({reason})" for shown, reason in errors)
        label = "Destinatário inválido" if len(errors) == 1 else "Destinatários inválidos"
        message = f"{label}: {listed}."
        if len(addresses) > max_count:
            message += " " + _too_many_message(max_count, len(addresses))
        raise RecipientError(message, errors)
    if len(addresses) > max_count:
        raise RecipientError(_too_many_message(max_count, len(addresses)))
    return addresses


def _too_many_message(max_count: int, count: int) -> str:
    return f"Informe no máximo {max_count} destinatários por envio (foram informados {count})."


def _validate_address(token: str) -> tuple[str | None, str | None]:
    """Return (normalised address, None) or (None, pt-BR reason) for one token."""
    if any(_is_control(char) for char in token):
        return None, "contém caracteres de controle ou invisíveis"
    if token.lower().startswith("mailto:"):
        return None, "remova o prefixo “mailto:”"
    if _HEADER_LIKE.match(token):
        return None, "parece um cabeçalho de e-mail (como “Bcc:”), não um endereço"
    if token.startswith("<") or token.endswith(">"):
        return None, "informe só o endereço, sem nome nem os sinais < >"
    at_count = token.count("@")
    if at_count == 0:
        return None, "falta o @"
    if at_count > 1:
        return None, "contém mais de um @"
    local, domain = token.split("@")
    if not local:
        return None, "falta a parte antes do @"
    if not domain:
        return None, "falta o domínio depois do @"
    try:
        # No DNS here (request path, and nothing may leave the host); SMTPUTF8 off because an
        # accented local part breaks smtplib without SMTPUTF8 support on the relay.
        result = validate_email(token, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        return None, _translate_validator_error(str(exc))
    # ascii_email is what goes over SMTP (IDN domains as punycode) and what the ICS mailto carries.
    return result.ascii_email or result.normalized, None


_VALIDATOR_REASONS = (
    (
        "Internationalized characters before the @-sign",
        "acentos ou caracteres especiais antes do @ não são aceitos",
    ),
    ("should have a period", "domínio incompleto (exemplo: empresa.com.br)"),
    ("special-use or reserved", "domínio reservado, que não recebe e-mails"),
    ("too long", "endereço longo demais"),
    ("two periods in a row", "há dois pontos seguidos"),
    ("period", "há um ponto no início, no fim ou ao lado do @"),
    ("hyphen", "o domínio não pode começar nem terminar com hífen"),
    ("invalid characters", "contém caracteres não permitidos"),
    ("display name", "informe só o endereço, sem nome nem os sinais < >"),
)


def _translate_validator_error(message: str) -> str:
    for fragment, reason in _VALIDATOR_REASONS:
        if fragment in message:
            return reason
    return "endereço de e-mail inválido"


def _is_control(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")


def _printable(token: str, limit: int = 60) -> str:
    """Show a bad token to the user with control characters made visible and its length capped."""
    shown = "".join(repr(char)[1:-1] if _is_control(char) else char for char in token)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


# --------------------------------------------------------------------------- time


def local_time(dt_utc: datetime, tz_name: str) -> datetime:
    """Convert a naive-UTC (or aware) datetime to the given IANA time zone."""
    aware = dt_utc.replace(tzinfo=UTC) if dt_utc.tzinfo is None else dt_utc
    return aware.astimezone(ZoneInfo(tz_name))


def _as_utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _meeting_timezone(meeting: Any) -> str:
    return getattr(meeting.agency, "timezone", None) or DEFAULT_TIMEZONE


def _meeting_end(meeting: Any) -> datetime:
    return meeting.ends_at or meeting.starts_at + timedelta(hours=1)


def _zone_label(tz_name: str, moment: datetime) -> str:
    label = ZONE_LABELS.get(tz_name)
    if label is None:
        offset = moment.utcoffset() or timedelta(0)
        sign = "-" if offset < timedelta(0) else "+"
        minutes = abs(int(offset.total_seconds())) // 60
        label = f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    return f"{label}, {tz_name}"


def _long_date(moment: datetime) -> str:
    return f"{WEEKDAYS[moment.weekday()]}, {moment:%d/%m/%Y}"


def format_when(meeting: Any) -> str:
    """Describe when the meeting happens, in Brazilian pt-BR, in the agency's time zone."""
    tz_name = _meeting_timezone(meeting)
    start = local_time(meeting.starts_at, tz_name)
    end = local_time(_meeting_end(meeting), tz_name)
    zone = _zone_label(tz_name, start)
    if end <= start:
        return f"{_long_date(start)}, às {start:%H:%M} ({zone})"
    if end.date() == start.date():
        return f"{_long_date(start)}, das {start:%H:%M} às {end:%H:%M} ({zone})"
    return f"{_long_date(start)}, das {start:%H:%M} às {end:%H:%M} de {_long_date(end)} ({zone})"


def _short_when(meeting: Any) -> str:
    start = local_time(meeting.starts_at, _meeting_timezone(meeting))
    return f"{start:%d/%m/%Y %H:%M}"


# --------------------------------------------------------------------------- text hygiene


def _clean_line(value: Any, limit: int | None = None) -> str:
    """Flatten text for a header or a one-line field: no control characters, single spaces."""
    text = "" if value is None else str(value)
    text = "".join(" " if _is_control(char) else char for char in text)
    text = _SPACES.sub(" ", text).strip()
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def _clean_block(value: Any) -> str:
    """Keep line breaks of multi-line text but drop every other control character."""
    text = "" if value is None else str(value)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(char if char in "\n\t" or not _is_control(char) else " " for char in text)
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


def _safe_url(value: Any) -> str | None:
    """Return the link if it is a plain http(s) URL safe to put in href and URL properties."""
    link = _clean_line(value)
    if not link or " " in link or '"' in link or "<" in link or ">" in link:
        return None
    return link if link.lower().startswith(("https://", "http://")) else None


def _valid_address(value: Any) -> str | None:
    if not value:
        return None
    address, reason = _validate_address(str(value).strip())
    return address if reason is None else None


# --------------------------------------------------------------------------- messages


#: Characters that end or separate addresses. RFC 2047 forbids reading them out of an encoded-word, but mail
#: clients that decode before parsing do; a non-ASCII display name (sent as an encoded-word) drops them.
_ADDRESS_PUNCTUATION = re.compile(r'[<>@,;:"\\()\[\]]')


def format_address(name: str | None, address: str) -> str:
    """One address header value, built by the standard library: the display name is quoted (ASCII) or an
    RFC 2047 encoded-word (non-ASCII), so a name like ``X <a@evil.example>,`` can never add an address."""
    display = _clean_line(name or "")
    if not display.isascii():
        display = " ".join(_ADDRESS_PUNCTUATION.sub(" ", display).split())
    return formataddr((display, address), charset="utf-8")


def _as_address(value: str | tuple[str, str]) -> str:
    name, address = value if isinstance(value, tuple) else parseaddr(value)
    return format_address(name, address)


class PanelMessage(Message):
    """Flask-Mail Message whose From and Reply-To are formatted by format_address (Flask-Mail's own
    sanitize_address turns any display name with punctuation into an encoded-word that lax clients split)."""

    def _message(self) -> MIMEBase:
        msg = super()._message()
        msg.replace_header("From", _as_address(self.sender))
        if self.reply_to:
            msg.replace_header("Reply-To", _as_address(self.reply_to))
        return msg


class CalendarMessage(PanelMessage):
    """Flask-Mail Message that carries an iMIP text/calendar part inside multipart/alternative."""

    def __init__(
        self, *args: Any, calendar: bytes | None = None, calendar_method: str = "REQUEST", **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.calendar = calendar
        self.calendar_method = calendar_method

    def _mimetext(self, text: str | None, subtype: str = "plain") -> MIMEText:
        # Flask-Mail re-registers utf-8 without body encoding (raw 8bit, no line limit); quoted-printable
        # keeps long agenda lines under SMTP's 998-octet limit and survives non-8bit-clean relays.
        utf8 = email_charset.Charset("utf-8")
        utf8.body_encoding = email_charset.QP
        return MIMEText(text or "", _subtype=subtype, _charset=utf8)  # type: ignore[arg-type]

    def _message(self) -> MIMEBase:
        # Relies on Flask-Mail 0.10's private _message() (pinned <0.11); tests cover the MIME shape.
        msg = super()._message()
        if self.calendar is not None:
            alternative = next(
                part for part in msg.walk() if part.get_content_type() == "multipart/alternative"
            )
            alternative.attach(_calendar_part(self.calendar, self.calendar_method))
        return msg


def _calendar_part(ics: bytes, method: str) -> MIMEBase:
    """Build the iMIP body part: the MIME method must equal the VCALENDAR METHOD (RFC 6047 §2.4)."""
    part = MIMEBase("text", "calendar")
    part.replace_header("Content-Type", f"text/calendar; method={method}; charset=UTF-8")
    del part["MIME-Version"]
    part.set_payload(ics)
    encode_base64(part)
    return part


def _mail_state() -> Any:
    return current_app.extensions["mail"]


def _default_sender() -> str | tuple[str, str]:
    sender = _mail_state().default_sender
    if not sender:
        raise RuntimeError("MAIL_DEFAULT_SENDER is not configured; cannot build e-mail messages.")
    return sender


def _address_of(sender: str | tuple[str, str]) -> str:
    return sender[1] if isinstance(sender, tuple) else parseaddr(sender)[1]


def _message_id(sender: str | tuple[str, str]) -> str | None:
    domain = _address_of(sender).rpartition("@")[2]
    return make_msgid(domain=domain) if domain else None


def _template_context(meeting: Any, recipient: str) -> dict[str, Any]:
    owner = meeting.owner
    video_link = _clean_line(meeting.video_link) or None
    return {
        "meeting": meeting,
        "recipient": recipient,
        "subject": _clean_line(meeting.subject, 200),
        "when": format_when(meeting),
        "when_short": _short_when(meeting),
        "place": _clean_line(meeting.place) or None,
        "video_link": video_link,
        "video_url": _safe_url(video_link),
        "agenda": _clean_block(meeting.agenda) or None,
        "creditor_name": _clean_line(meeting.creditor.name),
        "agency_name": _clean_line(meeting.agency.name),
        "owner_name": _clean_line(owner.name),
        "owner_email": _valid_address(owner.email),
        "sequence": meeting.sequence,
    }


def _check_recipient(recipient: str) -> None:
    # Callers should pass parse_recipients() output; this only stops what would break headers or the ICS.
    if not isinstance(recipient, str) or "@" not in recipient or any(_is_control(c) for c in recipient):
        shown = _printable(str(recipient))
        raise RecipientError(f"Destinatário inválido: “{shown}”.", [(shown, "endereço de e-mail inválido")])


def _new_message(
    subject: str, recipient: str, context: dict[str, Any], template: str, **extra: Any
) -> Message:
    # From: the agency's name at the configured sender address (the ORGANIZER of the calendar part), formatted
    # by PanelMessage with the standard library's address objects.
    sender = (context["agency_name"], _address_of(_default_sender()))
    message_cls = CalendarMessage if "calendar" in extra else PanelMessage
    reply_to = (context["owner_name"], context["owner_email"]) if context["owner_email"] else None
    message = message_cls(
        subject=_clean_line(subject),
        recipients=[recipient],
        body=render_template(f"email/{template}.txt", **context),
        html=render_template(f"email/{template}.html", **context),
        sender=sender,
        reply_to=reply_to,
        **extra,
    )
    message_id = _message_id(sender)
    if message_id:
        # Flask-Mail's default Message-ID carries the local host name; use the sender's domain.
        message.msgId = message_id
    return message


def build_invite_messages(
    meeting: Any, recipients: list[str], *, method: str = "REQUEST", update: bool | None = None
) -> list[Message]:
    """Build one calendar-invite message per recipient (REQUEST invite/update or CANCEL)."""
    method = method.upper()
    if method not in CALENDAR_METHODS:
        raise ValueError(f"Unsupported iTIP method: {method!r}")
    if update is None:
        update = meeting.sequence > 0
    if method == "CANCEL":
        template, prefix = "meeting_cancel", "Cancelada"
    elif update:
        template, prefix = "meeting_update", "Atualização"
    else:
        template, prefix = "meeting_invite", "Convite"

    messages: list[Message] = []
    stamp = datetime.now(UTC)
    for recipient in recipients:
        _check_recipient(recipient)
        context = _template_context(meeting, recipient)
        context["attachment_name"] = ATTACHMENT_NAMES[method]
        subject = f"{prefix}: {context['subject']} — {context['when_short']}"
        ics = build_calendar(meeting, recipient, method=method, stamp=stamp)
        message = _new_message(subject, recipient, context, template, calendar=ics, calendar_method=method)
        # Same bytes as the iMIP part: clients that only look at attachments still get the event.
        # application/ics (as Gmail and Thunderbird send it) keeps it from being a second iTIP body.
        name = ATTACHMENT_NAMES[method]
        message.attach(name, f'application/ics; name="{name}"', ics)
        messages.append(message)
    return messages


def build_reminder_messages(meeting: Any, recipients: list[str]) -> list[Message]:
    """Build one plain reminder e-mail (text + HTML, no calendar part) per recipient."""
    messages: list[Message] = []
    for recipient in recipients:
        _check_recipient(recipient)
        context = _template_context(meeting, recipient)
        subject = f"Lembrete: {context['subject']} — {context['when_short']}"
        messages.append(_new_message(subject, recipient, context, "meeting_reminder"))
    return messages


# --------------------------------------------------------------------------- iCalendar


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
    return _address_of(_default_sender())


def build_event(
    meeting: Any, attendee: str | None, *, cancel: bool = False, stamp: datetime | None = None
) -> Event:
    """Build the meeting's VEVENT (same UID and SEQUENCE everywhere: invites, updates, the calendar feed).

    ``attendee`` None leaves the ATTENDEE out (the read-only feed: nobody is asked to answer).
    """
    subject = _clean_line(meeting.subject, 200)
    place = _clean_line(meeting.place)
    video_link = _clean_line(meeting.video_link)
    agenda = _clean_block(meeting.agenda)
    agency_name = _clean_line(meeting.agency.name)
    owner_email = _valid_address(meeting.owner.email)

    event = Event()
    event.add("uid", meeting.uid)
    event.add("sequence", int(meeting.sequence))
    event.add("dtstamp", stamp or datetime.now(UTC))
    # UTC (…Z) needs no VTIMEZONE, which is where Outlook and stale tz rules go wrong for São Paulo.
    event.add("dtstart", _as_utc(meeting.starts_at))
    event.add("dtend", _as_utc(_meeting_end(meeting)))
    event.add("summary", subject)
    location = " — ".join(part for part in (place, video_link) if part)
    if location:
        event.add("location", location)
    description = [f"Credor: {_clean_line(meeting.creditor.name)}"]
    owner_line = f"Responsável: {_clean_line(meeting.owner.name)}"
    description.append(f"{owner_line} <{owner_email}>" if owner_email else owner_line)
    if video_link:
        description.append(f"Link da reunião: {video_link}")
    if agenda:
        description.append(f"\nPauta:\n{agenda}")
    if cancel:
        description.insert(0, "Reunião cancelada.\n")
    event.add("description", "\n".join(description))
    url = _safe_url(video_link)
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

    if not cancel and attendee is not None and INVITE_ALARM_MINUTES is not None:
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", f"Lembrete: {subject}")
        alarm.add("trigger", timedelta(minutes=-INVITE_ALARM_MINUTES))
        event.add_component(alarm)
    return event


# --------------------------------------------------------------------------- sending


@dataclass
class BatchResult:
    """Per-address outcome of send_batch."""

    sent: list[str] = field(default_factory=list)
    #: address → pt-BR reason, fit to show to the user.
    failed: dict[str, str] = field(default_factory=dict)
    #: address → Message-ID of the message accepted for it (for the send log).
    message_ids: dict[str, str] = field(default_factory=dict)

    @property
    def all_sent(self) -> bool:
        """Return True when at least one message went out and none failed."""
        return bool(self.sent) and not self.failed

    def _mark_sent(self, message: Message) -> None:
        for address in _addresses(message):
            self.sent.append(address)
            self.message_ids[address] = message.msgId

    def _mark_failed(self, address: str, reason: str) -> None:
        self.failed[address] = reason
        logger.warning("E-mail to %s not sent: %s", address, reason)


class _Connection(Connection):
    """Flask-Mail connection with a socket timeout and a close that never raises."""

    def __init__(self, state: Any, timeout: float) -> None:
        super().__init__(state)
        self.timeout = timeout

    def configure_host(self) -> smtplib.SMTP:
        # Same steps as Flask-Mail 0.10's configure_host, plus the timeout it does not pass.
        state = self.mail
        smtp_class = smtplib.SMTP_SSL if state.use_ssl else smtplib.SMTP
        host = smtp_class(state.server, state.port, timeout=self.timeout)
        try:
            host.set_debuglevel(int(state.debug))
            if state.use_tls:
                host.starttls()
            if state.username and state.password:
                host.login(state.username, state.password)
        except BaseException:
            host.close()
            raise
        return host

    def open(self) -> None:
        self.host = None if self.mail.suppress else self.configure_host()
        self.num_emails = 0

    def close_quietly(self) -> None:
        host, self.host = self.host, None
        if host is None:
            return
        try:
            host.quit()
        except OSError:  # smtplib.SMTPException is an OSError
            host.close()


def _addresses(message: Message) -> list[str]:
    found: list[str] = []
    for item in [*message.recipients, *message.cc, *message.bcc]:
        address = item[1] if isinstance(item, tuple) else item
        if address not in found:
            found.append(address)
    return found


def _describe(exc: BaseException) -> str:
    """Summarise an SMTP/socket error in pt-BR, keeping the server's code and text when there is one."""
    if isinstance(exc, smtplib.SMTPResponseException):
        detail = exc.smtp_error
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        return _clean_line(f"{exc.smtp_code} {detail}", 300)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return "conexão encerrada pelo servidor"
    if isinstance(exc, ConnectionRefusedError):
        return "conexão recusada"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return "conexão interrompida pelo servidor"
    if isinstance(exc, TimeoutError):
        return "tempo de resposta esgotado"
    if isinstance(exc, socket.gaierror):
        return "endereço do servidor não encontrado"
    if isinstance(exc, ssl.SSLError):
        return f"falha na conexão segura (TLS): {_clean_line(exc.reason or str(exc), 200)}"
    if isinstance(exc, OSError) and exc.strerror:
        return _clean_line(exc.strerror, 300)
    return _clean_line(str(exc), 300) or type(exc).__name__


def _failure_reason(exc: BaseException) -> str:
    if isinstance(exc, BadHeaderError):
        return "Cabeçalho inválido (quebra de linha no assunto, remetente ou destinatário)."
    if isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code == 421:
        return f"O servidor de e-mail encerrou a conexão antes deste envio ({_describe(exc)})."
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return f"Remetente recusado pelo servidor de e-mail ({_describe(exc)})."
    if isinstance(exc, smtplib.SMTPDataError):
        return f"Mensagem recusada pelo servidor de e-mail ({_describe(exc)})."
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        # The server may have stored the message before dropping the line; say so instead of guessing.
        return "A conexão com o servidor de e-mail caiu durante o envio; a entrega não foi confirmada."
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"Erro do servidor de e-mail ({_describe(exc)})."
    return f"Falha de comunicação com o servidor de e-mail ({_describe(exc)})."


def _connection_lost(connection: _Connection, exc: BaseException) -> bool:
    host = connection.host
    if host is None:
        return False
    if getattr(host, "sock", None) is None:
        return True
    # After a reply code (refused recipient, rejected DATA) smtplib has sent RSET and the session is
    # usable; after a socket error or timeout its state is unknown, so stop using it.
    return not isinstance(exc, (smtplib.SMTPRecipientsRefused, smtplib.SMTPResponseException, BadHeaderError))


def send_batch(messages: list[Message]) -> BatchResult:
    """Send messages over one SMTP connection and report the result per address; never raise on SMTP errors.

    A refused recipient or rejected message fails only that message. If the connection drops, the
    message in flight and all later ones are reported as failed (no reconnect: the in-flight one may
    or may not have been delivered, and a retry is the user's "resend to failures" decision).
    """
    result = BatchResult()
    if not messages:
        return result
    state = _mail_state()
    connection = _Connection(state, float(current_app.config.get("MAIL_TIMEOUT", DEFAULT_SMTP_TIMEOUT)))
    try:
        connection.open()
    except OSError as exc:
        target = f"{state.server}:{state.port}"
        reason = f"Servidor de e-mail indisponível: {target} ({_describe(exc)})."
        for message in messages:
            for address in _addresses(message):
                result._mark_failed(address, reason)
        return result

    # Flask-Mail fires email_dispatched right after a successful sendmail; if its MAIL_MAX_EMAILS
    # reconnect then fails, send() raises although this message was delivered.
    dispatched: list[Message] = []

    def record(app: Any, message: Message, **_: Any) -> None:
        dispatched.append(message)

    try:
        with email_dispatched.connected_to(record):
            for index, message in enumerate(messages):
                addresses = _addresses(message)
                if not addresses:
                    logger.warning("Skipping an e-mail without recipients (subject hidden).")
                    continue
                if not message.sender:
                    for address in addresses:
                        result._mark_failed(address, "Remetente não configurado (MAIL_DEFAULT_SENDER).")
                    continue
                try:
                    connection.send(message)
                except smtplib.SMTPRecipientsRefused as exc:
                    _fail_refused(result, addresses, exc)
                except (OSError, BadHeaderError, UnicodeError) as exc:
                    if any(sent is message for sent in dispatched):
                        result._mark_sent(message)
                    else:
                        reason = _failure_reason(exc)
                        for address in addresses:
                            result._mark_failed(address, reason)
                    if _connection_lost(connection, exc):
                        _fail_rest(result, messages[index + 1 :], exc)
                        break
                else:
                    result._mark_sent(message)
    finally:
        connection.close_quietly()
    return result


def _fail_refused(result: BatchResult, addresses: list[str], exc: smtplib.SMTPRecipientsRefused) -> None:
    refused = {str(key).lower(): value for key, value in exc.recipients.items()}
    fallback = next(iter(refused.values()), None)
    for address in addresses:
        code_reply = refused.get(sanitize_address(address).lower(), fallback)
        if code_reply is None:
            result._mark_failed(address, "Destinatário recusado pelo servidor de e-mail.")
            continue
        code, reply = code_reply
        reply_text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        detail = _clean_line(f"{code} {reply_text}", 300)
        if 400 <= int(code) < 500:
            reason = f"Destinatário recusado temporariamente ({detail}); tente novamente mais tarde."
        else:
            reason = f"Destinatário recusado pelo servidor de e-mail ({detail})."
        result._mark_failed(address, reason)


def _fail_rest(result: BatchResult, rest: list[Message], exc: BaseException) -> None:
    reason = f"Não enviado: a conexão com o servidor de e-mail caiu antes deste envio ({_describe(exc)})."
    for message in rest:
        for address in _addresses(message):
            result._mark_failed(address, reason)
