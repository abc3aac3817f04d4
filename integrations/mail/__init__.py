"""E-mail, split by job; this package re-exports what the rest of the panel uses.

- ``recipients``: the hand-typed recipient list (split, pt-BR reasons, normalise, de-duplicate);
- ``text``: text hygiene for headers, bodies and calendar fields;
- ``formatting``: when a meeting happens, the Brazilian way (Babel: weekdays, dates, zone names);
- ``ical``: the meeting as iCalendar (VEVENT, iTIP REQUEST/CANCEL);
- ``messages``: the meeting e-mails as MIME messages (templates/email/);
- ``smtp``: a batch over one SMTP connection, with the outcome per address;
- ``flask_mail_overrides``: every override of Flask-Mail's private API, pinned to the version it mirrors;
- ``senders``: MAIL_DEFAULT_SENDER's address and Message-IDs on its domain.
"""

from flask_mail import Mail

from integrations.mail.flask_mail_overrides import CalendarMessage, PanelMessage, format_address
from integrations.mail.formatting import format_when, local_time
from integrations.mail.ical import PRODID, build_calendar, build_event
from integrations.mail.messages import build_invite_messages, build_reminder_messages
from integrations.mail.recipients import MAX_RECIPIENTS, RecipientError, parse_recipients
from integrations.mail.smtp import BatchResult, send_batch

__all__ = [
    "MAX_RECIPIENTS",
    "PRODID",
    "BatchResult",
    "CalendarMessage",
    "PanelMessage",
    "RecipientError",
    "build_calendar",
    "build_event",
    "build_invite_messages",
    "build_reminder_messages",
    "format_address",
    "format_when",
    "local_time",
    "mail",
    "parse_recipients",
    "send_batch",
]

mail = Mail()
