"""SQLite: a full-text trigram index (FTS5) of the columns the lists search, kept in sync by triggers.

A list's search is "every typed word in some searched column" (``admin_views/flask_admin_compat.py``), a
``LIKE '%word%'`` that no B-tree index can serve: SQLite reads every row in the user's scope, and a search takes
10× longer on 10× data. PostgreSQL answers the same ``ILIKE`` from the ``pg_trgm`` GIN indexes of migration 0009.

On SQLite each searched table has an FTS5 table ``<table>_search`` with the ``trigram`` tokenizer (SQLite ≥ 3.34):
``<table>_search MATCH 'column : "word"'`` finds the rows whose column contains ``word`` (3 characters or more,
case folded) from the index, whatever the table's size. The list asks it for candidates
(``id IN (SELECT rowid FROM <table>_search WHERE … MATCH …)``) and keeps the ``LIKE`` on those candidates, so the
rows found are exactly the ones the ``LIKE`` alone finds.

The lookup of a long word is driven by its rarest trigrams (``driving_expression``): the phrase query reads the
whole list of every trigram, and identifiers share most of theirs (``CT-``, ``000``) with almost every row.

**External content** (``content='<table>'``): the index holds only the trigrams, the text stays in the table once
(a contentless table would also need the old values to delete a row, and could not be rebuilt from the table);
``INSERT INTO <table>_search(<table>_search) VALUES('rebuild')`` rebuilds it from the table. The triggers keep it
true on every write, the app's and any SQL's (``INSERT … SELECT`` included): insert, delete, and an update of a
searched column (delete the old text, insert the new one).

**Identifiers also have a suffix index** (both databases; ``SUFFIX_INDEXES``). A word none of whose trigrams is
rare (``CT-00000001``: ``ct-``, ``000`` and ``001`` are in almost every contract) is found by no trigram index in
time that does not grow with the table. ``<table>_<column>_suffix`` holds every suffix of 3 characters or more of
the column (lower-cased, at most ``SUFFIX_LENGTH`` characters) with the row's agency and id, primary key
``(agency_id, suffix, row_id)``: the rows containing a word are the suffixes that start with it, one range of that
B-tree (``suffix_lookup``). Triggers keep it true (SQLite; PostgreSQL: one PL/pgSQL function per table);
migration 0016 creates it and fills it from the rows already there.

The same DDL runs after ``db.create_all()`` creates the table (tests, ``bench/``, a dev database) and in migration
0012_search_index (``flask db upgrade``), which also fills the index from the rows already there.
**A migration that rebuilds one of these tables** (Alembic's ``batch_alter_table`` on SQLite copies the table and
drops the old one, and its triggers with it) **must create the triggers again** (``create_statements``);
tests/test_migrations.py compares the migrated schema's triggers with the models'.
"""

from __future__ import annotations

import json

from sqlalchemy import DDL, Column, Integer, String, Table, bindparam, event, literal_column, select, table
from sqlalchemy import text as text_query

#: Table → the text columns its lists search (``column_searchable_list``, also through a relationship: the
#: negotiations search the debtor's name and document). tests/test_list_plans.py fails when a list's search is
#: not served by these.
SEARCH_INDEXES: dict[str, tuple[str, ...]] = {
    "meeting": ("subject",),
    "debt": ("contract_number",),
    "debtor": ("name", "document"),
    "negativation": ("document", "contract_number"),
}

#: The trigram tokenizer matches substrings of 3 characters or more; a shorter word keeps the plain LIKE.
MIN_WORD = 3


def fts_table(table: str) -> str:
    return f"{table}_search"


def create_statements(table: str, columns) -> list[str]:
    """The FTS5 table over ``columns`` of ``table`` and the three triggers that keep it in sync (SQLite)."""
    fts = fts_table(table)
    cols = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    insert = f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new});"
    delete = f"INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.id, {old});"
    return [
        f"CREATE VIRTUAL TABLE {fts} USING fts5({cols}, content='{table}', content_rowid='id', "
        f"tokenize='trigram case_sensitive 0', columnsize=0)",
        f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN {insert} END",
        f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN {delete} END",
        f"CREATE TRIGGER {fts}_update AFTER UPDATE OF id, {cols} ON {table} BEGIN {delete} {insert} END",
    ]


