"""Tests for integrations.mail (invites, reminders, recipients, batch sending) and the SMTP catcher."""

from __future__ import annotations

import email
import logging
import re
import socket
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace

import pytest
from flask import Flask
from icalendar import Calendar

from devtools import smtp_catcher
from devtools.smtp_catcher import MailCatcher
from integrations.mail import (
    MAX_RECIPIENTS,
    BatchResult,
    RecipientError,
    build_calendar,
    build_invite_messages,
    build_reminder_messages,
    format_when,
    local_time,
    mail,
    parse_recipients,
    send_batch,
)

REPO = Path(__file__).resolve().parents[1]
SENDER = "Assessoria Demo <nao-responda@demo.com.br>"
GUEST = "convidado@exemplo.com.br"
WHEN_22H = "sexta-feira, 27/11/2026, das 22:00 às 23:00 (horário de Brasília, America/Sao_Paulo)"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_meeting(**overrides):
    """Build a duck-typed meeting: 22:00-23:00 São Paulo time on 27/11/2026 (01:00Z on the 28th)."""
    data = {
        "id": 7,
        "uid": "reuniao-5b0e7f7c-0d8e-4a55-9d61-1f0e3c2a9b10@painel-cobranca",
        "sequence": 0,
        "subject": "Renegociação da carteira 2026",
        "starts_at": datetime(2026, 11, 28, 1, 0),
        "ends_at": datetime(2026, 11, 28, 2, 0),
        "place": "Av. Paulista, 1000, sala 3",
        "video_link": "https://meet.exemplo.com.br/abc-defg?sala=3&x=1",
        "agenda": "1. Propostas de acordo\n2. Próximos passos",
        "creditor": SimpleNamespace(name="Banco Exemplo S.A."),
        "owner": SimpleNamespace(name="Ana Souza", email="ana.souza@demo.com.br"),
        "agency": SimpleNamespace(
            name="Assessoria Demo", contact_email="agenda@demo.com.br", timezone="America/Sao_Paulo"
        ),
    }
    data.update(overrides)
    return SimpleNamespace(**data)


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)


def calendar_part(msg: EmailMessage) -> EmailMessage:
    return next(part for part in msg.walk() if part.get_content_type() == "text/calendar")


def ics_of(msg: EmailMessage) -> bytes:
    return calendar_part(msg).get_payload(decode=True)


def only_event(ics: bytes):
    cal = Calendar.from_ical(ics)
    events = cal.walk("VEVENT")
    assert len(events) == 1
    return cal, events[0]


def body_text(msg: EmailMessage, subtype: str) -> str:
    return msg.get_body(preferencelist=(subtype,)).get_content()


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def make_catcher(tmp_path):
    started: list[MailCatcher] = []

    def factory(**options) -> MailCatcher:
        catcher = MailCatcher("127.0.0.1", free_port(), tmp_path / f"outbox{len(started)}", **options)
        catcher.start()
        started.append(catcher)
        return catcher

    yield factory
    for catcher in started:
        catcher.stop()


@pytest.fixture
def catcher(make_catcher) -> MailCatcher:
    return make_catcher()


@pytest.fixture
def make_app():
    contexts = []

    def factory(port: int, **config) -> Flask:
        app = Flask(__name__, template_folder=str(REPO / "templates"))
        app.config.update(
            TESTING=True,
            MAIL_SUPPRESS_SEND=False,
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT=port,
            MAIL_DEFAULT_SENDER=SENDER,
            MAIL_TIMEOUT=5,
        )
        app.config.update(config)
        mail.init_app(app)
        ctx = app.app_context()
        ctx.push()
        contexts.append(ctx)
        return app

    yield factory
    for ctx in reversed(contexts):
        ctx.pop()


@pytest.fixture
def app(make_app, catcher) -> Flask:
    return make_app(catcher.port)


# --------------------------------------------------------------------------- invite: MIME


