"""Debts (the aggregate root of collection) and the negotiations over them."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Column, Date, DateTime, ForeignKey, Index, Integer, Numeric, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models import db
from models.portfolio import sort_indexes, trigram_indexes
from models.timeutil import utcnow


class DebtStatus(StrEnum):
    OPEN = "aberta"
    IN_AGREEMENT = "em_acordo"
    PAID = "paga"
    CANCELLED = "cancelada"


DEBT_STATUS_LABELS = {
    DebtStatus.OPEN: "Em aberto",
    DebtStatus.IN_AGREEMENT: "Em acordo",
    DebtStatus.PAID: "Paga",
    DebtStatus.CANCELLED: "Cancelada",
}


class NegotiationStatus(StrEnum):
    OPEN = "aberta"
    PROPOSAL = "proposta"
    AGREEMENT = "acordo"
    SETTLED = "quitada"
    BROKEN = "quebrada"
    CANCELLED = "cancelada"


NEGOTIATION_STATUS_LABELS = {
    NegotiationStatus.OPEN: "Aberta",
    NegotiationStatus.PROPOSAL: "Proposta enviada",
    NegotiationStatus.AGREEMENT: "Acordo firmado",
    NegotiationStatus.SETTLED: "Quitada",
    NegotiationStatus.BROKEN: "Acordo quebrado",
    NegotiationStatus.CANCELLED: "Cancelada",
}


class Debt(db.Model):
    __tablename__ = "debt"
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


negotiation_debt = Table(
    "negotiation_debt",
    db.metadata,
    Column("negotiation_id", Integer, ForeignKey("negotiation.id", ondelete="CASCADE"), primary_key=True),
    Column("debt_id", Integer, ForeignKey("debt.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Negotiation(db.Model):
    __tablename__ = "negotiation"
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
