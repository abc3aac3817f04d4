"""Debts (the aggregate root of collection) and the negotiations over them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Column, Date, DateTime, ForeignKey, Index, Integer, Numeric, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models import db
from models.labelled import LabelledEnum
from models.portfolio import sort_indexes, trigram_indexes
from models.scope import Scoped
from models.timeutil import utcnow


class DebtStatus(LabelledEnum):
    OPEN = "aberta", "Em aberto"
    IN_AGREEMENT = "em_acordo", "Em acordo"
    PAID = "paga", "Paga"
    CANCELLED = "cancelada", "Cancelada"


DEBT_STATUS_LABELS = DebtStatus.labels()


class NegotiationStatus(LabelledEnum):
    OPEN = "aberta", "Aberta"
    PROPOSAL = "proposta", "Proposta enviada"
    AGREEMENT = "acordo", "Acordo firmado"
    SETTLED = "quitada", "Quitada"
    BROKEN = "quebrada", "Acordo quebrado"
    CANCELLED = "cancelada", "Cancelada"


NEGOTIATION_STATUS_LABELS = NegotiationStatus.labels()


class Debt(Scoped, db.Model):
    __tablename__ = "debt"
    #: The debtor's consultant, copied onto the row and kept true by models/portfolio.py (one index per list).
    consultant_path = "consultant_id"
    __table_args__ = (
        Index("ix_debt_agency_due", "agency_id", "due_date"),
        Index("ix_debt_agency_status", "agency_id", "status"),
        # The list (bench/RESULTS.md): by due date within the agency, and through the consultant's debtors.
        Index("ix_debt_agency_due_list", "agency_id", "due_date", "status", "debtor_id", "contract_number"),
        Index("ix_debt_debtor_list", "debtor_id", "agency_id", "due_date", "status", "contract_number"),
        # The consultant's portfolio (models/portfolio.py), and every sortable column in both scopes.
        Index("ix_debt_consultant_due_list", "agency_id", "consultant_id", "due_date", "status", "contract_number"),
        *sort_indexes("debt", ["contract_number", "amount", "status", "paid_on"], agency_indexed=["status"]),
        *trigram_indexes("debt", ["contract_number"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Denormalised from the debtor so every screen scopes with one indexed column.
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtor.id"), index=True)
    creditor_id: Mapped[int] = mapped_column(ForeignKey("creditor.id"), index=True)
    #: The debtor's consultant, kept equal to it by models/portfolio.py: the consultant's list is one index.
    consultant_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    contract_number: Mapped[str] = mapped_column(String(40), index=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    due_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default=DebtStatus.OPEN)
    paid_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: The day the debtor paid (typed by the user; the 5-business-day removal deadline counts from it).
    paid_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    agency = relationship("Agency")
    debtor = relationship("Debtor", back_populates="debts")
    creditor = relationship("Creditor")
    consultant = relationship("User", foreign_keys=[consultant_id])

    def __str__(self) -> str:
        return f"Contrato {self.contract_number} — vence {self.due_date:%d/%m/%Y}"

    def is_overdue(self, today: date) -> bool:
        return self.status == DebtStatus.OPEN and self.due_date < today

    def transition(self, before: str | None, today: date) -> Settlement | None:
        """Apply the status just set (it was ``before``; None for a new debt).

        Paga carries the payment date (the day typed, else today; never in the future); any other status carries
        none. Return the settlement when the debt has just left collection (paid, or in an agreement): its
        negativation must then leave the bureau, the legal deadline counting from that date.
        """
        if self.status == DebtStatus.PAID:
            self.mark_paid(self.paid_on or today, today)
        elif self.paid_on is not None:
            raise DebtNotAllowed("Informe a data do pagamento só quando a situação for Paga.")
        else:
            self.clear_payment()
        if self.status in SETTLED_DEBT_STATUSES and self.status != before:
            return Settlement(self, self.status, self.paid_on or today)
        return None

    def mark_paid(self, on: date, today: date) -> None:
        """Record the payment made on ``on`` (not after ``today``)."""
        if on > today:
            raise DebtNotAllowed("A data do pagamento não pode estar no futuro.")
        self.status = DebtStatus.PAID
        self.paid_on = on
        self.paid_at = self.paid_at or utcnow()

    def clear_payment(self) -> None:
        self.paid_on = None
        self.paid_at = None


class DebtNotAllowed(ValueError):
    """A debt rule refused the change; the message is for the user (pt-BR)."""


class NegotiationNotAllowed(ValueError):
    """A negotiation rule refused the change; the message is for the user (pt-BR)."""


#: A debt in one of these has left collection: its negativation must leave the bureau.
SETTLED_DEBT_STATUSES = (DebtStatus.PAID, DebtStatus.IN_AGREEMENT)
#: What entering a negotiation status does to its debts still in collection.
DEBT_STATUS_BY_NEGOTIATION_STATUS = {NegotiationStatus.AGREEMENT: DebtStatus.IN_AGREEMENT,
                                     NegotiationStatus.SETTLED: DebtStatus.PAID}


@dataclass(frozen=True)
class Settlement:
    """A debt that has just been paid or put in an agreement (``status``) on the day ``on``."""

    debt: Debt
    status: str
    on: date


negotiation_debt = Table(
    "negotiation_debt",
    db.metadata,
    Column("negotiation_id", Integer, ForeignKey("negotiation.id", ondelete="CASCADE"), primary_key=True),
    Column("debt_id", Integer, ForeignKey("debt.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Negotiation(Scoped, db.Model):
    __tablename__ = "negotiation"
    consultant_path = "consultant_id"
    __table_args__ = (
        Index("ix_negotiation_agency_created", "agency_id", "created_at"),
        Index("ix_negotiation_agency_status", "agency_id", "status"),
        Index("ix_negotiation_agency_created_list", "agency_id", "created_at", "consultant_id", "status",
              "debtor_id"),
        Index("ix_negotiation_csort_created_at", "agency_id", "consultant_id", "created_at"),
        *sort_indexes("negotiation", ["status", "agreed_amount", "installments"], agency_indexed=["status"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtor.id"), index=True)
    creditor_id: Mapped[int] = mapped_column(ForeignKey("creditor.id"), index=True)
    consultant_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=NegotiationStatus.OPEN)
    agreed_amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    installments: Mapped[int | None] = mapped_column(Integer)
    notes: Mapped[str | None] = mapped_column(String(2000))
    #: The day of the payment (Quitada) or of the agreement (Acordo firmado): the removal deadline counts from it.
    settled_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    agency = relationship("Agency")
    debtor = relationship("Debtor")
    creditor = relationship("Creditor")
    consultant = relationship("User")
    debts = relationship("Debt", secondary=negotiation_debt)

    def __str__(self) -> str:
        return f"Negociação nº {self.id}"

    def transition(self, before: str | None, today: date) -> list[Settlement]:
        """Apply the status just set (it was ``before``; None for a new negotiation).

        Quitada and Acordo firmado carry the day of the payment or agreement (the day typed, else today; never in
        the future); any other status carries none. Entering Acordo firmado puts the negotiation's debts still in
        collection in agreement; entering Quitada marks them paid on that day. Return those debts' settlements
        (their negativations must leave the bureau, the legal deadline counting from that day).
        """
        debt_status = DEBT_STATUS_BY_NEGOTIATION_STATUS.get(self.status)
        if debt_status is not None:
            self.settled_on = self.settled_on or today
            if self.settled_on > today:
                raise NegotiationNotAllowed("A data do pagamento / acordo não pode estar no futuro.")
        elif self.settled_on is not None:
            raise NegotiationNotAllowed("Informe a data do pagamento / acordo só quando a situação for Quitada ou "
                                        "Acordo firmado.")
        if debt_status is None or self.status == before:
            return []
        settlements = []
        for debt in self.debts:
            if debt.status in (DebtStatus.PAID, DebtStatus.CANCELLED, debt_status):
                continue
            if debt_status == DebtStatus.PAID:
                debt.mark_paid(self.settled_on, today)
            else:
                debt.status = debt_status
            settlements.append(Settlement(debt, debt_status, self.settled_on))
        return settlements