def test_invite_mime_structure_has_text_html_calendar_and_ics_attachment(app, catcher):
    result = send_batch(build_invite_messages(make_meeting(), [GUEST]))

    assert result.sent == [GUEST] and result.failed == {}
    [received] = catcher.messages
    assert received.mail_from == "nao-responda@demo.com.br"
    assert received.rcpt_tos == (GUEST,)
    msg = parse(received.content)
    assert msg.get_content_type() == "multipart/mixed"
    alternative, attachment = list(msg.iter_parts())
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.iter_parts()] == [
        "text/plain",
        "text/html",
        "text/calendar",
    ]

    cal = calendar_part(msg)
    # Exactly as on the wire: upper-case method equal to the VCALENDAR METHOD, unquoted like Gmail sends it.
    assert b"\r\nContent-Type: text/calendar; method=REQUEST; charset=UTF-8\r\n" in received.content
    assert cal.get_param("method") == "REQUEST"
    assert cal.get_content_charset() == "utf-8"
    assert cal["Content-Transfer-Encoding"] == "base64"
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_payload(decode=True) == ics_of(msg)

    assert msg["To"] == GUEST
    assert "Cc" not in msg and "Bcc" not in msg
    assert msg["From"].addresses[0].addr_spec == "nao-responda@demo.com.br"
    assert msg["Reply-To"].addresses[0].addr_spec == "ana.souza@demo.com.br"
    assert msg["Subject"] == "Convite: Renegociação da carteira 2026 — 27/11/2026 22:00"
    assert msg["Message-ID"].endswith("@demo.com.br>")
    assert WHEN_22H in body_text(msg, "plain")
    assert WHEN_22H in body_text(msg, "html")
    assert result.message_ids[GUEST] == msg["Message-ID"]


def test_invite_text_parts_survive_long_lines(app):
    agenda = "Discussão " * 300  # ~3 kB on one line; raw 8bit would break SMTP's 998-octet limit
    [message] = build_invite_messages(make_meeting(agenda=agenda), [GUEST])
    raw = message.as_bytes()

    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    assert agenda.strip() in body_text(parse(raw), "plain")


# --------------------------------------------------------------------------- invite: iCalendar


def test_invite_icalendar_fields(app):
    meeting = make_meeting()
    before = datetime.now(UTC).replace(microsecond=0)
    [message] = build_invite_messages(meeting, [GUEST])
    ics = ics_of(parse(message.as_bytes()))
    cal, event = only_event(ics)

    assert cal["METHOD"] == "REQUEST"
    assert cal["VERSION"] == "2.0"
    assert cal["PRODID"]
    assert not cal.walk("VTIMEZONE")
    assert event["UID"] == meeting.uid
    assert event["SEQUENCE"] == 0
    # 22:00 in São Paulo (UTC-3) on 27/11/2026 is 01:00Z on the 28th.
    assert event.decoded("DTSTART") == datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
    assert event.decoded("DTEND") == datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
    assert b"DTSTART:20261128T010000Z" in ics
    assert before <= event.decoded("DTSTAMP") <= datetime.now(UTC) + timedelta(seconds=1)
    assert event["SUMMARY"] == "Renegociação da carteira 2026"
    assert "Av. Paulista, 1000, sala 3" in event["LOCATION"]
    assert meeting.video_link in event["LOCATION"]
    assert event["URL"] == meeting.video_link
    assert "Propostas de acordo\n2. Próximos passos" in event["DESCRIPTION"]
    assert "Banco Exemplo S.A." in event["DESCRIPTION"]
    assert event["STATUS"] == "CONFIRMED"

    attendee = event["ATTENDEE"]
    assert str(attendee) == f"mailto:{GUEST}"
    assert attendee.params["RSVP"] == "TRUE"
    assert attendee.params["PARTSTAT"] == "NEEDS-ACTION"
    assert attendee.params["ROLE"] == "REQ-PARTICIPANT"
    assert attendee.params["CN"] == GUEST
    organizer = event["ORGANIZER"]
    # What the recipient sees in From: the agency's name at the configured sender address (not its contact).
    assert str(organizer) == "mailto:nao-responda@demo.com.br"
    assert organizer.params["CN"] == "Assessoria Demo"

    # No VALARM: mail clients strip or reject alarms in iTIP invites.
    assert not event.walk("VALARM")


