"""Jobs: long work done off the web request by queue consumers (services/jobs.py runs them).

A ``Job`` is what people see (kind, who, progress counts, state, summary); ``JobItem`` holds its per-item
results as they arrive (one row per debt of a bulk inclusion, per record of a status sync...), so a job killed
mid-way resumes from what is already committed.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models import db
from models.timeutil import utcnow


class JobState(StrEnum):
    QUEUED = "na_fila"
    RUNNING = "em_andamento"
    DONE = "concluida"
    CANCELLED = "cancelada"
    FAILED = "falhou"


JOB_STATE_LABELS = {
    JobState.QUEUED: "Na fila",
    JobState.RUNNING: "Em andamento",
    JobState.DONE: "Concluída",
    JobState.CANCELLED: "Cancelada",
    JobState.FAILED: "Falhou",
}
#: States of a job that is not over (shown in the navbar notice, resumed after a crash).
ACTIVE_STATES = (JobState.QUEUED, JobState.RUNNING)


class ItemState(StrEnum):
    #: Known, not yet sent anywhere.
    WAITING = "aguardando"
    #: Handed to an external call (SOA): if the process dies now, the outcome is unknown.
    SENDING = "enviando"
    #: Finished (``result`` says how).
    FINISHED = "finalizado"


class Job(db.Model):
    __tablename__ = "job"
    __table_args__ = (
        Index("ix_job_agency_created", "agency_id", "created_at"),
        Index("ix_job_state_created", "state", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    #: None: the system (schedule, CLI).
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    state: Mapped[str] = mapped_column(String(20), default=JobState.QUEUED)
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    #: Set by Cancelar; the job checks it between items and stops sending what has not been sent.
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    #: What the job works on (ids, options), written by whoever starts it.
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    #: What it did (counts, ids of what it produced), for people and for the job page.
    summary: Mapped[dict] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: Refreshed while a consumer runs the job: an old one means the consumer died and the job may be taken over.
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: Held while running work that must never run twice at once (e.g. one agency's status sync): unique.
    lock_key: Mapped[str | None] = mapped_column(String(60), unique=True)
    #: How many times a consumer started (or resumed) it.
    attempts: Mapped[int] = mapped_column(Integer, default=0)

    created_by = relationship("User")
    items = relationship("JobItem", back_populates="job", cascade="all, delete-orphan", order_by="JobItem.seq",
                         lazy="dynamic")

    def __str__(self) -> str:
        return f"Tarefa nº {self.id}"

    @classmethod
    def visible_to(cls, user):
        """Select the jobs ``user`` may see: the agency's for administrators, their own for anyone else."""
        query = select(cls).where(cls.agency_id == user.agency_id)
        if not user.is_admin:
            query = query.where(cls.created_by_id == user.id)
        return query

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def processed(self) -> int:
        return self.done + self.failed

    @property
    def percent(self) -> int:
        if not self.total:
            return 100 if not self.is_active else 0
        return min(100, int(100 * self.processed / self.total))

    @property
    def state_label(self) -> str:
        label = JOB_STATE_LABELS.get(self.state, self.state)
        if self.state == JobState.RUNNING and self.cancel_requested:
            return "Cancelando…"
        return label


class JobItem(db.Model):
    """One item of a job and its result, committed as it arrives."""

    __tablename__ = "job_item"
    __table_args__ = (UniqueConstraint("job_id", "seq"), Index("ix_job_item_job_state", "job_id", "state"),
                      Index("ix_job_item_job_finished", "job_id", "finished_no"), Index("ix_job_item_ref", "ref_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"))
    #: Position in the job (the user's order).
    seq: Mapped[int] = mapped_column(Integer)
    #: What the item is about, e.g. the debt's id.
    key: Mapped[str] = mapped_column(String(64))
    #: Row the item created or worked on (e.g. the negativation's id).
    ref_id: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20), default=ItemState.WAITING)
    #: How it ended, kind-specific ("incluida", "recusada", "falhou", "atualizada"...).
    result: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    #: 1, 2, 3... in the order results arrived (the job page asks for those after the last it has).
    finished_no: Mapped[int | None] = mapped_column(Integer)
    #: Display data (contract, debtor, amount...), so the job page needs no join per item.
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    job = relationship("Job", back_populates="items")
