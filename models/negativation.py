"""Negativations: one debt's registration at Serasa (via SOA), its life cycle, legal dates and history."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import holidays
from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    bindparam,
    insert,
    select,
    text,
    update,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.orm.attributes import set_committed_value

from models import db
from models.debt import DebtStatus
from models.documents import DOCUMENT, is_valid_document
from models.labelled import LabelledEnum
from models.portfolio import sort_indexes, trigram_indexes
from models.scope import Scoped
from models.timeutil import utcnow

#: CDC art. 43 §1 / STJ Súmula 323: a record may last five years from the day after the due date.
LIMIT_YEARS = 5
#: STJ Súmula 548: the creditor must request the removal within five business days of payment.
REMOVAL_BUSINESS_DAYS = 5
#: Flag records whose removal deadline is this close (in days).
DEADLINE_WARNING_DAYS = 2


class NegativationStatus(LabelledEnum):
    PENDING = "pendente", "Pendente"
    SENT = "enviada", "Enviada"
    ACTIVE = "ativa", "Ativa"
    REJECTED = "rejeitada", "Rejeitada"
    ERROR = "erro", "Erro (reenviar)"
    UNCERTAIN = "incerta", "Incerta (conferir)"
    EXCLUSION_REQUESTED = "baixa_solicitada", "Baixa solicitada"
    EXCLUDED = "excluida", "Excluída"


S = NegativationStatus
STATUS_LABELS = NegativationStatus.labels()

#: The life cycle (docs/rules.md) plus ``incerta``: an inclusion whose outcome is unknown after a timeout.
TRANSITIONS: dict[str, set[str]] = {
    S.PENDING: {S.SENT, S.REJECTED, S.ERROR, S.UNCERTAIN},
    S.ERROR: {S.PENDING, S.SENT, S.REJECTED, S.ERROR, S.UNCERTAIN, S.EXCLUDED},
    S.UNCERTAIN: {S.SENT, S.ACTIVE, S.ERROR, S.REJECTED, S.UNCERTAIN, S.EXCLUSION_REQUESTED, S.EXCLUDED},
    S.SENT: {S.ACTIVE, S.REJECTED, S.EXCLUSION_REQUESTED, S.EXCLUDED},
    S.ACTIVE: {S.EXCLUSION_REQUESTED, S.EXCLUDED},
    S.EXCLUSION_REQUESTED: {S.EXCLUDED, S.ACTIVE},
    S.REJECTED: set(),
    S.EXCLUDED: set(),
}
#: States in which the debt is (or may be) at the bureau: at most one such record per debt.
OPEN_STATES = (S.PENDING, S.SENT, S.ACTIVE, S.ERROR, S.UNCERTAIN, S.EXCLUSION_REQUESTED)
#: States whose status SOA should be asked about.
SYNC_STATES = (S.SENT, S.UNCERTAIN, S.EXCLUSION_REQUESTED)


class ExclusionMotive(LabelledEnum):
    PAYMENT = "pagamento", "Pagamento"
    AGREEMENT = "acordo", "Acordo"
    DISPUTE = "erro_contestacao", "Erro / contestação"
    COURT_ORDER = "ordem_judicial", "Ordem judicial"
    EXPIRY = "prazo_5_anos", "Prazo de 5 anos (CDC art. 43 §1º)"
    OTHER = "outro", "Outro"


#: Why a settled debt's record leaves the bureau (models.debt.Settlement.status → motive).
MOTIVE_BY_SETTLED_STATUS = {DebtStatus.PAID: ExclusionMotive.PAYMENT,
                            DebtStatus.IN_AGREEMENT: ExclusionMotive.AGREEMENT}


MOTIVE_LABELS = ExclusionMotive.labels()
#: Motives an admin picks by hand (the 5-year expiry is the system's).
MANUAL_MOTIVES = [m for m in ExclusionMotive if m != ExclusionMotive.EXPIRY]
#: Motives whose exclusion needs a written note (kept in the record's history and in the audit log).
NOTE_REQUIRED_MOTIVES = frozenset({ExclusionMotive.COURT_ORDER, ExclusionMotive.OTHER})

#: SOA's exclusion (baixa) code that tells the bureau the truth about each motive: a payment is never sent as a
#: court order. The admin may only pick the code of the motive chosen.
EXCLUSION_CODE_BY_MOTIVE = {
    ExclusionMotive.PAYMENT: "1",
    ExclusionMotive.AGREEMENT: "2",
    ExclusionMotive.DISPUTE: "3",
    ExclusionMotive.COURT_ORDER: "4",
    ExclusionMotive.EXPIRY: "5",
    ExclusionMotive.OTHER: "5",
}


def exclusion_code_for(motive: str) -> str:
    """Return SOA's exclusion code for a motive."""
    return EXCLUSION_CODE_BY_MOTIVE[ExclusionMotive(motive)]