def test_organizer_is_the_sender_address_without_a_contact_email(app):
    agency = SimpleNamespace(name="Assessoria Demo", contact_email=None, timezone="America/Sao_Paulo")
    _, event = only_event(build_calendar(make_meeting(agency=agency), GUEST))

    assert str(event["ORGANIZER"]) == "mailto:nao-responda@demo.com.br"


def test_uid_is_stable_across_invite_update_and_cancel(app):
    meeting = make_meeting()
    [invite] = build_invite_messages(meeting, [GUEST])
    meeting.sequence = 1
    meeting.starts_at += timedelta(hours=1)
    meeting.ends_at += timedelta(hours=1)
    [update] = build_invite_messages(meeting, [GUEST])
    meeting.sequence = 2
    [cancel] = build_invite_messages(meeting, [GUEST], method="CANCEL")

    parsed = [parse(m.as_bytes()) for m in (invite, update, cancel)]
    events = [only_event(ics_of(msg)) for msg in parsed]
    assert {event["UID"] for _, event in events} == {meeting.uid}
    assert [event["SEQUENCE"] for _, event in events] == [0, 1, 2]
    assert [cal["METHOD"] for cal, _ in events] == ["REQUEST", "REQUEST", "CANCEL"]
    assert [msg["Subject"].split(":")[0] for msg in parsed] == ["Convite", "Atualização", "Cancelada"]
    assert parsed[1]["Subject"] == "Atualização: Renegociação da carteira 2026 — 27/11/2026 23:00"
    assert "foi atualizada" in body_text(parsed[1], "plain")

    cancel_msg = parsed[2]
    cancel_event = events[2][1]
    assert calendar_part(cancel_msg).get_param("method") == "CANCEL"
    assert cancel_event["STATUS"] == "CANCELLED"
    assert not cancel_event.walk("VALARM")
    assert str(cancel_event["ATTENDEE"]) == f"mailto:{GUEST}"
    [attachment] = list(cancel_msg.iter_attachments())
    assert attachment.get_filename() == "cancel.ics"
    assert "foi cancelada" in body_text(cancel_msg, "plain")
    assert "foi <strong>cancelada</strong>" in body_text(cancel_msg, "html")


def test_each_recipient_gets_a_private_message(app):
    recipients = ["ana@exemplo.com.br", "bruno@exemplo.com.br", "carla@exemplo.com.br"]
    messages = build_invite_messages(make_meeting(), recipients)

    assert len(messages) == 3
    for recipient, message in zip(recipients, messages, strict=True):
        raw = message.as_bytes()
        msg = parse(raw)
        assert msg["To"] == recipient
        _, event = only_event(ics_of(msg))
        assert str(event["ATTENDEE"]) == f"mailto:{recipient}"
        others = [other for other in recipients if other != recipient]
        assert not any(other.encode() in raw or other.encode() in ics_of(msg) for other in others)


def test_ics_lines_are_folded_without_splitting_utf8(app):
    meeting = make_meeting(subject="Reunião em São Paulo sobre negociação de acordos " * 3)
    ics = build_calendar(meeting, GUEST)

    for line in ics.split(b"\r\n"):
        assert len(line) <= 75
        line.decode("utf-8")  # a fold inside a multi-byte character would raise here


