"""Debtors (devedores): people (CPF) or companies (CNPJ) who owe."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from models import db
from models.documents import CEP, DOCUMENT, format_document, is_valid_document, only_digits
from models.portfolio import sort_indexes, trigram_indexes
from models.scope import Scoped
from models.timeutil import utcnow

#: The bureau's field sizes (Serasa PEFIN via SOA); values never get truncated silently.
FIELD_SIZES = {"name": 70, "street": 45, "number": 10, "complement": 20, "neighbourhood": 20, "city": 25,
               "uf": 2, "cep": 8}

UFS = ["AC", "AL", "AM", "AP", "BA", "CE", "DF", "ES", "GO", "MA", "MG", "MS", "MT", "PA",
       "PB", "PE", "PI", "PR", "RJ", "RN", "RO", "RR", "RS", "SC", "SE", "SP", "TO"]


class Debtor(Scoped, db.Model):
    __tablename__ = "debtor"
    consultant_path = "consultant_id"
    __table_args__ = (
        UniqueConstraint("agency_id", "document", name="uq_debtor_agency_document"),
        Index("ix_debtor_agency_name", "agency_id", "name"),
        Index("ix_debtor_agency_consultant", "agency_id", "consultant_id"),
        # The list (bench/RESULTS.md): by name within the agency or the consultant's portfolio, with the
        # filtered and searched columns in the index.
        Index("ix_debtor_agency_name_list", "agency_id", "name", "consultant_id", "uf", "document"),
        Index("ix_debtor_agency_consultant_name", "agency_id", "consultant_id", "name", "uf", "document"),
        *sort_indexes("debtor", ["document", "city", "uf"]),
        # SQLite: the few debtors whose name holds a digit (models/search_index.py, DIGIT_INDEXES), so a word with
        # a digit (a CPF pasted in the search) is searched in their names only, not through the full-text index,
        # which shares its digit trigrams with every document.
        Index("ix_debtor_digit_names", "agency_id", sqlite_where=text("name GLOB '*[0-9]*'")).ddl_if(dialect="sqlite"),
        *trigram_indexes("debtor", ["name", "document"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    #: CPF (11 digits) or CNPJ (14 digits), digits only.
    document: Mapped[str] = mapped_column(String(14), info=DOCUMENT)
    name: Mapped[str] = mapped_column(String(FIELD_SIZES["name"]))
    birth_date: Mapped[date | None] = mapped_column(Date)
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(20))
    street: Mapped[str | None] = mapped_column(String(FIELD_SIZES["street"]))
    number: Mapped[str | None] = mapped_column(String(FIELD_SIZES["number"]))
    complement: Mapped[str | None] = mapped_column(String(FIELD_SIZES["complement"]))
    neighbourhood: Mapped[str | None] = mapped_column(String(FIELD_SIZES["neighbourhood"]))
    city: Mapped[str | None] = mapped_column(String(FIELD_SIZES["city"]))
    uf: Mapped[str | None] = mapped_column(String(FIELD_SIZES["uf"]))
    cep: Mapped[str | None] = mapped_column(String(FIELD_SIZES["cep"]), info=CEP)
    consultant_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    agency = relationship("Agency")
    consultant = relationship("User")
    debts = relationship("Debt", back_populates="debtor", order_by="Debt.due_date")

    def __str__(self) -> str:
        return f"{self.name} ({format_document(self.document)})"

    @validates("document")
    def _normalise_document(self, _key, value: str) -> str:
        digits = only_digits(value)
        if not is_valid_document(digits):
            raise ValueError("CPF/CNPJ inválido: confira os dígitos verificadores.")
        return digits

    @validates("cep")
    def _normalise_cep(self, _key, value: str | None) -> str | None:
        return only_digits(value) or None

    @property
    def is_person(self) -> bool:
        return len(self.document or "") == 11

    def age_on(self, day: date) -> int | None:
        """Return the age in whole years on ``day`` when the birth date is known."""
        if not self.birth_date:
            return None
        b = self.birth_date
        return day.year - b.year - ((day.month, day.day) < (b.month, b.day))

    def address_problems(self) -> list[str]:
        """List what keeps the address from being sent to the bureau (pt-BR), empty when complete."""
        problems = []
        labels = {"street": "logradouro", "number": "número", "neighbourhood": "bairro", "city": "cidade",
                  "uf": "UF", "cep": "CEP"}
        for field, label in labels.items():
            if not (getattr(self, field) or "").strip():
                problems.append(f"{label} não informado")
        if self.cep and len(only_digits(self.cep)) != 8:
            problems.append("CEP deve ter 8 dígitos")
        if self.uf and self.uf.upper() not in UFS:
            problems.append("UF inválida")
        street_number = f"{self.street or ''}, {self.number or ''}"
        if self.street and self.number and len(street_number) > FIELD_SIZES["street"]:
            problems.append(f"logradouro + número passam de {FIELD_SIZES['street']} caracteres")
        return problems
