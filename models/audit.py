"""Append-only audit trail: who did what, when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models import db
from models.scope import Scoped
from models.timeutil import utcnow


class AuditLog(Scoped, db.Model):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_agency_created", "agency_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: Machine name of the action, e.g. "login", "profile.update", "meeting.invite".
    action: Mapped[str] = mapped_column(String(60), index=True)
    target: Mapped[str | None] = mapped_column(String(120))
    details: Mapped[str | None] = mapped_column(Text)
    ip: Mapped[str | None] = mapped_column(String(45))

    user = relationship("User")

    def __str__(self) -> str:
        return f"{self.action} {self.target or ''}".strip()

    @classmethod
    def record(cls, action: str, *, agency_id=None, user_id=None, target=None, details=None, ip=None) -> AuditLog:
        """Add an entry to the session (the caller commits)."""
        entry = cls(action=action, agency_id=agency_id, user_id=user_id, target=target, details=details, ip=ip)
        db.session.add(entry)
        return entry


class SoaCall(Scoped, db.Model):
    """One HTTP call to SOA WebServices, with the password masked: the integration's audit trail."""

    __tablename__ = "soa_call"
    __table_args__ = (Index("ix_soa_call_agency_created", "agency_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    operation: Mapped[str] = mapped_column(String(40))
    url: Mapped[str] = mapped_column(String(300))
    request_body: Mapped[str | None] = mapped_column(Text)
    http_status: Mapped[int | None] = mapped_column()
    response_body: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[int | None] = mapped_column()
    result: Mapped[str] = mapped_column(String(40))
    attempt: Mapped[int] = mapped_column(default=1)

    user = relationship("User")

    def __str__(self) -> str:
        return f"{self.operation}: {self.result}"