def test_line_breaks_in_fields_cannot_inject_headers_or_properties(app, catcher):
    meeting = make_meeting(
        subject="Reunião\r\nBcc: intruso@exemplo.com",
        place="Sala 1\r\nATTENDEE:mailto:intruso@exemplo.com",
        agenda="Pauta\r\nATTENDEE:mailto:intruso@exemplo.com\rORGANIZER:mailto:x@exemplo.com",
    )
    result = send_batch(build_invite_messages(meeting, [GUEST]))

    assert result.all_sent
    [received] = catcher.messages
    assert received.rcpt_tos == (GUEST,)
    msg = parse(received.content)
    assert "Bcc" not in msg
    assert msg["Subject"] == "Convite: Reunião Bcc: intruso@exemplo.com — 27/11/2026 22:00"
    ics = ics_of(msg)
    lines = ics.replace(b"\r\n ", b"").split(b"\r\n")  # unfolded
    [attendee_line] = [line for line in lines if line.startswith(b"ATTENDEE")]
    assert attendee_line.endswith(f"mailto:{GUEST}".encode())
    assert sum(line.startswith(b"ORGANIZER") for line in lines) == 1
    _, event = only_event(ics)
    assert str(event["ATTENDEE"]) == f"mailto:{GUEST}"


def test_html_escapes_meeting_fields(app):
    meeting = make_meeting(
        subject="<script>alert('x')</script>",
        place='<img src="x" onerror="alert(1)">',
        agenda="<b>negrito</b>",
        video_link="javascript:alert(1)",
    )
    for message in [*build_invite_messages(meeting, [GUEST]), *build_reminder_messages(meeting, [GUEST])]:
        msg = parse(message.as_bytes())
        html = body_text(msg, "html")
        assert "<script>" not in html and "&lt;script&gt;" in html
        assert "<img" not in html and "<b>negrito" not in html
        assert 'href="javascript' not in html
        assert "<script>alert('x')</script>" in body_text(msg, "plain")

    _, event = only_event(build_calendar(meeting, GUEST))
    assert "URL" not in event


# --------------------------------------------------------------------------- reminders


def test_reminder_has_no_calendar_part_and_repeats_the_facts(app, catcher):
    meeting = make_meeting()
    result = send_batch(build_reminder_messages(meeting, [GUEST, "outra@exemplo.com.br"]))

    assert result.sent == [GUEST, "outra@exemplo.com.br"]
    assert catcher.connection_count == 1
    msg = parse(catcher.messages[0].content)
    types = [part.get_content_type() for part in msg.walk()]
    assert "text/calendar" not in types and "application/ics" not in types
    assert not list(msg.iter_attachments())
    assert msg["Subject"] == "Lembrete: Renegociação da carteira 2026 — 27/11/2026 22:00"
    for subtype in ("plain", "html"):
        text = body_text(msg, subtype)
        assert WHEN_22H in text
        assert "Av. Paulista, 1000, sala 3" in text
        assert "https://meet.exemplo.com.br/abc-defg" in text
        assert "Banco Exemplo S.A." in text
        assert "Renegociação da carteira 2026" in text
        assert "Propostas de acordo" in text
    assert "Lembrete" in body_text(msg, "html") or "lembrete" in body_text(msg, "html")


# --------------------------------------------------------------------------- send_batch


def test_batch_goes_over_one_connection_and_is_saved_as_eml(app, catcher):
    recipients = ["ana@exemplo.com.br", "bruno@exemplo.com.br", "carla@exemplo.com.br"]
    result = send_batch(build_invite_messages(make_meeting(), recipients))

    assert result.sent == recipients
    assert result.failed == {}
    assert result.all_sent
    assert catcher.connection_count == 1
    assert [m.rcpt_tos for m in catcher.messages] == [(r,) for r in recipients]
    assert {m.connection for m in catcher.messages} == {1}
    names = sorted(path.name for path in catcher.outdir.glob("*.eml"))
    assert len(names) == 3
    assert all(re.fullmatch(r"\d{8}T\d{12}-\d{4}-[a-z]+@exemplo\.com\.br\.eml", name) for name in names)
    assert catcher.messages[0].path.read_bytes() == catcher.messages[0].content


