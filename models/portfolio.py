"""Whose portfolio a row is in: the debtor's consultant, copied onto the rows listed through it.

A consultant sees the debts and Serasa records of their own debtors. Asking that through the debtor
(``debtor_id IN (SELECT id FROM debtor WHERE consultant_id = ?)``) makes the database walk the consultant's
debtors row by row for every page, sort and count, which grows with the portfolio. So ``Debt.consultant_id`` and
``Negativation.consultant_id`` hold the debtor's consultant, and the lists read one index
(``agency_id, consultant_id, <sorted column>``). This module keeps the copies true on every ORM write:

- a new or re-assigned debt (or record) takes its debtor's consultant;
- a debtor handed to another consultant (or to nobody) moves its debts and records with it, in the same flush.

Bulk writes outside the ORM (migration 0009's backfill, bench/datagen.py) set the column themselves.
"""

from __future__ import annotations

from sqlalchemy import DDL, Index, event, inspect, select, update
from sqlalchemy.orm import Session


def sort_indexes(table: str, columns, consultant_column: str = "consultant_id",
                 agency_indexed=(), consultant_indexed=()) -> list[Index]:
    """One index per sortable list column, in the administrator's scope (the agency) and the consultant's
    (``agency_indexed`` / ``consultant_indexed``: columns whose ``(agency_id, column)`` /
    ``(agency_id, consultant, column)`` index the table already has, maybe longer)."""
    indexes = []
    for column in columns:
        if column not in agency_indexed:
            indexes.append(Index(f"ix_{table}_sort_{column}", "agency_id", column))
        if column not in consultant_indexed:
            indexes.append(Index(f"ix_{table}_csort_{column}", "agency_id", consultant_column, column))
    return indexes


def _changed(obj, *keys) -> bool:
    state = inspect(obj)
    return any(state.attrs[key].history.has_changes() for key in keys)


def _consultant(obj):
    """A row's consultant before the flush, as (user object or None, id or None): a relationship just set (maybe
    to a user created in this same flush) wins over its stale column."""
    history = inspect(obj).attrs.consultant.history
    if history.has_changes():
        target = history.added[0] if history.added else None
        return target, None
    return None, obj.consultant_id


def _debtor_consultant(session: Session, obj):
    debtor_history = inspect(obj).attrs.debtor.history
    if debtor_history.has_changes() and debtor_history.added and debtor_history.added[0] is not None:
        return _consultant(debtor_history.added[0])
    if obj.debtor_id is None:
        return None, None
    from models.debtor import Debtor

    debtor = session.identity_map.get(inspect(Debtor).identity_key_from_primary_key((obj.debtor_id,)))
    if debtor is not None:
        return _consultant(debtor)
    return None, session.execute(select(Debtor.consultant_id).where(Debtor.id == obj.debtor_id)).scalar()


def _assign(obj, user, user_id) -> None:
    if user is not None:
        obj.consultant = user  # the flush orders the user's INSERT first and copies its id
    else:
        obj.consultant_id = user_id


@event.listens_for(Session, "before_flush")
def _keep_portfolio(session: Session, flush_context, instances) -> None:
    from models.debt import Debt
    from models.debtor import Debtor
    from models.negativation import Negativation

    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, Debt | Negativation) and (obj in session.new or _changed(obj, "debtor_id", "debtor")):
            _assign(obj, *_debtor_consultant(session, obj))
    for obj in session.dirty:
        if isinstance(obj, Debtor) and obj.id is not None and _changed(obj, "consultant_id", "consultant"):
            user, user_id = _consultant(obj)
            consultant_id = user.id if user is not None else user_id
            for model in (Debt, Negativation):
                session.execute(update(model).where(model.debtor_id == obj.id).values(consultant_id=consultant_id)
                                .execution_options(synchronize_session="evaluate"))


def trigram_indexes(table: str, columns) -> list[Index]:
    """PostgreSQL: a ``pg_trgm`` GIN index per searched column, so the lists' contains-search (``ILIKE '%…%'``)
    reads the index instead of the table. SQLite has no such index type: nothing is created there."""
    return [Index(f"ix_{table}_trgm_{column}", column, postgresql_using="gin",
                  postgresql_ops={column: "gin_trgm_ops"}).ddl_if(dialect="postgresql") for column in columns]


def _install_trigram_extension() -> None:
    from models import db

    event.listen(db.metadata, "before_create",
                 DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(dialect="postgresql"))


_install_trigram_extension()


def on_this_database(index, dialect_name: str) -> bool:
    """Whether an index of the models exists on this kind of database (trigram indexes: PostgreSQL only)."""
    condition = getattr(index, "_ddl_if", None)
    return condition is None or condition.dialect in (None, dialect_name)