def indexable(text: str | None) -> bool:
    """Whether the index can find the rows containing ``text`` (3 characters or more)."""
    return text is not None and len(text) >= MIN_WORD and "\x00" not in text


def phrase(text: str) -> str:
    """``text`` as one FTS5 string: whatever the user typed (quotes, ``*``, ``OR``, ``NEAR(``…) is a literal."""
    return '"' + text.replace('"', '""') + '"'


def match_expression(parts) -> str:
    """The FTS5 query "column A contains text a, or column B contains text b…" of ``parts``: (column, text)."""
    return " OR ".join(f"({column} : {phrase(text)})" for column, text in parts)


def candidates(table_name: str, parts, expression: str | None = None):
    """``SELECT rowid FROM <table>_search WHERE <table>_search MATCH …``: the ids of the rows of ``table_name``
    where some column of ``parts`` contains its text (case folded: a superset of the LIKE's rows); or the rows of
    another ``expression`` of the index."""
    fts = fts_table(table_name)
    return (select(literal_column("rowid")).select_from(table(fts))
            .where(literal_column(fts).op("MATCH")(bindparam(None, expression or match_expression(parts)))))


#: A trigram is probed by reading at most this many of its rows from the index (in id order).
PROBE_ROWS = 64
#: The rarest trigrams of a word that drive its lookup.
DRIVING_TRIGRAMS = 3
#: At most this many of a word's trigrams are probed (spread over the word).
MAX_PROBES = 12


def trigrams(text: str) -> list[str]:
    """The distinct trigrams of ``text`` as the index folds case, in order (at most ``MAX_PROBES``, spread)."""
    found = list(dict.fromkeys(text[i:i + 3].lower() for i in range(len(text) - 2)))
    if len(found) > MAX_PROBES:
        step = len(found) / MAX_PROBES
        found = [found[int(i * step)] for i in range(MAX_PROBES)]
    return found


def driving_expression(session, table_name: str, parts) -> str | None:
    """An FTS5 query for a superset of ``match_expression(parts)``'s rows that the index answers in time that does
    not grow with the table: for each (column, text), the AND of the text's rarest trigrams.

    A phrase query reads the whole list of every trigram of the phrase. In an identifier such as ``CT-00216753``
    most trigrams (``CT-``, ``-00``, ``000``) are in almost every row, so the phrase costs in proportion to the
    table even when it matches one row; the AND of ``216``, ``675`` and ``753`` skips through their short lists
    instead (FTS5 advances an AND by seeking in each list). Rarity is probed: each trigram's first
    ``PROBE_ROWS`` rows (a trigram with fewer is rarer; else the later its ``PROBE_ROWS``-th row id, the sparser).
    The caller keeps the LIKE, which decides. None when the text has at most ``DRIVING_TRIGRAMS`` trigrams (the
    phrase is as good)."""
    fts = fts_table(table_name)
    probe = text_query(f"SELECT rowid FROM {fts} WHERE {fts} MATCH :q LIMIT {PROBE_ROWS}")
    terms = []
    for column, text in parts:
        grams = trigrams(text)
        if len(grams) <= DRIVING_TRIGRAMS:
            return None
        ranked = []
        for gram in grams:
            ids = session.execute(probe, {"q": f"{column} : {phrase(gram)}"}).scalars().all()
            ranked.append(((len(ids) >= PROBE_ROWS, -(ids[-1] if ids else 0) if len(ids) >= PROBE_ROWS
                            else len(ids)), gram))
        rarest = [gram for _, gram in sorted(ranked)[:DRIVING_TRIGRAMS]]
        terms.append("(" + " AND ".join(f"{column} : {phrase(gram)}" for gram in rarest) + ")")
    return " OR ".join(terms)


#: Table → its identifier columns, also indexed by suffix (both databases).
SUFFIX_INDEXES: dict[str, tuple[str, ...]] = {
    "debt": ("contract_number",),
    "negativation": ("contract_number",),
}
#: A suffix is kept to this many characters: a longer word is looked up by its first ones (the LIKE decides).
SUFFIX_LENGTH = 16
#: (table, column) → its suffix table (``_install``).
SUFFIX_TABLES: dict[tuple[str, str], Table] = {}


def suffix_table_name(table_name: str, column: str) -> str:
    return f"{table_name}_{column}_suffix"