def test_refused_recipient_fails_only_its_message(app, catcher):
    catcher.refuse = {"recusado@exemplo.com.br"}
    recipients = ["ana@exemplo.com.br", "recusado@exemplo.com.br", "carla@exemplo.com.br"]
    result = send_batch(build_invite_messages(make_meeting(), recipients))

    assert result.sent == ["ana@exemplo.com.br", "carla@exemplo.com.br"]
    assert list(result.failed) == ["recusado@exemplo.com.br"]
    assert "Destinatário recusado" in result.failed["recusado@exemplo.com.br"]
    assert "550" in result.failed["recusado@exemplo.com.br"]
    assert not result.all_sent
    assert [m.rcpt_tos for m in catcher.messages] == [("ana@exemplo.com.br",), ("carla@exemplo.com.br",)]
    assert catcher.connection_count == 1


def test_refuse_option_of_the_constructor(make_catcher, make_app):
    catcher = make_catcher(refuse={"Bloqueado@Exemplo.com.br"})
    make_app(catcher.port)
    result = send_batch(build_reminder_messages(make_meeting(), ["bloqueado@exemplo.com.br"]))

    assert result.sent == [] and list(result.failed) == ["bloqueado@exemplo.com.br"]
    assert catcher.messages == []


def test_unreachable_server_fails_every_address_without_raising(make_app, caplog):
    make_app(free_port())  # nothing listens there: connection refused
    recipients = ["ana@exemplo.com.br", "bruno@exemplo.com.br"]
    meeting = make_meeting(agenda="Pauta secreta do acordo")
    with caplog.at_level(logging.WARNING, logger="integrations.mail"):
        result = send_batch(build_invite_messages(meeting, recipients))

    assert result.sent == []
    assert list(result.failed) == recipients
    assert all(reason.startswith("Servidor de e-mail indisponível: ") for reason in result.failed.values())
    assert "conexão recusada" in result.failed["ana@exemplo.com.br"]
    assert not result.all_sent
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2
    assert all(addr in line for addr, line in zip(recipients, lines, strict=True))
    assert not any("Pauta secreta" in line for line in lines)


def test_disconnect_mid_batch_fails_the_rest(make_catcher, make_app):
    catcher = make_catcher(disconnect_after=2)
    make_app(catcher.port)
    recipients = [f"pessoa{n}@exemplo.com.br" for n in range(1, 5)]
    result = send_batch(build_invite_messages(make_meeting(), recipients))

    assert result.sent == recipients[:2]
    assert list(result.failed) == recipients[2:]
    assert not set(result.sent) & set(result.failed)
    assert result.failed["pessoa3@exemplo.com.br"].startswith("O servidor de e-mail encerrou a conexão")
    assert "421" in result.failed["pessoa3@exemplo.com.br"]
    assert result.failed["pessoa4@exemplo.com.br"].startswith("Não enviado: a conexão")
    assert [m.rcpt_tos[0] for m in catcher.messages] == recipients[:2]

    # The next batch opens a new connection and goes through.
    retry = send_batch(build_invite_messages(make_meeting(), recipients[2:]))
    assert retry.sent == recipients[2:]
    assert catcher.connection_count == 2


def test_connection_dropped_before_the_reply_is_not_reported_as_sent(make_catcher, make_app):
    catcher = make_catcher(drop_before_reply=2)
    make_app(catcher.port)
    recipients = ["ana@exemplo.com.br", "bruno@exemplo.com.br", "carla@exemplo.com.br"]
    result = send_batch(build_reminder_messages(make_meeting(), recipients))

    assert result.sent == ["ana@exemplo.com.br"]
    # The server stored the second message but never said so: report it as unconfirmed, not as sent.
    assert [m.rcpt_tos[0] for m in catcher.messages] == recipients[:2]
    assert "entrega não foi confirmada" in result.failed["bruno@exemplo.com.br"]
    assert result.failed["carla@exemplo.com.br"].startswith("Não enviado: a conexão")
    assert list(result.failed) == recipients[1:]


def test_suppressed_sending_records_messages_without_connecting(make_app, catcher):
    make_app(catcher.port, MAIL_SUPPRESS_SEND=True)
    with mail.record_messages() as outbox:
        result = send_batch(build_reminder_messages(make_meeting(), [GUEST]))

    assert result.sent == [GUEST]
    assert [m.recipients for m in outbox] == [[GUEST]]
    assert catcher.messages == [] and catcher.connection_count == 0


