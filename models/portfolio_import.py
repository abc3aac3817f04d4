"""Portfolio imports (importação de carteira): a creditor's spreadsheet of debtors and debts brought in.

The uploaded file itself lives under the instance folder (``PortfolioImport.stored_name``), never in the database;
the database keeps what the import decided: the column mapping, the counts, and each line that was refused or
imported with a warning (with the file's line number and the reason in pt-BR), plus the creditor's debts that a
re-sent file no longer lists (reported, never deleted).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models import db
from models.timeutil import utcnow


class ImportStatus(StrEnum):
    UPLOADED = "enviado"
    RUNNING = "importando"
    DONE = "concluido"
    FAILED = "falhou"
    CANCELLED = "cancelado"


IMPORT_STATUS_LABELS = {
    ImportStatus.UPLOADED: "Aguardando conferência",
    ImportStatus.RUNNING: "Importando",
    ImportStatus.DONE: "Concluída",
    ImportStatus.FAILED: "Falhou",
    ImportStatus.CANCELLED: "Cancelada",
}


class ProblemLevel(StrEnum):
    REFUSED = "recusada"
    WARNING = "aviso"
    MISSING = "ausente"


class CreditorImportMapping(db.Model):
    """The column mapping last used for a creditor's files: field → the header's normalised text."""

    __tablename__ = "creditor_import_mapping"

    creditor_id: Mapped[int] = mapped_column(ForeignKey("creditor.id", ondelete="CASCADE"), primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    mapping: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class PortfolioImport(db.Model):
    __tablename__ = "portfolio_import"
    __table_args__ = (Index("ix_portfolio_import_agency_created", "agency_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    creditor_id: Mapped[int] = mapped_column(ForeignKey("creditor.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: The name the file had on the user's computer (shown only), and the stored file's name under instance/.
    filename: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(80))
    size: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default=ImportStatus.UPLOADED)
    #: field → column index in the file (0-based), as confirmed on the mapping screen.
    mapping: Mapped[dict] = mapped_column(JSON, default=dict)
    #: "coluna" (the file's consultant column), "rodizio" (round-robin among ``consultant_ids``) or "nenhum".
    consultant_mode: Mapped[str] = mapped_column(String(10), default="nenhum")
    consultant_ids: Mapped[list] = mapped_column(JSON, default=list)
    #: The Conferência (whole-file validation, a job): counts, first lines as stored, problems; None until done.
    preview: Mapped[dict | None] = mapped_column(JSON)
    #: Background job running the import (the job layer's id), when started.
    job_id: Mapped[int | None] = mapped_column(Integer)
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    warnings: Mapped[int] = mapped_column(Integer, default=0)
    debtors_created: Mapped[int] = mapped_column(Integer, default=0)
    debtors_updated: Mapped[int] = mapped_column(Integer, default=0)
    missing: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)

    creditor = relationship("Creditor")
    user = relationship("User")

    def __str__(self) -> str:
        return f"Importação nº {self.id}"

    @property
    def status_label(self) -> str:
        return IMPORT_STATUS_LABELS.get(self.status, self.status)

    @property
    def percent(self) -> int:
        if self.status == ImportStatus.DONE:
            return 100
        return int(100 * self.rows_done / self.rows_total) if self.rows_total else 0


class ImportProblem(db.Model):
    """One line of the file refused or imported with a warning, or one debt missing from a re-sent file."""

    __tablename__ = "portfolio_import_problem"
    __table_args__ = (Index("ix_portfolio_import_problem_import_level", "import_id", "level", "line"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("portfolio_import.id", ondelete="CASCADE"))
    level: Mapped[str] = mapped_column(String(10))
    #: The file's line number (1 = the header), 0 for a missing debt.
    line: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str] = mapped_column(Text)
    #: The line's cells as read (refused lines are downloaded with them), or the missing debt's contract.
    cells: Mapped[list] = mapped_column(JSON, default=list)
