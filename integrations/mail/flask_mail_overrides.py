"""Every place the panel reaches into Flask-Mail's private API, in one module.

Mirrors Flask-Mail ``FLASK_MAIL_VERSION``: ``Message._message()`` (the MIME tree it builds), ``Message._mimetext()``
and ``Connection.configure_host()``/``open()``. ``tests/test_mail.py`` fails as soon as the installed Flask-Mail is
another version, so that an upgrade is a deliberate act: read the new ``flask_mail`` source, adapt these
overrides, then bump the version here.
"""

from __future__ import annotations

import re
import smtplib
from email import charset as email_charset
from email.encoders import encode_base64
from email.mime.base import MIMEBase
from email.mime.text import MIMEText
from email.utils import formataddr, parseaddr
from typing import Any

from flask_mail import Connection, Message

from integrations.mail.text import clean_line

__all__ = ["FLASK_MAIL_VERSION", "CalendarMessage", "PanelMessage", "SmtpConnection", "format_address"]

#: The Flask-Mail release whose private API the classes below override.
FLASK_MAIL_VERSION = "0.10.0"

#: Characters that end or separate addresses. RFC 2047 forbids reading them out of an encoded-word, but mail
#: clients that decode before parsing do; a non-ASCII display name (sent as an encoded-word) drops them.
_ADDRESS_PUNCTUATION = re.compile(r'[<>@,;:"\\()\[\]]')


def format_address(name: str | None, address: str) -> str:
    """One address header value, built by the standard library: the display name is quoted (ASCII) or an
    RFC 2047 encoded-word (non-ASCII), so a name like ``X <a@evil.example>,`` can never add an address."""
    display = clean_line(name or "")
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


class SmtpConnection(Connection):
    """Flask-Mail connection with a socket timeout and a close that never raises."""

    def __init__(self, state: Any, timeout: float) -> None:
        super().__init__(state)
        self.timeout = timeout

    def configure_host(self) -> smtplib.SMTP:
        # Same steps as Flask-Mail's configure_host, plus the timeout it does not pass.
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