def test_empty_batch_is_not_reported_as_sent(app, catcher):
    result = send_batch([])

    assert result == BatchResult()
    assert not result.all_sent
    assert catcher.connection_count == 0


def test_builders_refuse_a_recipient_with_line_breaks(app):
    with pytest.raises(RecipientError):
        build_invite_messages(make_meeting(), ["a@exemplo.com.br\r\nBcc: intruso@exemplo.com"])
    with pytest.raises(RecipientError):
        build_reminder_messages(make_meeting(), ["a@exemplo.com.br\nBcc: intruso@exemplo.com"])


def test_messages_need_a_configured_sender(make_app):
    make_app(free_port(), MAIL_DEFAULT_SENDER=None)
    with pytest.raises(RuntimeError, match="MAIL_DEFAULT_SENDER"):
        build_invite_messages(make_meeting(), [GUEST])


# --------------------------------------------------------------------------- recipients


def test_recipients_split_on_commas_semicolons_spaces_and_new_lines():
    text = " a@exemplo.com.br, b@exemplo.com.br;c@exemplo.com.br\nd@exemplo.com.br\r\n\te@exemplo.com.br ;, "
    assert parse_recipients(text) == [f"{c}@exemplo.com.br" for c in "abcde"]
    no_break_space = "f@exemplo.com.br\u00a0g@exemplo.com.br"
    assert parse_recipients(no_break_space) == ["f@exemplo.com.br", "g@exemplo.com.br"]


def test_recipient_duplicates_are_dropped_case_insensitively_keeping_the_first():
    text = "Ana@Exemplo.com.br; ana@exemplo.COM.BR, ANA@EXEMPLO.COM.BR\nbia@exemplo.com.br"
    assert parse_recipients(text) == ["Ana@exemplo.com.br", "bia@exemplo.com.br"]


def test_invalid_recipients_are_each_named():
    with pytest.raises(RecipientError) as info:
        parse_recipients("ok@exemplo.com.br, semarroba; x@y\n@exemplo.com.br a@@b.com.br")

    assert [shown for shown, _ in info.value.errors] == ["semarroba", "x@y", "@exemplo.com.br", "a@@b.com.br"]
    reasons = dict(info.value.errors)
    assert reasons["semarroba"] == "falta o @"
    assert reasons["@exemplo.com.br"] == "falta a parte antes do @"
    assert "domínio" in reasons["x@y"]
    message = str(info.value)
    assert message.startswith("Destinatários inválidos: ")
    for shown in ("semarroba", "x@y", "@exemplo.com.br", "a@@b.com.br"):
        assert f"“{shown}”" in message
    assert isinstance(info.value, ValueError)


def test_display_names_and_mailto_are_rejected_with_a_hint():
    with pytest.raises(RecipientError) as info:
        parse_recipients("Fulano <fulano@exemplo.com.br>, mailto:ciclano@exemplo.com.br")

    reasons = dict(info.value.errors)
    assert reasons["<fulano@exemplo.com.br>"].startswith("informe só o endereço")
    assert "mailto" in reasons["mailto:ciclano@exemplo.com.br"]
    assert "Fulano" in reasons


def test_too_many_recipients_are_rejected():
    thirty = [f"p{n}@exemplo.com.br" for n in range(MAX_RECIPIENTS)]
    assert parse_recipients(", ".join(thirty)) == thirty
    with pytest.raises(RecipientError, match=r"no máximo 30 destinatários .*foram informados 31"):
        parse_recipients(", ".join([*thirty, "extra@exemplo.com.br"]))
    with pytest.raises(RecipientError, match="no máximo 2 destinatários"):
        parse_recipients("a@exemplo.com.br b@exemplo.com.br c@exemplo.com.br", max_count=2)
    # Duplicates do not count against the limit.
    assert parse_recipients("a@exemplo.com.br A@exemplo.com.br a@EXEMPLO.com.br", max_count=1) == [
        "a@exemplo.com.br"
    ]
    with pytest.raises(RecipientError, match="no máximo 30"):
        parse_recipients(" ".join(f"q{n}@exemplo.com.br" for n in range(5000)))