def check_exclusion_request(motive: str, code: str | None, note: str | None) -> str:
    """Validate an admin's exclusion (motive, SOA code, note) and return the code to send; refuse what lies."""
    try:
        motive = ExclusionMotive(motive)
    except ValueError:
        raise NegativationNotAllowed("Escolha o motivo da baixa.") from None
    if motive not in MANUAL_MOTIVES:
        raise NegativationNotAllowed("Escolha o motivo da baixa.")
    expected = exclusion_code_for(motive)
    if code and str(code) != expected:
        raise NegativationNotAllowed(
            f"O código de baixa {code} não corresponde ao motivo {MOTIVE_LABELS[motive]}: use o código {expected}.")
    if motive in NOTE_REQUIRED_MOTIVES and not (note or "").strip():
        raise NegativationNotAllowed(f"Descreva o motivo na observação (obrigatória para {MOTIVE_LABELS[motive]}).")
    return expected


#: How a debt's Serasa situation reads on Dívidas, Devedores and Negociações: the status of its latest record
#: (an open record is always the latest: a new one is only created when none is open).
DEBT_SERASA_LABELS = {
    None: "Não negativada",
    S.PENDING: "Enviada",
    S.SENT: "Enviada",
    S.ACTIVE: "Ativa",
    S.EXCLUSION_REQUESTED: "Em baixa",
    S.EXCLUDED: "Baixada",
    S.REJECTED: "Rejeitada",
    S.ERROR: "Erro",
    S.UNCERTAIN: "Incerta",
}
#: The filter's options: label → the record statuses it stands for ("" = no record at all).
DEBT_SERASA_FILTER = {
    "nao_negativada": ("Não negativada", ()),
    "enviada": ("Enviada", (S.PENDING, S.SENT)),
    "ativa": ("Ativa", (S.ACTIVE,)),
    "em_baixa": ("Em baixa", (S.EXCLUSION_REQUESTED,)),
    "baixada": ("Baixada", (S.EXCLUDED,)),
    "rejeitada": ("Rejeitada", (S.REJECTED,)),
    "erro": ("Erro", (S.ERROR,)),
    "incerta": ("Incerta", (S.UNCERTAIN,)),
}


class NegativationNotAllowed(ValueError):
    """A rule refused the operation; the message is for the user (pt-BR)."""


def expiry_date(due_date: date) -> date:
    """Return the last day a record may exist: the day after the due date plus five years."""
    start = due_date + timedelta(days=1)
    try:
        return start.replace(year=start.year + LIMIT_YEARS)
    except ValueError:  # 29 February
        return start.replace(year=start.year + LIMIT_YEARS, day=28)


def add_business_days(start: date, days: int) -> date:
    """Count ``days`` Brazilian business days after ``start`` (weekends and national holidays excluded)."""
    return holidays.country_holidays("BR").get_nth_working_day(start, days)


def removal_deadline(paid_on: date) -> date:
    """Return the legal deadline to remove a record: five business days after payment (Súmula 548)."""
    return add_business_days(paid_on, REMOVAL_BUSINESS_DAYS)


