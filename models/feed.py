"""A user's private calendar feed (ICS subscription): only a hash of its secret token is stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models import db
from models.labelled import LabelledEnum
from models.timeutil import utcnow

#: Bytes of randomness of a feed token (secrets.token_urlsafe: 43 URL-safe characters for 32 bytes).
TOKEN_BYTES = 32


class FeedScope(LabelledEnum):
    MINE = "mine", "Só as minhas reuniões"
    ALL = "all", "Todas as reuniões da assessoria"


FEED_SCOPE_LABELS = FeedScope.labels()


def hash_token(token: str) -> str:
    """SHA-256 of the token: what the database keeps (a leaked table does not give working URLs)."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


class CalendarFeed(db.Model):
    """One per user at most; deleting the row revokes the URL."""

    __tablename__ = "calendar_feed"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), unique=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(10), default=FeedScope.MINE)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)

    user = relationship("User")

    def new_token(self) -> str:
        """Replace the secret with a fresh one and return it (shown once; only its hash is kept)."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        self.token_hash = hash_token(token)
        self.created_at = utcnow()
        self.last_used_at = None
        return token

    def effective_scope(self) -> str:
        """Consultants only ever get their own meetings, whatever is stored."""
        from models.agency import Capability

        return self.scope if self.user.can(Capability.SEE_ALL_PORTFOLIOS) and self.scope == FeedScope.ALL \
            else FeedScope.MINE