@pytest.mark.parametrize("text", ["", "   ", " ,; \n\r\n\t ", None])
def test_empty_recipient_list_is_rejected(text):
    with pytest.raises(RecipientError) as info:
        parse_recipients(text)
    assert str(info.value) == "Informe ao menos um destinatário."


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("a@exemplo.com.br\r\nBcc: intruso@exemplo.com", "Bcc:"),
        ("a@exemplo.com.br\nBcc: intruso@exemplo.com", "Bcc:"),
        ("a@exemplo.com.br\r\nbcc:intruso@exemplo.com", "bcc:intruso@exemplo.com"),
        ("a@exemplo.com.br\nTo:intruso@exemplo.com", "To:intruso@exemplo.com"),
        ("a@exemplo.com.br%0d%0aBcc:intruso@exemplo.com", "a@exemplo.com.br%0d%0aBcc:intruso@exemplo.com"),
        ("a@exemplo.com.br\x00b@exemplo.com.br", "a@exemplo.com.br\\x00b@exemplo.com.br"),
        ("a@exemplo.com.br\x1bBcc:x@y.com", "a@exemplo.com.br\\x1bBcc:x@y.com"),
        ("a\u200b@exemplo.com.br", "a\\u200b@exemplo.com.br"),
    ],
)
def test_header_injection_attempts_are_errors_not_extra_recipients(text, bad):
    with pytest.raises(RecipientError) as info:
        parse_recipients(text)
    assert bad in [shown for shown, _ in info.value.errors]
    assert f"“{bad}”" in str(info.value)
    assert "\n" not in str(info.value) and "\r" not in str(info.value)


def test_unicode_addresses():
    with pytest.raises(RecipientError) as info:
        parse_recipients("joão@exemplo.com.br; ａ@exemplo.com.br")
    assert [shown for shown, _ in info.value.errors] == ["joão@exemplo.com.br", "ａ@exemplo.com.br"]
    assert all("acentos" in reason for _, reason in info.value.errors)

    # An internationalised domain is accepted and kept in the ASCII form used on the wire.
    [address] = parse_recipients("maria@exemplo-ção.com.br")
    assert address.startswith("maria@xn--") and address.endswith(".com.br")
    assert address.isascii()


# --------------------------------------------------------------------------- time zones


def test_local_time_converts_naive_utc_to_the_agency_zone():
    local = local_time(datetime(2026, 11, 28, 1, 0), "America/Sao_Paulo")
    assert (local.date().isoformat(), local.hour, local.minute) == ("2026-11-27", 22, 0)
    assert local.utcoffset() == timedelta(hours=-3)
    # Brazil observed DST until 2019: January 2018 was UTC-2.
    assert local_time(datetime(2018, 1, 15, 12, 0), "America/Sao_Paulo").hour == 10
    # Aware input is converted, not reinterpreted.
    aware = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
    assert local_time(aware, "America/Manaus").hour == 21


def test_format_when_is_brazilian_and_names_the_zone():
    meeting = make_meeting(starts_at=datetime(2026, 11, 27, 17, 30), ends_at=datetime(2026, 11, 27, 18, 30))
    assert format_when(meeting) == (
        "sexta-feira, 27/11/2026, das 14:30 às 15:30 (horário de Brasília, America/Sao_Paulo)"
    )
    assert format_when(make_meeting()) == WHEN_22H


