"""The database's plan of every list query: each screen × role × default order, each sortable column, the search and
every filter — none reads a big table without an index, and a sorted page takes its order from an index.

SQLite: ``EXPLAIN QUERY PLAN`` must not say ``SCAN <big table>`` without an index, and an unfiltered sorted page
must not ``USE TEMP B-TREE FOR ORDER BY`` (sorting the whole table for 20 rows); a search reads the full-text
index (``SCAN <table>_search VIRTUAL TABLE INDEX 0:M…``, once per word) and then the table by the ids (or foreign
keys) found there, never the user's whole scope through an ``agency_id`` index. PostgreSQL: ``EXPLAIN`` with
``enable_seqscan = off`` (so a ``Seq Scan`` means that no index can serve the query at all, whatever the table's
size in the test), and with ``enable_sort = off`` an unfiltered sorted page must have no ``Sort`` node (one means
that no index gives that order).
"""

import re
from contextlib import contextmanager

import pytest
from flask_login import login_user
from sqlalchemy import event, select

from models import Agency, User, db
from tests.conftest import ON_POSTGRES

#: The tables that grow with an agency's portfolio (bench/RESULTS.md).
BIG_TABLES = {"meeting", "debt", "debtor", "negotiation", "negativation"}
SEARCH = "Silva 123.456"
FILTER_CANDIDATES = ("1", "01/01/2026", "01/01/2026 até 31/01/2026", "01/01/2026 00:00 até 31/01/2026 23:59",
                     "01/01/2026 00:00", "abc")


def _filter_value(flt):
    options = flt.get_options(None) if hasattr(flt, "get_options") else None
    if callable(getattr(flt, "options", None)):
        options = flt.options()
    candidates = [str(o[0]) for o in (options or flt.options or [])][:1] + list(FILTER_CANDIDATES)
    for value in candidates:
        try:
            if flt.validate(value):
                flt.clean(value)
                return value
        except (ValueError, TypeError):
            continue
    return None


def _variants(view):
    yield "padrão", None, False, None, None
    for column, _ in view._list_columns:
        if column in view._sortable_columns:
            yield f"ordem {column}", column, False, None, None
            yield f"ordem {column} desc", column, True, None, None
    if view._search_supported:
        yield "busca", None, False, SEARCH, None
    for index, flt in enumerate(view._filters or []):
        value = _filter_value(flt)
        if value is not None:
            yield f"filtro {flt.name} {flt.operation()}", None, False, None, [(index, flt.name, value)]


def _plan(statement) -> list[str]:
    compiled = statement.compile(dialect=db.engine.dialect, compile_kwargs={"render_postcompile": True})
    connection = db.session.connection()
    if ON_POSTGRES:
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        connection.exec_driver_sql("SET LOCAL enable_sort = off")
        rows = connection.exec_driver_sql("EXPLAIN " + compiled.string, compiled.params).all()
        return [r[0] for r in rows]
    params = tuple(compiled.params[k] for k in compiled.positiontup)
    rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + compiled.string, params).all()
    return [r[-1] for r in rows]


def _problems(plan: list[str], sorted_page: bool, searched_table: str | None = None) -> list[str]:
    found = []
    if searched_table and not ON_POSTGRES:
        if not any(re.match(rf"SEARCH {searched_table} USING (INTEGER PRIMARY KEY|INDEX \w+ \(debtor_id=\?\))",
                            line.strip()) for line in plan):
            found.append("search not read by the ids the index found: " + " | ".join(plan))
        for line in plan:
            if re.match(rf"SEARCH {searched_table} USING (COVERING )?INDEX \w+ \((agency_id|owner_id|consultant_id)=",
                        line.strip()):
                found.append(f"search walks the scope: {line.strip()}")
    for line in plan:
        if ON_POSTGRES:
            scan = re.search(r"Seq Scan on (\w+)", line)
            if scan and scan.group(1) in BIG_TABLES:
                found.append(line.strip())
            if sorted_page and re.search(r"\bSort\b", line) and "Sort Key" not in line:
                found.append(line.strip())
        else:
            scan = re.match(r"SCAN (\w+?)(?:_\d+)?(?: AS \w+)?$", line.strip())
            if scan and scan.group(1) in BIG_TABLES:
                found.append(line.strip())
            if sorted_page and "USE TEMP B-TREE FOR ORDER BY" in line:
                found.append(line.strip())
    return found


@contextmanager
def _executed():
    """The statements (and parameters) sent while building a list's queries: the search's index lookups."""
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


#: SQLite: how each kind of search lookup must read its index.
INDEX_READS = {
    "_search MATCH": r"SCAN \w+_search VIRTUAL TABLE INDEX 0:M",  # a full-text table, by its trigram index
    "_suffix": r"SEARCH \w+_suffix USING PRIMARY KEY \(agency_id=\? AND suffix>\? AND suffix<\?\)",  # one range
    "GLOB": r"SEARCH debtor USING (COVERING )?INDEX ix_debtor_digit_names \(agency_id=\?\)",  # the partial index
}


