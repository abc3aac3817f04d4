"""Sending a batch of messages over one SMTP connection, with a pt-BR outcome per address."""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from flask_mail import BadHeaderError, Message, email_dispatched, sanitize_address

from integrations.mail.flask_mail_overrides import SmtpConnection
from integrations.mail.senders import mail_state
from integrations.mail.text import clean_line

__all__ = ["DEFAULT_SMTP_TIMEOUT", "BatchResult", "send_batch"]

logger = logging.getLogger("integrations.mail")

#: Seconds for SMTP connect and each SMTP command; Flask-Mail sets no timeout at all.
DEFAULT_SMTP_TIMEOUT = 30.0


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
        return clean_line(f"{exc.smtp_code} {detail}", 300)
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
        return f"falha na conexão segura (TLS): {clean_line(exc.reason or str(exc), 200)}"
    if isinstance(exc, OSError) and exc.strerror:
        return clean_line(exc.strerror, 300)
    return clean_line(str(exc), 300) or type(exc).__name__


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


def _connection_lost(connection: SmtpConnection, exc: BaseException) -> bool:
    host = connection.host
    if host is None:
        return False
    if getattr(host, "sock", None) is None:
        return True
    # After a reply code (refused recipient, rejected DATA) smtplib has sent RSET and the session is
    # usable; after a socket error or timeout its state is unknown, so stop using it.
    return not isinstance(exc, (smtplib.SMTPRecipientsRefused, smtplib.SMTPResponseException, BadHeaderError))


def send_batch(messages: list[Message], *, before: Callable[[Message], None] | None = None,
               after: Callable[[Message], None] | None = None, result: BatchResult | None = None) -> BatchResult:
    """Send messages over one SMTP connection and report the result per address; never raise on SMTP errors.

    ``before(message)`` runs right before a message's SMTP transaction, ``after(message)`` right after its result
    is in ``result`` (the caller records both durably: a process that dies in between leaves the proof that this
    message's transaction may have happened).

    A refused recipient or rejected message fails only that message. If the connection drops, the
    message in flight and all later ones are reported as failed (no reconnect: the in-flight one may
    or may not have been delivered, and a retry is the user's "resend to failures" decision).
    """
    result = result if result is not None else BatchResult()
    if not messages:
        return result
    state = mail_state()
    connection = SmtpConnection(state, float(current_app.config.get("MAIL_TIMEOUT", DEFAULT_SMTP_TIMEOUT)))
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
                if before is not None:
                    before(message)
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
                        if after is not None:
                            after(message)
                        _fail_rest(result, messages[index + 1 :], exc)
                        break
                else:
                    result._mark_sent(message)
                if after is not None:
                    after(message)
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
        detail = clean_line(f"{code} {reply_text}", 300)
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