def eligibility_problems(debt, today: date) -> list[str]:
    """List (pt-BR) every reason this debt cannot be negativated today; empty when it can."""
    problems = []
    if debt.status == DebtStatus.PAID or debt.paid_at is not None:
        problems.append("a dívida está paga")
    elif debt.status == DebtStatus.CANCELLED:
        problems.append("a dívida está cancelada")
    elif debt.status == DebtStatus.IN_AGREEMENT:
        problems.append("a dívida está em acordo")
    if debt.amount is None or debt.amount <= 0:
        problems.append("o valor deve ser maior que zero")
    if debt.due_date >= today:
        problems.append("a dívida ainda não venceu")
    elif expiry_date(debt.due_date) <= today:
        problems.append("o vencimento passou de 5 anos (CDC art. 43 §1º; Súmula 323 do STJ)")
    debtor = debt.debtor
    if not is_valid_document(debtor.document):
        problems.append("CPF/CNPJ do devedor inválido")
    if debtor.is_person:
        age = debtor.age_on(today)
        if age is not None and age < 18:
            problems.append("o devedor é menor de 18 anos")
    address = debtor.address_problems()
    if address:
        problems.append("endereço do devedor incompleto ou fora do padrão do Serasa: " + ", ".join(address))
    if not (debt.creditor and debt.creditor.cnpj):
        problems.append("o credor não tem CNPJ cadastrado")
    return problems


def latest_by_debt(debt_ids) -> dict[int, Negativation]:
    """Return each debt's latest negativation record (one query), keyed by debt id."""
    ids = list(debt_ids)
    if not ids:
        return {}
    latest: dict[int, Negativation] = {}
    for record in db.session.scalars(db.select(Negativation).where(Negativation.debt_id.in_(ids))
                                     .order_by(Negativation.id)):
        latest[record.debt_id] = record  # the newest wins
    return latest


def live_records(agency_id: int) -> int:
    """Count the agency's records that are (or may be) at the bureau: the law keeps running for them."""
    return db.session.scalar(db.select(db.func.count(Negativation.id)).where(
        Negativation.agency_id == agency_id, Negativation.status.in_([str(s) for s in OPEN_STATES]))) or 0


def has_live_records(agency_id: int) -> bool:
    """Tell whether the agency has any record that is (or may be) at the bureau (one indexed probe)."""
    return db.session.scalar(db.select(Negativation.id).where(
        Negativation.agency_id == agency_id, Negativation.status.in_([str(s) for s in OPEN_STATES])).limit(1)) \
        is not None


def latest_status_of(debt_id_column):
    """SQL expression: the status of the latest record of the debt in ``debt_id_column`` (NULL when none)."""
    return (db.select(Negativation.status).where(Negativation.debt_id == debt_id_column)
            .order_by(Negativation.id.desc()).limit(1).scalar_subquery())


def serasa_filter_clause(debt_id_column, option: str):
    """SQL condition: the debt in ``debt_id_column`` is in the Serasa situation ``option`` of DEBT_SERASA_FILTER."""
    _, statuses = DEBT_SERASA_FILTER[option]
    if not statuses:
        return ~db.select(Negativation.id).where(Negativation.debt_id == debt_id_column).exists()
    return latest_status_of(debt_id_column).in_([str(s) for s in statuses])


