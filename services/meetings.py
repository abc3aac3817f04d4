"""Sending a meeting's e-mails: claim the send in the database, send over one connection, record each result."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from integrations.mail import BatchResult, build_invite_messages, build_reminder_messages, send_batch
from models import AuditLog, Meeting, MeetingEmail, MeetingEmailRecipient, db
from models.meeting import EMAIL_KIND_LABELS, EmailKind, MeetingNotAllowed, RecipientState, SendStatus
from models.timeutil import utcnow
from services import jobs


class SendLimitReached(MeetingNotAllowed):
    """A send would pass the user's or the agency's limit of meeting e-mails (the message says which)."""


@dataclass
class SendOutcome:
    email: MeetingEmail
    sent: list[str]
    failed: dict[str, str]


def check_allowed(meeting: Meeting, kind: str) -> None:
    """Raise MeetingNotAllowed when this kind of e-mail cannot be sent now (the rule: ``Meeting.check_can_send``)."""
    meeting.check_can_send(kind)


def last_failed_addresses(meeting: Meeting) -> list[str]:
    """The addresses to offer *Reenviar às falhas* (the rule: ``Meeting.failed_addresses``)."""
    return meeting.failed_addresses()


def prefill(meeting: Meeting, kind: str) -> list[str]:
    """Return the send screen's starting list: who holds the invite, except for the invite itself and retries."""
    if kind == EmailKind.INVITE_RETRY:
        return last_failed_addresses(meeting)
    if kind == EmailKind.INVITE:
        return list(dict.fromkeys(meeting.default_recipients()))
    if kind == EmailKind.INVITE_ADD:
        return []
    return meeting.invite_holders()


def plan(meeting: Meeting, kind: str, recipients: list[str]) -> list[tuple[str, list[str]]]:
    """Return the sends for a typed list: a reminder or update goes to who holds the invite, and anyone else
    typed there gets the invite (not a reminder or an "updated" message about a meeting they never had)."""
    if kind not in (EmailKind.REMINDER, EmailKind.UPDATE):
        return [(kind, recipients)]
    holders = {a.casefold() for a in meeting.invite_holders()}
    known = [a for a in recipients if a.casefold() in holders]
    newcomers = [a for a in recipients if a.casefold() not in holders]
    return [(k, addresses) for k, addresses in ((kind, known), (EmailKind.INVITE_ADD, newcomers)) if addresses]


ALREADY_SENT = {
    EmailKind.INVITE: "O convite desta reunião já foi enviado (ou está sendo enviado).",
    EmailKind.UPDATE: "A atualização desta reunião já foi enviada (ou está sendo enviada agora por outra pessoa). "
                      "Nada foi enviado de novo.",
    EmailKind.CANCEL: "O cancelamento desta reunião já foi enviado (ou está sendo enviado agora por outra pessoa). "
                      "Nada foi enviado de novo.",
}


def claim(meeting: Meeting, kinds: list[str], user_id: int, idempotency_key: str | None) -> list[MeetingEmail]:
    """Record the sends of one form (e.g. a reminder plus the invite to newcomers) as pending and commit, so the
    database refuses a second invite, a second update or cancellation of the same version, or a re-submitted
    form."""
    for kind in kinds:
        check_allowed(meeting, kind)
    emails = [MeetingEmail(meeting=meeting, kind=kind, status=SendStatus.PENDING, sequence=meeting.sequence,
                           sent_by_id=user_id, idempotency_key=f"{idempotency_key}{'+' * i}" if idempotency_key
                           else None) for i, kind in enumerate(kinds)]
    db.session.add_all(emails)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise MeetingNotAllowed(ALREADY_SENT.get(
            kinds[0], "Este envio já foi processado: o formulário foi enviado duas vezes.")) from None
    return emails


UNCERTAIN_REASON = ("Incerto: o envio foi interrompido durante a transação SMTP deste destinatário; ele pode ter "
                    "recebido a mensagem. Não foi reenviado automaticamente — confirme com ele ou use "
                    "“Reenviar às falhas”.")


