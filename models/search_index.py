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

The same DDL runs after ``db.create_all()`` creates the table (tests, ``bench/``, a dev database) and in migration
0012_search_index (``flask db upgrade``), which also fills the index from the rows already there.
**A migration that rebuilds one of these tables** (Alembic's ``batch_alter_table`` on SQLite copies the table and
drops the old one, and its triggers with it) **must create the triggers again** (``create_statements``);
tests/test_migrations.py compares the migrated schema's triggers with the models'.
"""

from __future__ import annotations

from sqlalchemy import DDL, bindparam, event, literal_column, select, table
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


_install()
_sqlite_table_hints()
