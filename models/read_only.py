"""Requests that only read: no transaction on PostgreSQL, and a write among them fails loudly.

A list page is four reads (the session's user, the page's ids with the total, the rows, the clock's count). In a
transaction, psycopg adds a round trip before them (``BEGIN``) and the session's end another (``ROLLBACK``): two of
seven, about a tenth of the page on PostgreSQL. Under PostgreSQL's READ COMMITTED each statement already sees its own
snapshot, so running them in autocommit changes nothing of what the page shows.

A request marked read-only (``read_only(session)``, before its first statement) runs so; any write it would then
attempt (an ORM flush with changes, an ``INSERT``/``UPDATE``/``DELETE`` through the session, a textual statement
that is not a read) raises ``ReadOnlyRequestWrite`` instead of being committed statement by statement. SQLite keeps
its usual connection (its driver opens no transaction for reads), and the same guard. The mark ends with the request
(``end_read_only``, a teardown): the session is closed, its connection back in the pool with its transactions.
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause

#: ``Session.info`` key of a read-only session (the scoped session lives as long as its request).
READ_ONLY = "panel_read_only"


class ReadOnlyRequestWrite(RuntimeError):
    """A request declared read-only tried to write."""

    def __init__(self) -> None:
        super().__init__("uma página só de leitura tentou gravar no banco")


def read_only(session: Session) -> None:
    """Mark ``session`` read-only for the rest of its life; on PostgreSQL, run it without a transaction.

    Called before the session's first statement: a session already in a transaction keeps it (and is still
    guarded)."""
    session.info[READ_ONLY] = True
    if not session.in_transaction() and session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def end_read_only(_exc=None) -> None:
    """Teardown of every request: a read-only session ends with its request, even when the application context
    outlives it (a request made inside a caller's ``app.app_context()``)."""
    from models import db

    if not db.session.registry.has():  # this request opened no session
        return
    session = db.session()
    if session.info.pop(READ_ONLY, None):
        session.close()


@event.listens_for(Session, "before_flush")
def _no_flush(session, _flush_context, _instances) -> None:
    if session.info.get(READ_ONLY) and (session.new or session.deleted
                                        or any(session.is_modified(obj) for obj in session.dirty)):
        raise ReadOnlyRequestWrite


#: The first word of a textual statement that only reads.
READING_TEXT = frozenset({"SELECT", "WITH", "EXPLAIN", "SHOW", "VALUES", "TABLE"})


def _writes(state) -> bool:
    if state.is_insert or state.is_update or state.is_delete:
        return True
    if isinstance(state.statement, TextClause):  # sql_text("…"): its first word says
        words = state.statement.text.split(None, 1)
        return not words or words[0].upper() not in READING_TEXT
    return False


@event.listens_for(Session, "do_orm_execute")
def _no_dml(state) -> None:
    if state.session.info.get(READ_ONLY) and _writes(state):
        raise ReadOnlyRequestWrite