def deliver(email: MeetingEmail, recipients: list[str]) -> SendOutcome:
    """Send the claimed e-mail to each recipient over one SMTP connection, exactly once per recipient.

    Each recipient's row is committed before anything is sent (*pending*), right before its SMTP transaction
    (*sending*) and right after it (*sent* / *failed*). Called again for the same send (``resume`` after the
    process died mid-batch), it sends only to recipients without a recorded result; one left *sending* may have
    received the message and becomes *uncertain* (shown in the send log, never re-sent automatically).
    """
    meeting = email.meeting
    rows = {r.address: r for r in email.recipients}
    for address in recipients:
        if address not in rows:
            rows[address] = MeetingEmailRecipient(email=email, address=address, state=RecipientState.PENDING)
            db.session.add(rows[address])
    for row in rows.values():
        if row.state == RecipientState.SENDING:
            row.state, row.delivered, row.error = RecipientState.UNCERTAIN, False, UNCERTAIN_REASON
    db.session.commit()
    to_send = [a for a in rows if rows[a].state in (RecipientState.PENDING, RecipientState.FAILED)]
    if to_send:
        if email.kind == EmailKind.REMINDER:
            messages = build_reminder_messages(meeting, to_send)
        else:  # invites (first, retried, to newcomers), updates and cancellations are calendar messages
            method = "CANCEL" if email.kind == EmailKind.CANCEL else "REQUEST"
            messages = build_invite_messages(meeting, to_send, method=method,
                                             update=email.kind == EmailKind.UPDATE)

        def mark(message, state):
            for address in [*message.recipients, *message.cc, *message.bcc]:
                address = address[1] if isinstance(address, tuple) else address
                if address in rows:
                    rows[address].state = state
            email.active_at = utcnow()
            db.session.commit()

        def before(message):
            mark(message, RecipientState.SENDING)

        def after(message):
            for address in [*message.recipients, *message.cc, *message.bcc]:
                address = address[1] if isinstance(address, tuple) else address
                row = rows.get(address)
                if row is None:
                    continue
                if address in batch.sent:
                    row.state, row.delivered, row.error = RecipientState.SENT, True, None
                else:
                    row.state, row.delivered = RecipientState.FAILED, False
                    row.error = batch.failed.get(address) or "Não enviado."
            email.active_at = utcnow()
            db.session.commit()

        batch = BatchResult()
        result = send_batch(messages, before=before, after=after, result=batch)
        for address in to_send:  # those the batch never reached (server down, connection lost before them)
            row = rows[address]
            if row.state in (RecipientState.PENDING, RecipientState.SENDING):
                row.state, row.delivered = RecipientState.FAILED, False
                row.error = result.failed.get(address) or "Não enviado."
    sent = [a for a in recipients if rows[a].state == RecipientState.SENT]
    failed = {a: rows[a].error or "Não enviado." for a in recipients if rows[a].state != RecipientState.SENT}
    if not sent:
        email.status = SendStatus.FAILED if not any(
            rows[a].state == RecipientState.UNCERTAIN for a in recipients) else SendStatus.PARTIAL
        email.error = "; ".join(sorted(set(failed.values())))[:2000] or "Nenhum destinatário recebeu."
    else:
        email.status = SendStatus.SENT if not failed else SendStatus.PARTIAL
        _apply_to_meeting(meeting, email)
    return SendOutcome(email=email, sent=sent, failed=failed)


def resume(email: MeetingEmail) -> SendOutcome | None:
    """Finish a send whose process died mid-batch (still *Enviando*): only recipients without a recorded result
    are sent to; one whose SMTP transaction may have happened is marked *Incerto*, never re-sent."""
    if email.status != SendStatus.PENDING:
        return None
    if not email.recipients:  # died between the claim and recording its recipients: nothing went out
        email.status, email.error = SendStatus.FAILED, "O envio foi interrompido antes de começar: nada foi enviado."
        db.session.commit()
        return SendOutcome(email=email, sent=[], failed={})
    outcome = deliver(email, [r.address for r in email.recipients])
    db.session.commit()
    return outcome


def resume_after() -> timedelta:
    """How long a *pending* send may show no sign of life before it counts as interrupted: longer than one SMTP
    transaction can take (a live send records each recipient before and after its transaction)."""
    return timedelta(seconds=float(current_app.config.get("MAIL_RESUME_AFTER_SECONDS", 300)))


def resume_interrupted(now: datetime | None = None) -> list[SendOutcome]:
    """Resume every send left *pending* by a process that died (run by the consumer's tick, every minute).

    Each send is taken with one conditional UPDATE of its sign of life, so two consumers' ticks (or a tick and
    the still-running sender) never deliver the same send at once; the resumption is audited as its sender's.
    """
    now = now or utcnow()
    cutoff = now - resume_after()
    stale = db.session.scalars(select(MeetingEmail.id).where(
        MeetingEmail.status == SendStatus.PENDING, MeetingEmail.active_at < cutoff).order_by(MeetingEmail.id)).all()
    outcomes = []
    for email_id in stale:
        taken = db.session.execute(update(MeetingEmail).where(
            MeetingEmail.id == email_id, MeetingEmail.status == SendStatus.PENDING, MeetingEmail.active_at < cutoff,
        ).values(active_at=now).execution_options(synchronize_session=False)).rowcount
        db.session.commit()
        if not taken:
            continue
        email = db.session.get(MeetingEmail, email_id)
        outcome = resume(email)
        AuditLog.record(f"meeting.{email.kind}", agency_id=email.meeting.agency_id, user_id=email.sent_by_id,
                        target=f"meeting #{email.meeting_id}",
                        details=f"retomado após interrupção: enviados={', '.join(outcome.sent) or '-'}; "
                                f"falhas={', '.join(outcome.failed) or '-'}")
        db.session.commit()
        outcomes.append(outcome)
    return outcomes


