"""Data model of the panel: one module per aggregate, all sharing ``db``."""

import sqlite3

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


@event.listens_for(Engine, "connect")
def _sqlite_wal(dbapi_connection, _record) -> None:
    """SQLite files in WAL mode: a long read (an export job streaming a million rows) never blocks the writers
    (requests, job heartbeats and progress) for its whole duration, as the default rollback journal does."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")  # an in-memory database answers "memory" and stays as it is
        except sqlite3.OperationalError:  # another connection holds a lock right now: the next connection sets it
            pass
        finally:
            cursor.close()

from models.agency import Agency, Role, SoaEnvironment, User  # noqa: E402
from models.audit import AuditLog, SoaCall  # noqa: E402
from models.creditor import Creditor  # noqa: E402
from models.debt import Debt, DebtStatus, Negotiation, NegotiationStatus  # noqa: E402
from models.debtor import Debtor  # noqa: E402
from models.documents import format_document, is_valid_cnpj, is_valid_cpf, only_digits  # noqa: E402
from models.feed import CalendarFeed  # noqa: E402
from models.job import Job, JobItem, JobState  # noqa: E402
from models.meeting import Meeting, MeetingEmail, MeetingEmailRecipient, MeetingStatus  # noqa: E402
from models.negativation import Negativation, NegativationBatch, NegativationEvent, NegativationStatus  # noqa: E402
from models.portfolio_import import CreditorImportMapping, ImportProblem, PortfolioImport  # noqa: E402
from models.timeutil import utcnow  # noqa: E402

__all__ = [
    "db", "Base", "SoaCall", "Agency", "User", "Role", "SoaEnvironment", "AuditLog", "Creditor", "Debtor", "Debt",
    "DebtStatus", "Negotiation", "NegotiationStatus", "Meeting", "MeetingEmail", "MeetingEmailRecipient",
    "MeetingStatus", "Negativation", "NegativationBatch", "NegativationEvent", "NegativationStatus",
    "Job", "JobItem", "JobState", "format_document", "is_valid_cpf", "is_valid_cnpj", "only_digits", "utcnow",
    "CalendarFeed", "PortfolioImport", "ImportProblem", "CreditorImportMapping",
]

# portfolio keeps the consultant copied onto debts and records; search_index: SQLite's full-text search tables;
# read_only: the guard of the requests that only read
from models import portfolio, read_only, search_index  # noqa: E402,F401