def _sqlite_positions(length: int) -> str:
    """Where a suffix of 3 characters or more may start, as a JSON array: up to a text of ``length`` characters, and
    at least 256 (SQLite does not enforce a VARCHAR's length: a longer text written by plain SQL is indexed too)."""
    return json.dumps(list(range(1, max(length, 256) - 1)), separators=(",", ":"))


def suffix_statements(table_name: str, column: str, length: int, dialect: str) -> list[str]:
    """The triggers (PostgreSQL: and their function) that keep ``<table>_<column>_suffix`` true on every write to
    ``table``, the app's and any SQL's: insert, delete, and an update of the id, agency or column (the old
    suffixes deleted, the new ones inserted). ``length``: the column's maximum length."""
    name = suffix_table_name(table_name, column)
    if dialect == "sqlite":  # no generate_series: the start positions as a JSON array (a suffix has >= 3 chars)
        positions = _sqlite_positions(length)

        def rows(ref: str) -> str:
            return (f"SELECT {ref}.agency_id, substr(lower({ref}.{column}), p.value, {SUFFIX_LENGTH}), {ref}.id "
                    f"FROM json_each('{positions}') AS p WHERE p.value <= length({ref}.{column}) - 2")
        insert = f"INSERT OR IGNORE INTO {name} (agency_id, suffix, row_id) {rows('new')};"
        delete = f"DELETE FROM {name} WHERE (agency_id, suffix, row_id) IN ({rows('old')});"
        return [
            f"CREATE TRIGGER {name}_insert AFTER INSERT ON {table_name} BEGIN {insert} END",
            f"CREATE TRIGGER {name}_delete AFTER DELETE ON {table_name} BEGIN {delete} END",
            f"CREATE TRIGGER {name}_update AFTER UPDATE OF id, agency_id, {column} ON {table_name} "
            f"BEGIN {delete} {insert} END",
        ]

    def pg_rows(ref: str) -> str:
        return (f'SELECT {ref}.agency_id, substr(lower({ref}.{column}), p, {SUFFIX_LENGTH}) COLLATE "C", {ref}.id '
                f"FROM generate_series(1, length({ref}.{column}) - 2) AS p")
    return [
        f"CREATE OR REPLACE FUNCTION {name}_sync() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF TG_OP <> 'INSERT' THEN DELETE FROM {name} WHERE (agency_id, suffix, row_id) IN ({pg_rows('OLD')}); "
        f"END IF; "
        f"IF TG_OP <> 'DELETE' THEN INSERT INTO {name} (agency_id, suffix, row_id) {pg_rows('NEW')} "
        f"ON CONFLICT DO NOTHING; END IF; "
        f"RETURN NULL; END $$",
        f"CREATE TRIGGER {name}_sync AFTER INSERT OR DELETE OR UPDATE OF id, agency_id, {column} ON {table_name} "
        f"FOR EACH ROW EXECUTE FUNCTION {name}_sync()",
    ]


def suffix_indexed(field) -> bool:
    """Whether ``field`` (a column) has a suffix index."""
    table_name = getattr(getattr(field, "table", None), "name", None)
    return getattr(field, "name", None) in SUFFIX_INDEXES.get(table_name, ())


def suffix_lookup(field, agency_id: int, text: str | None):
    """``SELECT row_id FROM <table>_<column>_suffix WHERE agency_id = … AND suffix in [text, text⁺)``: the ids of
    the agency's rows whose ``field`` contains ``text`` (ASCII case folded: a superset of the LIKE's rows, exact
    up to ``SUFFIX_LENGTH`` characters), from one range of the B-tree; or None when it cannot serve the text (not
    indexed, shorter than 3 characters, or not ASCII: the databases fold other letters differently)."""
    if not suffix_indexed(field) or text is None or len(text) < MIN_WORD or not text.isascii() or "\x00" in text:
        return None
    suffixes = SUFFIX_TABLES[(field.table.name, field.name)]
    low = text.lower()[:SUFFIX_LENGTH]
    high = low[:-1] + chr(ord(low[-1]) + 1)  # the first text after every one that starts with ``low``
    return (select(suffixes.c.row_id)
            .where(suffixes.c.agency_id == agency_id, suffixes.c.suffix >= low, suffixes.c.suffix < high))