def _apply_to_meeting(meeting: Meeting, email: MeetingEmail) -> None:
    now = utcnow()
    if email.kind == EmailKind.INVITE:
        meeting.invite_sent_at = now
        meeting.sent_sequence = email.sequence
    elif email.kind == EmailKind.UPDATE:
        meeting.sent_sequence = email.sequence
    elif email.kind == EmailKind.CANCEL:
        meeting.cancel_sent_at = now
        meeting.sent_sequence = email.sequence
    elif email.kind == EmailKind.REMINDER:
        meeting.reminders_count = (meeting.reminders_count or 0) + 1
        meeting.last_reminder_at = now


def _sent_since(since, *, user_id: int | None = None, agency_id: int | None = None) -> int:
    """Messages (one per recipient) the panel tried to send since ``since``, by a user or for an agency."""
    query = (select(func.count(MeetingEmailRecipient.id)).join(MeetingEmail, MeetingEmailRecipient.email)
             .where(MeetingEmail.created_at >= since))
    if user_id is not None:
        query = query.where(MeetingEmail.sent_by_id == user_id)
    if agency_id is not None:
        query = query.join(Meeting, MeetingEmail.meeting).where(Meeting.agency_id == agency_id)
    return db.session.scalar(query) or 0


def check_send_limits(user_id: int, agency_id: int, count: int) -> None:
    """Refuse a send that would pass the user's hourly or the agency's daily number of meeting e-mails
    (MAIL_LIMIT_PER_USER_HOUR, MAIL_LIMIT_PER_AGENCY_DAY; 0 = no limit): the panel is not a mail relay."""
    config = current_app.config
    now = utcnow()
    per_user = int(config.get("MAIL_LIMIT_PER_USER_HOUR") or 0)
    if per_user:
        used = _sent_since(now - timedelta(hours=1), user_id=user_id)
        if used + count > per_user:
            raise SendLimitReached(
                f"Limite de envios atingido: cada usuário pode enviar até {per_user} e-mails de reunião por hora "
                f"(você já enviou {used}; este envio tem {count}). Nada foi enviado. Tente novamente mais tarde.")
    per_agency = int(config.get("MAIL_LIMIT_PER_AGENCY_DAY") or 0)
    if per_agency:
        used = _sent_since(now - timedelta(days=1), agency_id=agency_id)
        if used + count > per_agency:
            raise SendLimitReached(
                f"Limite de envios da assessoria atingido: até {per_agency} e-mails de reunião em 24 horas "
                f"(já foram {used}; este envio tem {count}). Nada foi enviado. Fale com o administrador.")


def send(meeting: Meeting, kind: str, recipients: list[str], user, idempotency_key: str | None,
         ip: str | None = None) -> list[SendOutcome]:
    """Send one send form: plan who gets what (newcomers get the invite), check the limits, claim the sends in the
    database, deliver each and record it (send log and audit, committed per send); return each send's outcome.

    Raises SendLimitReached (the refusal audited, nothing sent) or MeetingNotAllowed (nothing sent).
    """
    sends = plan(meeting, kind, recipients)
    try:
        check_send_limits(user.id, user.agency_id, len(recipients))
    except SendLimitReached as exc:
        AuditLog.record("meeting.send_limit", agency_id=user.agency_id, user_id=user.id, ip=ip,
                        target=f"meeting #{meeting.id}",
                        details=f"{EMAIL_KIND_LABELS[kind]}: {len(recipients)} destinatário(s) recusado(s); {exc}")
        db.session.commit()
        raise
    emails = claim(meeting, [k for k, _ in sends], user.id, idempotency_key)
    outcomes = []
    for email, (_, addresses) in zip(emails, sends, strict=True):
        outcome = deliver(email, addresses)
        AuditLog.record(f"meeting.{email.kind}", agency_id=user.agency_id, user_id=user.id, ip=ip,
                        target=f"meeting #{meeting.id}",
                        details=f"enviados={', '.join(outcome.sent) or '-'}; falhas={', '.join(outcome.failed) or '-'}")
        db.session.commit()
        outcomes.append(outcome)
    return outcomes


def max_recipients() -> int:
    return int(current_app.config.get("MAIL_MAX_RECIPIENTS", 30))


jobs.TICK_HOOKS.append(resume_interrupted)
