"""Meetings with creditors (reuniões) and the log of every e-mail sent about them."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text, select, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models import db
from models.labelled import LabelledEnum
from models.portfolio import sort_indexes, trigram_indexes
from models.scope import Scoped
from models.timeutil import local_day_bounds, utcnow


class MeetingStatus(LabelledEnum):
    SCHEDULED = "agendada", "Agendada"
    HELD = "realizada", "Realizada"
    CANCELLED = "cancelada", "Cancelada"


MEETING_STATUS_LABELS = MeetingStatus.labels()


class MeetingNotAllowed(ValueError):
    """A meeting rule refused the operation; the message is for the user (pt-BR)."""


def _new_uid() -> str:
    return f"{uuid.uuid4()}@painel-cobranca"


class Meeting(Scoped, db.Model):
    __tablename__ = "meeting"
    consultant_path = "owner_id"
    __table_args__ = (
        # The clock's query and the default sort: the agency's (or owner's) meetings by start, then id, so a page in
        # the list's order is read from the index alone, on PostgreSQL too (it keeps no row id in an index;
        # migration 0014). The list (bench/RESULTS.md): scope, default sort, consultant, status filter and searched
        # subject in the index, so a page, a filter, a search and the capped count are read from the index alone.
        Index("ix_meeting_agency_starts", "agency_id", "starts_at", "id"),
        Index("ix_meeting_agency_starts_list", "agency_id", "starts_at", "owner_id", "status", "subject"),
        Index("ix_meeting_agency_owner_starts", "agency_id", "owner_id", "starts_at", "id", "status", "subject"),
        Index("ix_meeting_agency_status_starts", "agency_id", "status", "starts_at"),
        # A consultant's meetings of one status in the list's order (the status filter), and by status (its sort).
        Index("ix_meeting_owner_status_starts", "agency_id", "owner_id", "status", "starts_at", "id"),
        *sort_indexes("meeting", ["subject", "place", "status", "invite_sent_at", "productive"], "owner_id",
                      agency_indexed=["status"], consultant_indexed=["status"]),
        *trigram_indexes("meeting", ["subject"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    creditor_id: Mapped[int] = mapped_column(ForeignKey("creditor.id"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(DateTime)
    ends_at: Mapped[datetime] = mapped_column(DateTime)
    place: Mapped[str | None] = mapped_column(String(200))
    video_link: Mapped[str | None] = mapped_column(String(500))
    agenda: Mapped[str | None] = mapped_column(Text)
    #: Default recipients, one e-mail address per line.
    participants: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    #: None until someone answers whether the meeting was productive.
    productive: Mapped[bool | None] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(20), default=MeetingStatus.SCHEDULED, index=True)
    uid: Mapped[str] = mapped_column(String(120), unique=True, default=_new_uid)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    invite_sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: The sequence number attendees last received; lower than ``sequence`` means they hold stale details.
    sent_sequence: Mapped[int | None] = mapped_column(Integer)
    cancel_sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    reminders_count: Mapped[int] = mapped_column(Integer, default=0)
    last_reminder_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    agency = relationship("Agency")
    creditor = relationship("Creditor")
    owner = relationship("User")
    emails = relationship("MeetingEmail", back_populates="meeting", order_by="MeetingEmail.created_at",
                          cascade="all, delete-orphan")

    def __str__(self) -> str:
        return self.subject

    @property
    def invite_sent(self) -> bool:
        return self.invite_sent_at is not None

    @property
    def needs_update(self) -> bool:
        """Tell whether attendees hold an older version of the meeting than the current one."""
        return (self.invite_sent and self.status != MeetingStatus.CANCELLED
                and (self.sent_sequence or 0) < self.sequence)

    @property
    def needs_cancel_notice(self) -> bool:
        return self.invite_sent and self.status == MeetingStatus.CANCELLED and self.cancel_sent_at is None

    def check_times(self, now: datetime | None = None, *, creating: bool) -> None:
        """Refuse a start in the past (on creation) and an end not after the start."""
        if creating and self.starts_at < (now or utcnow()):
            raise MeetingNotAllowed("A data e hora de início não pode estar no passado.")
        if self.ends_at <= self.starts_at:
            raise MeetingNotAllowed("O término deve ser depois do início.")

    def apply_form(self, *, before: dict | None, duration: int, already_happened: bool = False,
                   now: datetime | None = None) -> None:
        """Apply the rules of a saved meeting form; ``before`` is the ``snapshot()`` taken when the edit form
        opened (None for a new meeting).

        - A new meeting is Agendada and starts now or later; one recorded after it happened
          (``already_happened``) is Realizada and must have started already.
        - Without an end, it ends ``duration`` minutes after the start; the end comes after the start.
        - An edit of what attendees hold in their calendars raises the SEQUENCE (``bump_if_changed``).
        """
        now = now or utcnow()
        creating = before is None
        past = creating and already_happened
        if creating:
            self.status = MeetingStatus.HELD if past else MeetingStatus.SCHEDULED
        if self.ends_at is None and self.starts_at is not None:
            self.ends_at = self.starts_at + timedelta(minutes=duration)
        self.check_times(now, creating=creating and not past)
        if past and self.starts_at >= now:
            raise MeetingNotAllowed("A data informada ainda não passou: desmarque \"Registrar reunião que já "
                                    "aconteceu\" para agendar a reunião.")
        if not creating:
            self.bump_if_changed(before)

    def bump_if_changed(self, before: dict) -> None:
        """Raise the iCalendar SEQUENCE when the calendar entry attendees hold changed (when, where, cancelled).

        Recording what happened (Realizada, observações, produtiva) changes nothing in their calendars.
        """
        if not self.invite_sent:
            return
        if before != self.snapshot():
            self.sequence = (self.sequence or 0) + 1
        if before.get("cancelled") and not self.snapshot()["cancelled"]:
            self.cancel_sent_at = None  # back on: a later cancellation must be sent again

    #: What attendees hold in their calendars: date, time, duration (the end) and place (or video link).
    #: A change here makes their copy stale (an update with a higher SEQUENCE).
    CALENDAR_FIELDS = ("starts_at", "ends_at", "place", "video_link")

    def snapshot(self) -> dict:
        """Return the calendar fields, plus whether the meeting is cancelled (a CANCEL also raises SEQUENCE)."""
        fields = {f: getattr(self, f) for f in self.CALENDAR_FIELDS}
        for name in ("place", "video_link"):  # a blank typed over an empty value is no change
            fields[name] = (fields[name] or "").strip() or None
        fields["cancelled"] = self.status == MeetingStatus.CANCELLED
        return fields

    def check_can_invite(self, now: datetime | None = None) -> None:
        """Refuse a second invite, an invite for a meeting not scheduled, and one for a meeting already started
        (a meeting recorded after it happened, even if its Situação is later set back to Agendada)."""
        if self.invite_sent:
            raise MeetingNotAllowed("O convite desta reunião já foi enviado.")
        if self.status != MeetingStatus.SCHEDULED:
            raise MeetingNotAllowed("Só é possível convidar para reuniões agendadas.")
        if self.starts_at < (now or utcnow()):
            raise MeetingNotAllowed("A reunião já começou: não há convite a enviar. Registre o resultado em Alt.")

    def can_invite(self, now: datetime | None = None) -> bool:
        """Whether the details page offers Enviar Convite (the same rule as ``check_can_invite``)."""
        try:
            self.check_can_invite(now)
        except MeetingNotAllowed:
            return False
        return True

    def check_can_remind(self) -> None:
        if not self.invite_sent:
            raise MeetingNotAllowed("Envie o convite antes de enviar lembretes.")
        if self.status == MeetingStatus.CANCELLED:
            raise MeetingNotAllowed("A reunião foi cancelada: não há lembrete a enviar.")

    def failed_addresses(self) -> list[str]:
        """Return the addresses a calendar send (invite, retry, newcomers, update) failed for and never reached
        since (what *Reenviar às falhas* offers)."""
        failed: dict[str, str] = {}
        for email in self.emails:
            if email.kind in CALENDAR_SEND_KINDS and email.status != SendStatus.PENDING:
                for recipient in email.recipients:
                    key = recipient.address.casefold()
                    if recipient.delivered:
                        failed.pop(key, None)
                    else:
                        failed[key] = recipient.address
        return list(failed.values())

    def check_can_send(self, kind: str, now: datetime | None = None) -> None:
        """Raise MeetingNotAllowed when this kind of e-mail cannot be sent now (the send screen refuses it and the
        details page does not offer it: ``can_send``)."""
        if kind == EmailKind.INVITE:
            self.check_can_invite(now)
        elif kind == EmailKind.REMINDER:
            self.check_can_remind()
        elif kind == EmailKind.UPDATE and not self.needs_update:
            raise MeetingNotAllowed("Não há alteração a enviar: os convidados já têm a versão atual.")
        elif kind == EmailKind.CANCEL and not self.needs_cancel_notice:
            raise MeetingNotAllowed("Só é possível enviar o cancelamento de uma reunião cancelada após o convite.")
        elif kind == EmailKind.INVITE_RETRY and not self.failed_addresses():
            raise MeetingNotAllowed("Não há destinatários com falha para reenviar.")
        elif kind == EmailKind.INVITE_ADD and not (self.invite_sent and self.status == MeetingStatus.SCHEDULED):
            raise MeetingNotAllowed("Só é possível convidar mais pessoas para uma reunião agendada cujo convite já "
                                    "foi enviado.")
        elif kind not in EMAIL_KIND_LABELS:
            raise MeetingNotAllowed("Tipo de envio desconhecido.")

    def can_send(self, kind: str, now: datetime | None = None) -> bool:
        """Whether the details page offers this send (the same rule as ``check_can_send``)."""
        try:
            self.check_can_send(kind, now)
        except MeetingNotAllowed:
            return False
        return True

    def invite_holders(self) -> list[str]:
        """Return who holds the invite: every address a calendar invite was delivered to (first send order).

        That is the invite's recipients, its retries and anyone invited later; not the default participants
        (someone left out of the invite holds nothing, someone typed by hand does).
        """
        holders: dict[str, str] = {}
        for email in self.emails:
            if email.kind in INVITE_KINDS and email.status != SendStatus.PENDING:
                for recipient in email.recipients:
                    if recipient.delivered:
                        holders.setdefault(recipient.address.casefold(), recipient.address)
        return list(holders.values())

    def default_recipients(self) -> list[str]:
        found = [a for a in (self.participants or "").replace(";", "\n").replace(",", "\n").split() if a]
        if self.creditor and self.creditor.contact_email:
            found.append(self.creditor.contact_email)
        return found


def past_without_outcome(now: datetime):
    """SQL condition: meetings that already started, were not cancelled and have no Produtiva answer yet."""
    return (Meeting.starts_at < now) & (Meeting.status != MeetingStatus.CANCELLED) & Meeting.productive.is_(None)


def todays_meetings_where(agency_id: int, tz_name: str, owner_id: int | None = None, day: date | None = None):
    """The conditions of the day's (not cancelled) meetings in the agency's zone, for the clock."""
    from models.timeutil import local_today

    start, end = local_day_bounds(day or local_today(tz_name), tz_name)
    where = [Meeting.agency_id == agency_id, Meeting.starts_at >= start, Meeting.starts_at < end,
             Meeting.status != MeetingStatus.CANCELLED]
    if owner_id is not None:
        where.append(Meeting.owner_id == owner_id)
    return where


def todays_meetings_query(agency_id: int, tz_name: str, owner_id: int | None = None, day: date | None = None):
    """Build the select of the day's (not cancelled) meetings in the agency's zone, for the clock."""
    query = select(Meeting).where(*todays_meetings_where(agency_id, tz_name, owner_id, day))
    return query.order_by(Meeting.starts_at)


class EmailKind(LabelledEnum):
    INVITE = "invite", "Convite"
    INVITE_RETRY = "invite_retry", "Convite (reenvio às falhas)"
    #: The invite sent later to someone who did not receive it (added on a send screen).
    INVITE_ADD = "invite_add", "Convite (novos convidados)"
    UPDATE = "update", "Atualização"
    CANCEL = "cancel", "Cancelamento"
    REMINDER = "reminder", "Lembrete"


EMAIL_KIND_LABELS = EmailKind.labels()


#: Sends that put the meeting in someone's calendar: their recipients hold the invite.
INVITE_KINDS = (EmailKind.INVITE, EmailKind.INVITE_RETRY, EmailKind.INVITE_ADD)
#: Sends that carry the meeting's calendar entry to their recipients (a failure is retried with the invite).
CALENDAR_SEND_KINDS = (EmailKind.INVITE, EmailKind.INVITE_RETRY, EmailKind.INVITE_ADD, EmailKind.UPDATE)
#: Sends of which each version (SEQUENCE) of a meeting goes out once, whatever the browsers do.
ONCE_PER_SEQUENCE_KINDS = (EmailKind.UPDATE, EmailKind.CANCEL)


class SendStatus(LabelledEnum):
    PENDING = "pending", "Enviando"
    SENT = "sent", "Enviado"
    PARTIAL = "partial", "Parcial"
    FAILED = "failed", "Falhou"


SEND_STATUS_LABELS = SendStatus.labels()


class MeetingEmail(db.Model):
    """One send (invite, update, cancel, reminder) with a row per recipient."""

    __tablename__ = "meeting_email"
    __table_args__ = (
        # One invite, ever: the database refuses a second live invite row for a meeting, whatever the UI does.
        Index("uq_meeting_email_one_invite", "meeting_id", unique=True,
              sqlite_where=text("kind = 'invite' AND status != 'failed'"),
              postgresql_where=text("kind = 'invite' AND status != 'failed'")),
        # One update per version and one cancellation per version: twenty simultaneous "Enviar atualização"
        # (each from its own form) insert the same (meeting, kind, sequence) and the database keeps one.
        Index("uq_meeting_email_once_per_sequence", "meeting_id", "kind", "sequence", unique=True,
              sqlite_where=text("kind IN ('update', 'cancel') AND status != 'failed'"),
              postgresql_where=text("kind IN ('update', 'cancel') AND status != 'failed'")),
        # The tick's look for interrupted sends reads only the few still pending.
        Index("ix_meeting_email_pending_active", "active_at", sqlite_where=text("status = 'pending'"),
              postgresql_where=text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meeting.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default=SendStatus.PENDING)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    error: Mapped[str | None] = mapped_column(Text)
    #: Last sign of life of the process sending it (claim, and before/after each recipient): a send still *pending*
    #: with no sign of life for MAIL_RESUME_AFTER_SECONDS was interrupted, and the consumer's tick resumes it.
    active_at: Mapped[datetime | None] = mapped_column(DateTime, default=utcnow)
    #: One-time token of the send form: a re-submitted form is recognised and not sent twice.
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)

    meeting = relationship("Meeting", back_populates="emails")
    sent_by = relationship("User")
    recipients = relationship("MeetingEmailRecipient", back_populates="email", cascade="all, delete-orphan",
                              order_by="MeetingEmailRecipient.id")

    @property
    def failed_addresses(self) -> list[str]:
        return [r.address for r in self.recipients if not r.delivered]


class RecipientState(LabelledEnum):
    """Where one recipient of a send stands; recorded (committed) before and after its SMTP transaction."""

    PENDING = "pending", "Aguardando envio"
    SENDING = "sending", "Enviando"
    SENT = "sent", "Entregue ao servidor"
    FAILED = "failed", "Falhou"
    #: The process stopped during this recipient's SMTP transaction: it may have received the message.
    #: Never re-sent automatically (a person decides, e.g. with "Reenviar às falhas").
    UNCERTAIN = "uncertain", "Incerto"


class MeetingEmailRecipient(db.Model):
    __tablename__ = "meeting_email_recipient"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_id: Mapped[int] = mapped_column(ForeignKey("meeting_email.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(254))
    delivered: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    #: RecipientState; NULL on rows written before it existed (read ``delivered``).
    state: Mapped[str | None] = mapped_column(String(20))

    email = relationship("MeetingEmail", back_populates="recipients")