class Negativation(Scoped, db.Model):
    #: The debtor's consultant, copied onto the row and kept true by models/portfolio.py (one index per list).
    consultant_path = "consultant_id"

    __tablename__ = "negativation"
    __table_args__ = (
        # At most one open record per debt, whatever the UI or concurrent requests do.
        Index("uq_negativation_open_debt", "debt_id", unique=True,
              sqlite_where=text("status NOT IN ('rejeitada', 'excluida')"),
              postgresql_where=text("status NOT IN ('rejeitada', 'excluida')")),
        Index("ix_negativation_agency_status", "agency_id", "status"),
        # PostgreSQL keeps no row id in an index: the id is included for index-only pages (migration 0015).
        Index("ix_negativation_agency_created", "agency_id", "created_at", postgresql_include=["id"]),
        Index("ix_negativation_agency_deadline", "agency_id", "removal_deadline"),
        # The list (bench/RESULTS.md): by creation within the agency, and through the consultant's debtors.
        Index("ix_negativation_agency_created_list", "agency_id", "created_at", "status", "debtor_id", "document",
              "contract_number"),
        Index("ix_negativation_debtor_list", "debtor_id", "agency_id", "created_at", "status", "document",
              "contract_number"),
        # The consultant's portfolio (models/portfolio.py), and every sortable column in both scopes.
        Index("ix_negativation_consultant_created_list", "agency_id", "consultant_id", "created_at", "status",
              "document", "contract_number", postgresql_include=["id"]),
        *sort_indexes("negativation", ["document", "contract_number", "amount", "due_date", "status",
                                       "removal_deadline", "expires_on"],
                      agency_indexed=["status", "removal_deadline"]),
        *trigram_indexes("negativation", ["document", "contract_number"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    debt_id: Mapped[int] = mapped_column(ForeignKey("debt.id"), index=True)
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtor.id"), index=True)
    #: The debtor's consultant, kept equal to it by models/portfolio.py: the consultant's list is one index.
    consultant_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    creditor_id: Mapped[int] = mapped_column(ForeignKey("creditor.id"), index=True)
    #: Snapshot of the debtor's CPF/CNPJ (digits) as sent: the filter and the reconciliation key.
    document: Mapped[str] = mapped_column(String(14), index=True, info=DOCUMENT)
    contract_number: Mapped[str] = mapped_column(String(40))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    due_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default=S.PENDING)
    #: SOA's handle for later consultation and exclusion.
    unique_id: Mapped[str | None] = mapped_column(String(64), index=True)
    restriction_code: Mapped[str | None] = mapped_column(String(20))
    soa_code: Mapped[str | None] = mapped_column(String(20))
    soa_message: Mapped[str | None] = mapped_column(Text)
    expires_on: Mapped[date] = mapped_column(Date)
    paid_on: Mapped[date | None] = mapped_column(Date)
    removal_deadline: Mapped[date | None] = mapped_column(Date)
    exclusion_motive: Mapped[str | None] = mapped_column(String(30))
    exclusion_code: Mapped[str | None] = mapped_column(String(20))
    exclusion_note: Mapped[str | None] = mapped_column(String(200))
    #: The day the panel learned of the payment: after ``removal_deadline`` the registration itself was late.
    payment_recorded_on: Mapped[date | None] = mapped_column(Date)
    #: Set when an exclusion is due but SOA has not accepted it yet (retried by ``flask serasa sync``).
    exclusion_error: Mapped[str | None] = mapped_column(Text)
    exclusion_requested_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: Set (by one conditional UPDATE) when a request takes the exclusion to SOA: whoever finds it set makes
    #: no call. Cleared when SOA refuses or fails (retryable) and when the record is active again.
    exclusion_claimed_at: Mapped[datetime | None] = mapped_column(DateTime)
    excluded_at: Mapped[datetime | None] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_checked_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    debt = relationship("Debt")
    debtor = relationship("Debtor")
    creditor = relationship("Creditor")
    created_by = relationship("User", foreign_keys=[created_by_id])
    consultant = relationship("User", foreign_keys=[consultant_id])
    events = relationship("NegativationEvent", back_populates="negativation", cascade="all, delete-orphan",
                          order_by="NegativationEvent.id")

    def __str__(self) -> str:
        return f"Negativação nº {self.id} — contrato {self.contract_number}"

    @classmethod
    def for_debt(cls, debt, user_id: int | None, restriction_code: str | None) -> Negativation:
        """Start a record (pendente) with a snapshot of what will be sent."""
        record = cls(debt=debt, **cls.snapshot_of(debt, user_id, restriction_code))
        record.events.append(NegativationEvent(**FIRST_EVENT, actor_id=user_id))
        return record

    @staticmethod
    def snapshot_of(debt, user_id: int | None, restriction_code: str | None) -> dict:
        """The columns of a new record (pendente) for ``debt``: what will be sent, frozen at the claim."""
        return dict(agency_id=debt.agency_id, debt_id=debt.id, debtor_id=debt.debtor_id, creditor_id=debt.creditor_id,
                    document=debt.debtor.document, contract_number=debt.contract_number, amount=debt.amount,
                    due_date=debt.due_date, status=S.PENDING, expires_on=expiry_date(debt.due_date),
                    restriction_code=restriction_code, created_by_id=user_id)

    @classmethod
    def claim_many(cls, debts: list, user_id: int | None, restriction_code: str | None) -> list[Negativation]:
        """Insert a new record (pendente) and its first event for each debt: three statements, whatever the count.

        The debts come with their debtor loaded. The records come back as loaded objects (in the debts' order), with
        their debt set.
        A debt that already has an open record fails the whole statement (the unique index): the caller's
        savepoint then rolls it back.
        """
        if not debts:
            return []
        connection = db.session.connection()
        connection.execute(insert(cls.__table__), [  # one executemany (RETURNING would insert row by row)
            {**cls.snapshot_of(debt, user_id, restriction_code), "consultant_id": debt.debtor.consultant_id}
            for debt in debts])
        # The unique index allows one open record per debt: the pending ones of these debts are the new ones.
        by_debt = {record.debt_id: record for record in db.session.scalars(
            select(cls).where(cls.debt_id.in_([debt.id for debt in debts]), cls.status == S.PENDING))}
        records = []
        for debt in debts:
            records.append(by_debt[debt.id])
            set_committed_value(by_debt[debt.id], "debt", debt)  # already loaded: no query per record
        connection.execute(insert(NegativationEvent.__table__), [
            {**FIRST_EVENT, "negativation_id": record.id, "actor_id": user_id} for record in records])
        return records

    def move(self, to: str, *, actor_id: int | None, message: str | None = None, code: str | None = None) -> None:
        """Change state along the life cycle and append the event; refuse an impossible transition."""
        changes = self.changes_for(to, message=message, code=code)
        self._add_event(NegativationEvent(actor_id=actor_id, from_status=self.status, to_status=to,
                                          soa_code=code, message=message))
        for column, value in changes.items():
            setattr(self, column, value)

    def changes_for(self, to: str, *, message: str | None, code: str | None) -> dict:
        """The columns a move to ``to`` changes; refuse an impossible transition."""
        if to not in TRANSITIONS[self.status]:
            raise NegativationNotAllowed(
                f"Transição inválida: {STATUS_LABELS[S(self.status)]} → {STATUS_LABELS[S(to)]}.")
        changes: dict = {"status": to}
        if self.status == S.EXCLUSION_REQUESTED and to == S.ACTIVE:
            changes["exclusion_claimed_at"] = None  # the bureau kept it: the exclusion may be requested again
        if message is not None:
            changes["soa_message"] = message
        if code is not None:
            changes["soa_code"] = code
        return changes

    def note(self, message: str, *, actor_id: int | None, code: str | None = None) -> None:
        """Append an event that does not change the state (e.g. a failed exclusion attempt)."""
        self._add_event(NegativationEvent(actor_id=actor_id, from_status=self.status, to_status=self.status,
                                          soa_code=code, message=message))

    def _add_event(self, event: NegativationEvent) -> None:
        """Append to the history without loading it: a batch of a thousand records makes no query per record."""
        if self.id is not None and "events" in sa_inspect(self).unloaded:
            event.negativation_id = self.id
            db.session.add(event)
        else:
            self.events.append(event)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATES

    @property
    def can_be_excluded(self) -> bool:
        """Whether Excluir negativação is offered: the record is (or may be) at the bureau under SOA's protocol."""
        return self.status in (S.ACTIVE, S.SENT, S.UNCERTAIN) and bool(self.unique_id)

    @property
    def exclusion_due(self) -> bool:
        """Tell whether the record must leave the bureau (motive set) but has not been excluded yet."""
        return bool(self.exclusion_motive) and self.status in (S.ACTIVE, S.SENT, S.UNCERTAIN)

    def mark_paid(self, paid_on: date, motive: str, recorded_on: date | None = None) -> None:
        """Record the payment (or agreement) and start the 5-business-day removal clock from the payment date."""
        if self.paid_on is None:
            self.paid_on = paid_on
            self.removal_deadline = removal_deadline(paid_on)
            self.payment_recorded_on = recorded_on
        self.exclusion_motive = self.exclusion_motive or motive

    @property
    def registered_late(self) -> bool:
        """Tell whether the payment reached the panel only after the legal removal deadline had passed."""
        return (self.payment_recorded_on is not None and self.removal_deadline is not None
                and self.payment_recorded_on > self.removal_deadline)

    @property
    def serasa_label(self) -> str:
        """The situation as Dívidas, Devedores and Negociações show it."""
        return DEBT_SERASA_LABELS.get(self.status, self.status)

    @property
    def removal_pending(self) -> bool:
        """Tell whether a removal deadline runs and the record is still at the bureau (or may be)."""
        return self.removal_deadline is not None and self.status in (S.ACTIVE, S.SENT, S.UNCERTAIN, S.PENDING)

    def deadline_flag(self, today: date) -> str | None:
        """Return 'vencido' / 'proximo' for a removal deadline past / near while still at the bureau."""
        if self.removal_deadline is None or self.status in (S.EXCLUDED, S.REJECTED, S.EXCLUSION_REQUESTED):
            return None
        if self.removal_deadline < today:
            return "vencido"
        if (self.removal_deadline - today).days <= DEADLINE_WARNING_DAYS:
            return "proximo"
        return None


class NegativationBatch(Scoped, db.Model):
    """One "Negativar no Serasa" of a user: the per-debt report, kept to be reopened, exported and printed."""

    __tablename__ = "negativation_batch"

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    restriction_code: Mapped[str | None] = mapped_column(String(20))
    #: [{debt_id, contract, debtor, document, creditor, amount, due_date, result, reason, negativation_id}]
    outcomes: Mapped[list] = mapped_column(JSON, default=list)

    user = relationship("User")

    def count(self, result: str) -> int:
        return sum(1 for o in self.outcomes if o["result"] == result)


class NegativationEvent(db.Model):
    """Append-only history of a negativation: every transition and every SOA answer."""

    __tablename__ = "negativation_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    negativation_id: Mapped[int] = mapped_column(ForeignKey("negativation.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: None means the system (sync command, automatic exclusion).
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    soa_code: Mapped[str | None] = mapped_column(String(20))
    message: Mapped[str | None] = mapped_column(Text)

    negativation = relationship("Negativation", back_populates="events")
    actor = relationship("User")


#: The first event of every record.
FIRST_EVENT = {"from_status": None, "to_status": S.PENDING, "message": "Inclusão solicitada."}


class Transitions:
    """Move many stored records along their life cycle with one UPDATE and one INSERT per batch.

    For the hot path of a bulk inclusion (hundreds of SOA answers a second): ``move`` checks the transition
    like ``Negativation.move``, applies it to the object as already stored (nothing for the session to
    flush), and queues the row changes and the event; ``write`` runs them. The caller commits, and must not
    let the session roll back between ``move`` and ``write`` without discarding this batch.
    """

    def __init__(self) -> None:
        self._changes: dict[int, dict] = {}
        self._events: list[dict] = []

    def move(self, record: Negativation, to: str, *, actor_id: int | None, message: str | None = None,
             code: str | None = None, **values) -> None:
        """Like ``record.move``, with ``values`` for other columns (e.g. the protocol) changed with it."""
        changes = {**values, **record.changes_for(to, message=message, code=code), "updated_at": utcnow()}
        self._events.append({"negativation_id": record.id, "actor_id": actor_id, "from_status": record.status,
                             "to_status": to, "soa_code": code, "message": message})
        for column, value in changes.items():
            set_committed_value(record, column, value)
        state = sa_inspect(record)
        if "events" not in state.unloaded:  # a loaded history would miss the new event: reload it when read
            state.session.expire(record, ["events"])
        self._changes.setdefault(record.id, {}).update(changes)

    def write(self) -> None:
        """Run the queued changes (one UPDATE per set of changed columns) and insert the events."""
        by_columns: dict[tuple, list[dict]] = {}
        for record_id, changes in self._changes.items():
            by_columns.setdefault(tuple(sorted(changes)), []).append({"record_id": record_id, **changes})
        connection = db.session.connection()  # Core statements on the session's transaction: plain executemany
        table = Negativation.__table__
        for columns, rows in by_columns.items():
            connection.execute(update(table).where(table.c.id == bindparam("record_id")).values(
                {column: bindparam(column) for column in columns}), rows)
        if self._events:
            connection.execute(insert(NegativationEvent.__table__), self._events)
        self._changes, self._events = {}, []