def _index_problems(lookups) -> list[str]:
    """SQLite: each searched word was read from an index: a full-text table by its trigram index (``INDEX 0:M``), a
    contract number's suffixes by one range of their primary key, the names that hold a digit by their partial
    index."""
    reads = [(sql, params, pattern) for sql, params in lookups for marker, pattern in INDEX_READS.items()
             if marker in sql]
    if not reads:
        return ["no index lookup"]
    connection = db.session.connection()
    problems = []
    for sql, params, pattern in reads:
        plan = [r[-1] for r in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all()]
        if not any(re.match(pattern, line) for line in plan):
            problems.append(" | ".join(plan))
    return problems


@pytest.mark.parametrize("role", ["admin_a", "cons_a1"])
def test_no_list_query_reads_a_big_table_without_an_index(app, world, role):
    failures, checked = [], 0
    with app.app_context():
        agency = db.session.get(Agency, world.a.id)
        agency.serasa_enabled = True
        db.session.commit()
        user = db.session.scalars(select(User).where(User.id == getattr(world, role).id)).one()
        for view in app.extensions["admin"][0]._views:
            if not hasattr(view, "_list_queries") or view.model.__tablename__ not in BIG_TABLES:
                continue
            with app.test_request_context(f"/admin/{view.endpoint}/"):
                login_user(user)
                if not view.is_accessible():
                    continue
                for name, column, desc, search, filters in _variants(view):
                    with _executed() as lookups:
                        query, count_query = view._list_queries(column, desc, search, filters)
                    if search and not ON_POSTGRES:
                        checked += 1
                        failures += [f"{view.endpoint} [{role}] {name} (índice): {p}" for p in _index_problems(lookups)]
                    page = query.with_entities(view.model.id).limit(view.page_size).offset(0)
                    sorted_page = search is None and filters is None
                    for kind, statement in (("página", page.statement), ("total", count_query.statement)):
                        problems = _problems(_plan(statement), sorted_page and kind == "página",
                                             view.model.__tablename__ if search else None)
                        checked += 1
                        if problems:
                            failures.append(f"{view.endpoint} [{role}] {name} ({kind}): {problems}")
                db.session.rollback()
    assert checked > 100
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("role", ["admin_a", "cons_a1"])
def test_a_meetings_page_in_the_default_order_walks_a_covering_index(app, world, role):
    """SQLite: the meetings' default order (upcoming first, then the past: ``upcoming_first_page``) walks an index
    that holds the scope, ``starts_at`` and, after it, the id (``SEARCH meeting USING COVERING INDEX``), so skipping
    10.000 rows for a deep page reads 10.000 index entries, not 10.000 rows spread over the file. The consultant's
    walk used ``(owner_id, starts_at)`` and fetched each row for its agency until migration 0014 (the deepest page
    cost 1,7× from 1× to 10×, bench/RESULTS.md). PostgreSQL: no sequential scan (its indexes hold no row id: the id
    is in the index since migration 0014, for index-only walks on a vacuumed table)."""
    with app.app_context():
        user = db.session.get(User, getattr(world, role).id)
        view = next(v for v in app.extensions["admin"][0]._views if getattr(v, "endpoint", None) == "meeting")
        with app.test_request_context("/admin/meeting/"):
            login_user(user)
            query, _ = view._list_queries(None, False, None, None)
            plan = _plan(view._apply_pagination(query, 499, None).statement)
    if ON_POSTGRES:  # whether it walks index-only depends on the visibility map: measured in bench/, not here
        assert not [line for line in plan if "Seq Scan on meeting" in line], plan
        return
    walks = [line.strip() for line in plan if line.strip().startswith("SEARCH meeting USING")
             and "INTEGER PRIMARY KEY" not in line]
    assert len(walks) == 2 and all("COVERING INDEX" in line for line in walks), plan


@pytest.mark.parametrize("typed", ["796.668.098-34", "79666809834"])
def test_a_negotiations_search_by_cpf_compares_the_debtors_document_within_the_agency(app, world, typed):
    """*Negociações* searched by a whole CPF (with or without punctuation): the debtor's document is compared within
    the agency (``debtor.agency_id = … AND debtor.document = …``), which the ``(agency_id, document)`` index serves on
    both databases; on PostgreSQL the bare ``document =`` was answered by the document's trigram index, which reads
    the lists of every trigram of the digits (1,7–2,1× from 1× to 10× data, bench/RESULTS.md). (On this test's few
    rows the planners walk the negotiations instead: the SQL is checked, the cost is measured in bench/.)"""
    with app.app_context():
        user = db.session.get(User, world.admin_a.id)
        view = next(v for v in app.extensions["admin"][0]._views if getattr(v, "endpoint", None) == "negotiation")
        with app.test_request_context("/admin/negotiation/"):
            login_user(user)
            query, count_query = view._list_queries(None, False, typed, None)
            for statement in (query.statement, count_query.statement):
                sql = str(statement.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}))
                assert re.search(rf"debtor_1\.agency_id = {world.a.id} AND debtor_1\.document = '79666809834'", sql), sql
