"""Who the e-mails come from: the configured MAIL_DEFAULT_SENDER's address (also the calendar ORGANIZER)."""

from __future__ import annotations

from email.utils import make_msgid, parseaddr
from typing import Any

from flask import current_app


def mail_state() -> Any:
    """Flask-Mail's configured state of the current app."""
    return current_app.extensions["mail"]


def default_sender_address() -> str:
    """The address of MAIL_DEFAULT_SENDER (without its display name)."""
    sender = mail_state().default_sender
    if not sender:
        raise RuntimeError("MAIL_DEFAULT_SENDER is not configured; cannot build e-mail messages.")
    return sender[1] if isinstance(sender, tuple) else parseaddr(sender)[1]


def message_id(address: str) -> str | None:
    """A Message-ID on the sender's domain (Flask-Mail's default carries the local host name)."""
    domain = address.rpartition("@")[2]
    return make_msgid(domain=domain) if domain else None