#: SQLite: table → a searched column that rarely holds a digit, with a partial index of the agency's rows where it
#: does (``ix_<table>_digit_<column>s``, ``WHERE <column> GLOB '*[0-9]*'``). The full-text index of debtors holds
#: their names and documents together, so the digit trigrams of a CPF pasted in the search are in every document's
#: list: looking for it in the names read lists that grow with the table. A word with a digit is in a name only if
#: the name has a digit: those few rows are the candidates (PostgreSQL's trigram indexes are per column).
DIGIT_INDEXES: dict[str, str] = {"debtor": "name"}
DIGITS = frozenset("0123456789")


def digit_lookup(field, agency_id: int, text: str | None):
    """SQLite: ``SELECT id FROM <table> WHERE agency_id = … AND <column> GLOB '*[0-9]*'`` (its partial index): the
    agency's rows whose ``field`` holds a digit, a superset of those that contain ``text`` when ``text`` has one;
    None otherwise. (The GLOB is written out: SQLite uses a partial index only for the same literal condition.)"""
    table_name = getattr(getattr(field, "table", None), "name", None)
    if DIGIT_INDEXES.get(table_name) != getattr(field, "name", None) or not text or DIGITS.isdisjoint(text):
        return None
    # INDEXED BY: without statistics SQLite would rather walk a covering index of the agency's rows
    return (select(field.table.c.id)
            .where(field.table.c.agency_id == agency_id, text_query(f"{table_name}.{field.name} GLOB '*[0-9]*'"))
            .with_hint(field.table, f"INDEXED BY ix_{table_name}_digit_{field.name}s", "sqlite"))


def is_search_table(name: str) -> bool:
    """Whether a table of the database is one of these FTS5 tables or their shadow tables (``_data``, ``_idx``…),
    which the models do not describe (for schema comparisons)."""
    return any(name == fts_table(t) or name.startswith(fts_table(t) + "_") for t in SEARCH_INDEXES)


def _sqlite_table_hints() -> None:
    """Let SQLite render a table hint given with ``with_hint(table, "NOT INDEXED", "sqlite")`` (SQLAlchemy's SQLite
    compiler drops every table hint: ``get_from_hint_text`` returns None). Only the lists' search gives one."""
    from sqlalchemy.dialects.sqlite.base import SQLiteCompiler

    def get_from_hint_text(self, table, text):
        return text

    SQLiteCompiler.get_from_hint_text = get_from_hint_text


def _install() -> None:
    from models import db

    for table_name, columns in SEARCH_INDEXES.items():
        table = db.metadata.tables[table_name]
        for statement in create_statements(table_name, columns):
            event.listen(table, "after_create", DDL(statement).execute_if(dialect="sqlite"))
        event.listen(table, "before_drop",
                     DDL(f"DROP TABLE IF EXISTS {fts_table(table_name)}").execute_if(dialect="sqlite"))
    for table_name, columns in SUFFIX_INDEXES.items():
        table = db.metadata.tables[table_name]
        for column in columns:
            name = suffix_table_name(table_name, column)
            suffixes = Table(
                name, db.metadata,
                Column("agency_id", Integer, primary_key=True, autoincrement=False),
                # PostgreSQL: byte order ("C"), so that a prefix is one range whatever the database's collation
                Column("suffix", String(SUFFIX_LENGTH).with_variant(String(SUFFIX_LENGTH, collation="C"),
                                                                    "postgresql"), primary_key=True),
                Column("row_id", Integer, primary_key=True, autoincrement=False),
                sqlite_with_rowid=False,
            )
            suffixes.add_is_dependent_on(table)
            SUFFIX_TABLES[(table_name, column)] = suffixes
            length = table.c[column].type.length
            for dialect in ("sqlite", "postgresql"):
                for statement in suffix_statements(table_name, column, length, dialect):
                    event.listen(suffixes, "after_create", DDL(statement).execute_if(dialect=dialect))
            event.listen(suffixes, "before_drop", DDL(f"DROP TRIGGER IF EXISTS {name}_sync ON {table_name}")
                         .execute_if(dialect="postgresql"))
            for trigger in ("insert", "delete", "update"):
                event.listen(suffixes, "before_drop", DDL(f"DROP TRIGGER IF EXISTS {name}_{trigger}")
                             .execute_if(dialect="sqlite"))


_install()
_sqlite_table_hints()