def test_format_when_across_midnight_and_other_zones():
    late = make_meeting(starts_at=datetime(2026, 11, 28, 2, 30), ends_at=datetime(2026, 11, 28, 3, 30))
    assert format_when(late) == (
        "sexta-feira, 27/11/2026, das 23:30 às 00:30 de sábado, 28/11/2026 "
        "(horário de Brasília, America/Sao_Paulo)"
    )
    manaus = SimpleNamespace(name="Assessoria Norte", contact_email=None, timezone="America/Manaus")
    assert format_when(make_meeting(agency=manaus)).endswith("(horário do Amazonas, America/Manaus)")
    lisbon = SimpleNamespace(name="Assessoria PT", contact_email=None, timezone="Europe/Lisbon")
    assert format_when(make_meeting(agency=lisbon)) == (
        "sábado, 28/11/2026, das 01:00 às 02:00 (horário da Europa Ocidental, Europe/Lisbon)"
    )
    # Every zone the profile offers has a pt-BR name; one without a common name is shown by its offset.
    assert format_when(make_meeting(agency=SimpleNamespace(timezone="America/Cuiaba"))).endswith(
        "(horário do Amazonas, America/Cuiaba)")
    assert format_when(make_meeting(agency=SimpleNamespace(timezone="America/Noronha"))).endswith(
        "(horário de Fernando de Noronha, America/Noronha)")
    assert format_when(make_meeting(agency=SimpleNamespace(timezone="Etc/GMT+3"))) == (
        "sexta-feira, 27/11/2026, das 22:00 às 23:00 (UTC-03:00, Etc/GMT+3)")


def test_the_flask_mail_overrides_mirror_the_installed_flask_mail():
    """integrations/mail/flask_mail_overrides.py overrides Flask-Mail's private API as of one release: an
    upgrade must be a deliberate act (read the new source, adapt the overrides, bump FLASK_MAIL_VERSION)."""
    from importlib.metadata import version

    from integrations.mail.flask_mail_overrides import FLASK_MAIL_VERSION

    assert version("flask-mail") == FLASK_MAIL_VERSION


# --------------------------------------------------------------------------- catcher


def test_serve_prints_where_messages_go_and_stops_on_ctrl_c(monkeypatch, capsys, tmp_path):
    def interrupt(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(smtp_catcher.time, "sleep", interrupt)
    port = free_port()
    smtp_catcher.serve("127.0.0.1", port, tmp_path / "caixa")

    out = capsys.readouterr().out
    assert f"127.0.0.1:{port}" in out
    assert str((tmp_path / "caixa").resolve()) in out
    assert "encerrado" in out
    assert (tmp_path / "caixa").is_dir()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_catcher_on_a_busy_port_fails_fast(catcher):
    other = MailCatcher("127.0.0.1", catcher.port, None)
    with pytest.raises(OSError, match=f"127.0.0.1:{catcher.port}"):
        other.start()


# --------------------------------------------------------------------------- address headers


@pytest.mark.parametrize("owner_name", ["X <a@evil.example>,", "José <a@evil.example>, Outro <b@evil.example>",
                                        '"Ana" <a@evil.example>; b@evil.example', "Ana =?utf-8?q?a@evil.example?="])
def test_a_user_name_never_adds_a_reply_to_address(app, catcher, owner_name):
    from email.header import decode_header, make_header
    from email.utils import getaddresses

    meeting = make_meeting(owner=SimpleNamespace(name=owner_name, email="ana.souza@demo.com.br"))
    for messages in (build_invite_messages(meeting, [GUEST]), build_reminder_messages(meeting, [GUEST])):
        catcher.clear()
        assert send_batch(messages).sent == [GUEST]
        [received] = catcher.messages
        msg = parse(received.content)
        assert [a.addr_spec for a in msg["Reply-To"].addresses] == ["ana.souza@demo.com.br"]
        assert [a.addr_spec for a in msg["From"].addresses] == ["nao-responda@demo.com.br"]
        # A client that decodes encoded-words before parsing the list (not what RFC 2047 says, but common)
        # still finds a single address.
        raw = email.message_from_bytes(received.content)["Reply-To"]
        decoded = str(make_header(decode_header(raw)))
        assert [addr for _, addr in getaddresses([decoded]) if addr] == ["ana.souza@demo.com.br"], decoded
