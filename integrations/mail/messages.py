"""The meeting e-mails as MIME messages: invites, updates and cancellations (with their iMIP part) and reminders.

Text and HTML parts come from ``templates/email/`` (one layout each for the plain-text and the HTML part).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import render_template
from flask_mail import Message

from integrations.mail.flask_mail_overrides import CalendarMessage, PanelMessage
from integrations.mail.formatting import format_when, short_when
from integrations.mail.ical import CALENDAR_METHODS, build_calendar, valid_address
from integrations.mail.recipients import RecipientError
from integrations.mail.senders import default_sender_address, message_id
from integrations.mail.text import clean_block, clean_line, is_control, printable, safe_url

__all__ = ["ATTACHMENT_NAMES", "build_invite_messages", "build_reminder_messages", "template_context"]

ATTACHMENT_NAMES = {"REQUEST": "invite.ics", "CANCEL": "cancel.ics"}


def template_context(meeting: Any, recipient: str) -> dict[str, Any]:
    owner = meeting.owner
    video_link = clean_line(meeting.video_link) or None
    return {
        "meeting": meeting,
        "recipient": recipient,
        "subject": clean_line(meeting.subject, 200),
        "when": format_when(meeting),
        "when_short": short_when(meeting),
        "place": clean_line(meeting.place) or None,
        "video_link": video_link,
        "video_url": safe_url(video_link),
        "agenda": clean_block(meeting.agenda) or None,
        "creditor_name": clean_line(meeting.creditor.name),
        "agency_name": clean_line(meeting.agency.name),
        "owner_name": clean_line(owner.name),
        "owner_email": valid_address(owner.email),
        "sequence": meeting.sequence,
    }


def _new_message(
    subject: str, recipient: str, context: dict[str, Any], template: str, **extra: Any
) -> Message:
    # From: the agency's name at the configured sender address (the ORGANIZER of the calendar part), formatted
    # by PanelMessage with the standard library's address objects.
    sender = (context["agency_name"], default_sender_address())
    message_cls = CalendarMessage if "calendar" in extra else PanelMessage
    reply_to = (context["owner_name"], context["owner_email"]) if context["owner_email"] else None
    message = message_cls(
        subject=clean_line(subject),
        recipients=[recipient],
        body=render_template(f"email/{template}.txt", **context),
        html=render_template(f"email/{template}.html", **context),
        sender=sender,
        reply_to=reply_to,
        **extra,
    )
    msg_id = message_id(sender[1])
    if msg_id:
        message.msgId = msg_id
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
        check_recipient(recipient)
        context = template_context(meeting, recipient)
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
        check_recipient(recipient)
        context = template_context(meeting, recipient)
        subject = f"Lembrete: {context['subject']} — {context['when_short']}"
        messages.append(_new_message(subject, recipient, context, "meeting_reminder"))
    return messages


def check_recipient(recipient: str) -> None:
    """Stop what would break headers or the ICS (callers should pass parse_recipients() output)."""
    if not isinstance(recipient, str) or "@" not in recipient or any(is_control(c) for c in recipient):
        shown = printable(str(recipient))
        raise RecipientError(f"Destinatário inválido: “{shown}”.", [(shown, "endereço de e-mail inválido")])
