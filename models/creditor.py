"""Creditors: companies whose debts the agency collects."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models import db
from models.documents import CNPJ_ONLY
from models.scope import Scoped
from models.timeutil import utcnow


class Creditor(Scoped, db.Model):
    __tablename__ = "creditor"
    __table_args__ = (Index("ix_creditor_agency_name", "agency_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    cnpj: Mapped[str] = mapped_column(String(14), info=CNPJ_ONLY)
    contact_name: Mapped[str | None] = mapped_column(String(120))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    agency = relationship("Agency")

    def __str__(self) -> str:
        return self.name
