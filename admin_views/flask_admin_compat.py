"""Every override of Flask-Admin internals, in one place, written against one upstream version.

**Mirrors Flask-Admin ``FLASK_ADMIN_VERSION`` (``flask_admin/contrib/sqla/view.py`` and ``flask_admin/model/base.py``
of that release).** The methods below replace or call private API of ``flask_admin.contrib.sqla.ModelView``
(``get_list``, ``_apply_search``, ``_apply_path_joins``, ``_apply_filters``, ``_apply_sorting``,
``_apply_pagination``, ``_get_list_extra_args``, ``_get_column_by_idx``, ``_export_columns``, ``_search_fields``,
``_auto_joins``, ``render``'s ``form_opts``). ``tests/test_scale.py`` fails as soon as the installed
Flask-Admin is another version: upgrading is then a deliberate act — diff upstream's versions of these methods
between the two releases, port what changed here, and bump ``FLASK_ADMIN_VERSION``.

Why each override exists:

- **The list at scale** (``get_list``, see bench/RESULTS.md): the page is found by ids first
  (``SELECT id … ORDER BY … LIMIT``), answered by the list indexes of ``models/`` from the index alone, then the
  page's rows are loaded by id with their related rows; the total is a capped count
  (``SELECT count(*) FROM (SELECT 1 … LIMIT n)``, a subquery of the ids query: one round trip, which the database
  runs once; a query of its own only when the page has no rows), exact up to ``COUNT_CAP`` rows past the page, "10.000+"
  beyond; the page number is capped so that no list reads more than ``MAX_LIST_OFFSET`` rows to skip them. A
  search whose count would read every match (SQLite: a word too common for the full-text index;
  PostgreSQL: any contains-search, whose trigram index returns all matches before a count can stop) shows no
  total unless its first page holds all of it (``g.panel_list_uncounted``: Flask-Admin's simple pager), since
  that count grew with the table.
- **Search** (``_apply_search``): every word in any searched column like upstream, documents compared as digits,
  and a predicate the indexes can serve (SQLite: the FTS5 trigram index of models/search_index.py finds the
  candidates, then ``LIKE`` instead of ``lower(CAST(…)) LIKE``; PostgreSQL: ILIKE, served by the ``pg_trgm``
  indexes of migration 0009). SQLAlchemy's SQLite compiler drops table hints; models/search_index.py lets it
  render the ``NOT INDEXED`` / ``INDEXED BY`` the search gives.
- **Exports** (``export_query``): the list's query (scope, search, filters, sort) streamed in batches, instead of
  upstream's ``get_list(page_size=export_max_rows)`` that loads every row in memory.
- **Forms** (``render``): a copy of the widget arguments per render (upstream's macro mutates them).
- **Form fields** (``PanelModelConverter`` over ``AdminModelConverter._model_select_field``/``_nullable_common``;
  the select fields over ``QuerySelectField``/``AjaxSelectField`` internals ``_formdata``, ``_invalid_formdata``,
  ``__None``): pt-BR inputs by column, and an id the picker would not offer is refused, not saved as "none".
- **Filters** (``PanelFilterConverter``: the class of each upstream filter swapped for a pt-BR mixin): dates as
  typed in Brazil, documents with or without punctuation.

Also mirroring that release, outside Python: the template copies ``templates/admin/model/row_actions.html``,
``templates/admin/model/layout.html`` and ``templates/admin/actions.html`` (bootstrap4, without inline JavaScript),
and ``admin_views.base.ScopedAjaxLoader`` (``QueryAjaxModelLoader._cached_fields``).
"""

from __future__ import annotations

import copy
import functools
import json
from collections import OrderedDict
from datetime import date, datetime
from operator import attrgetter
from urllib.parse import quote_plus

from flask import flash, g
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla import filters as sqla_filters
from flask_admin.contrib.sqla.fields import QuerySelectField
from flask_admin.contrib.sqla.form import AdminModelConverter
from flask_admin.form import FormOpts
from flask_admin.model import filters as base_filters
from flask_admin.model.fields import AjaxSelectField, AjaxSelectMultipleField
from flask_admin.tools import rec_getattr
from flask_babel import get_locale
from flask_login import current_user
from sqlalchemy import Unicode, and_, bindparam, cast, false, func, literal_column, or_, select
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.types import Date, DateTime, Numeric, String
from werkzeug.datastructures import iter_multi_items
from wtforms.validators import ValidationError

from admin_views.fields import FORMATTED_FIELDS, BrDateField, LocalDateTimeField, MoneyField
from admin_views.formatting import user_timezone
from admin_views.page_cache import fixed_url, page_gettext
from models.documents import document_term
from models.timeutil import to_utc

#: The Flask-Admin release whose private API this module mirrors (see the module's docstring).
FLASK_ADMIN_VERSION = "2.2.1"

#: The list's total counts at most this many rows past the current page; beyond it the pager says "10.000+".
COUNT_CAP = 10_000

#: No list page skips more rows than this (page 500 at 20 per page): a deeper page costs a walk over every
#: skipped row, which grows with the table. Search, filters or the export reach the rest.
MAX_LIST_OFFSET = 10_000

#: Rows fetched per round trip while an export streams (and per query of what their formatters read: well
#: under any database's parameter limit).
EXPORT_BATCH = 500


#: What url_for leaves unquoted in the arguments it appends to a URL (werkzeug.urls._urlencode).
_URL_SAFE = "!$'()*,/:;?@"


@functools.lru_cache(maxsize=256)
def _quoted_key(key) -> str:
    return quote_plus(str(key), safe=_URL_SAFE)


def _query_string(items) -> str:
    """``urlencode(items, safe=_URL_SAFE)`` without the ``None`` values, as url_for appends them: a list page writes a
    score of them (each column's sort, the pager, the page sizes), whose names repeat and values are mostly numbers."""
    parts = []
    for key, value in items:
        if value is None:
            continue
        text = str(value) if type(value) is int else quote_plus(str(value), safe=_URL_SAFE)
        parts.append(f"{_quoted_key(key)}={text}")
    return "&".join(parts)


class RowCount(int):
    """A list total, maybe a lower bound: shown as 1.234 (pt-BR), or 10.000+ when the count stopped at the cap."""

    capped: bool = False

    def __new__(cls, value: int, capped: bool = False):
        count = super().__new__(cls, value)
        count.capped = capped
        return count

    def __str__(self) -> str:
        return f"{int(self):,}".replace(",", ".") + ("+" if self.capped else "")


def column_input(column) -> str | None:
    """What a column declares it holds (``info={"input": "document"}``, see models/documents.py), or None."""
    columns = getattr(getattr(column, "property", None), "columns", None)  # a mapped attribute: its column
    if columns:
        column = columns[0]
    return (getattr(column, "info", None) or {}).get("input")



# --- form fields by column: pt-BR inputs for every screen, new ones included -------------------------------


INVALID_CHOICE = "Escolha uma opção válida da lista."


class PanelQuerySelectField(QuerySelectField):
    """Flask-Admin's relationship select, with an empty value for "none" (not its technical ``__None``), that
    refuses an id it does not offer (upstream silently saves "none" for it)."""

    def iter_choices(self):
        for value, *rest in super().iter_choices():
            yield ("" if value == "__None" else value, *rest)

    def process_formdata(self, valuelist):
        super().process_formdata(["__None" if self.allow_blank and not (v or "").strip() else v for v in valuelist])

    def pre_validate(self, form):
        if self.data is None and self._formdata is not None:
            raise ValidationError(INVALID_CHOICE)
        super().pre_validate(form)


class PanelAjaxSelectField(AjaxSelectField):
    """The ajax picker (select2): an id that its lookup would not offer is refused, not saved as "none"."""

    def process_formdata(self, valuelist):
        super().process_formdata(["__None" if self.allow_blank and not (v or "").strip() else v for v in valuelist])

    def pre_validate(self, form):
        if self.data is None and self._formdata:
            raise ValidationError(INVALID_CHOICE)
        if not self.allow_blank and self.data is None:
            raise ValidationError(INVALID_CHOICE)


class PanelAjaxSelectMultipleField(AjaxSelectMultipleField):
    def pre_validate(self, form):
        self.data  # noqa: B018 -- resolving the ids is what finds the unknown ones
        if self._invalid_formdata:
            raise ValidationError(INVALID_CHOICE)


_SELECT_FIELDS = {QuerySelectField: PanelQuerySelectField, AjaxSelectField: PanelAjaxSelectField,
                  AjaxSelectMultipleField: PanelAjaxSelectMultipleField}


class PanelModelConverter(AdminModelConverter):
    """Flask-Admin's converter with the panel's fields: documents and CEPs typed with punctuation (the input as
    long as the formatted value), money as 1.234,56, dates as dd/mm/aaaa and date-times in the agency's zone."""

    def get_converter(self, column):
        kind = column_input(column)
        if kind:
            return self._formatted(FORMATTED_FIELDS[kind])
        for sql_type, field in ((Numeric, MoneyField), (DateTime, LocalDateTimeField), (Date, BrDateField)):
            if isinstance(column.type, sql_type):
                return self._typed(field)
        return super().get_converter(column)

    def _model_select_field(self, prop, multiple, remote_model, **kwargs):
        field = super()._model_select_field(prop, multiple, remote_model, **kwargs)
        field.field_class = _SELECT_FIELDS.get(field.field_class, field.field_class)
        return field

    @staticmethod
    def _formatted(field_class):
        def convert(column, field_args, **extra):
            return field_class(**field_args)
        return convert

    def _typed(self, field_class):
        def convert(column, field_args, **extra):
            self._nullable_common(column, field_args)
            return field_class(**field_args)
        return convert


# --- list filters in pt-BR: dates as typed in Brazil, documents with or without punctuation ----------------

BR_FILTER_DATE = "%d/%m/%Y"
BR_FILTER_DATETIMES = ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")
#: Range separators: the picker's (pt-BR) and Flask-Admin's own (old links).
RANGE_SEPARATORS = (" até ", " to ")


def _split_range(value: str) -> list[str]:
    for separator in RANGE_SEPARATORS:
        if separator in value:
            return value.split(separator)
    return [value]


def _parse_filter_date(value: str) -> date:
    value = value.strip()
    for fmt in (BR_FILTER_DATE, "%Y-%m-%d"):
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise ValueError("data inválida")


def _parse_filter_datetime(value: str) -> datetime:
    """A date-time typed in the agency's zone, as the naive UTC the database stores."""
    value = value.strip()
    for fmt in BR_FILTER_DATETIMES:
        try:
            return to_utc(datetime.strptime(value, fmt), user_timezone())
        except ValueError:
            continue
    raise ValueError("data e hora inválidas")


class _BrDateFilter:
    def clean(self, value):
        return _parse_filter_date(value)


class _BrDateTimeFilter:
    def clean(self, value):
        return _parse_filter_datetime(value)


class _BrRange:
    parse = None

    def clean(self, value):
        return [type(self).parse(v) for v in _split_range(value)]

    def validate(self, value):
        try:
            start, end = self.clean(value)
        except ValueError:
            return False
        return start <= end


class _BrDateRange(_BrRange):
    parse = staticmethod(_parse_filter_date)


class _BrDateTimeRange(_BrRange):
    parse = staticmethod(_parse_filter_datetime)


class _DocumentFilter:
    """A CPF/CNPJ filter value typed with or without punctuation (a CNPJ root too) compares the stored digits."""

    def clean(self, value):
        cleaned = super().clean(value)
        if isinstance(cleaned, list):
            return [document_term(v) or v for v in cleaned]
        return document_term(cleaned) or cleaned if isinstance(cleaned, str) else cleaned


_MIXINS = ((base_filters.BaseDateBetweenFilter, _BrDateRange),
           (base_filters.BaseDateTimeBetweenFilter, _BrDateTimeRange),
           (base_filters.BaseDateFilter, _BrDateFilter), (base_filters.BaseDateTimeFilter, _BrDateTimeFilter))
_FILTER_CLASSES: dict = {}


def _with_mixin(flt, mixin):
    key = (type(flt), mixin)
    if key not in _FILTER_CLASSES:
        _FILTER_CLASSES[key] = type(f"Br{type(flt).__name__}", (mixin, type(flt)), {})
    flt.__class__ = _FILTER_CLASSES[key]
    return flt


class PanelFilterConverter(sqla_filters.FilterConverter):
    def convert(self, type_name, column, name, **kwargs):
        found = super().convert(type_name, column, name, **kwargs)
        for flt in found or ():
            if column_input(column):
                _with_mixin(flt, _DocumentFilter)
                continue
            for base, mixin in _MIXINS:
                if isinstance(flt, base):
                    _with_mixin(flt, mixin)
                    break
        return found



# --- search: SQLite's full-text index (models/search_index.py) --------------------------------------------------


def add_index_lookup(model, lookups: dict, field, path, text, equal: bool = False,
                     agency_id: int | None = None) -> dict | None:
    """SQLite: add "``field`` contains ``text``" (``equal``: is ``text``, read from the column's B-tree index; an
    identifier of the ``agency_id``: from its suffix index; a word with a digit in a name: the names that hold one)
    to one word's index lookups, grouped by the column that leads to the searched row (its own id, or the foreign
    key of a related row); None when the index cannot serve it (a short word, a column not indexed, a path of more
    than one many-to-one step): the word keeps the LIKE alone."""
    from sqlalchemy.orm import RelationshipDirection

    from models.search_index import SEARCH_INDEXES, digit_lookup, indexable, suffix_lookup

    columns = getattr(getattr(field, "property", None), "columns", None)  # a mapped attribute: its column
    if columns:
        field = columns[0]
    table_name = getattr(getattr(field, "table", None), "name", None)
    suffix = None  # a ready lookup: the identifier's suffixes, or the rows whose name holds a digit
    if not equal and agency_id is not None:
        suffix = suffix_lookup(field, agency_id, text)
        if suffix is None:
            suffix = digit_lookup(field, agency_id, text)
    if not equal and suffix is None and (not indexable(text) or field.name not in SEARCH_INDEXES.get(table_name, ())):
        return None
    if equal:  # the document's index within the agency (the list's scope): (agency_id, document) on every table
        where = field == text
        if agency_id is not None and "agency_id" in field.table.c:
            where = and_(field.table.c.agency_id == agency_id, where)
    if not path:
        if field.table is not model.__table__:
            return None
        via = model.__table__.c.id
    else:
        relation = path[0].property if len(path) == 1 else None
        if (relation is None or relation.direction is not RelationshipDirection.MANYTOONE
                or len(relation.local_columns) != 1 or relation.mapper.local_table is not field.table
                or [c.name for c in relation.remote_side] != ["id"]):
            return None
        via = next(iter(relation.local_columns))
    lookups.setdefault((via, table_name), []).append((select(field.table.c.id).where(where), None) if equal
                                                     else (suffix, None) if suffix is not None
                                                     else (field.name, text))
    return lookups


def index_clause(session, lookups: dict | None, limit: int):
    """One word's rows as the index finds them: ``id IN (<their ids>)`` (OR per related table), or None when it
    has no lookup or the index finds it in more than ``limit`` rows (a common word: the LIKE in the list's order
    finds a page sooner). The ids are read once (``SELECT rowid … MATCH … LIMIT``) and passed as one JSON array
    (``SELECT value FROM json_each(?)``), so the page and its count do not search the index again."""
    from models.search_index import candidates, driving_expression

    if not lookups:
        return None
    found = []
    for (via, table_name), every in lookups.items():
        parts = [(column, text) for column, text in every if text is not None]
        ids = []
        for lookup, text in every:
            if text is None:  # a whole document: its ids by equality on the document's index
                ids += session.execute(lookup.limit(limit + 1)).scalars()
        if parts:
            found_ids = None
            driving = driving_expression(session, table_name, parts)
            if driving is not None:  # the rarest trigrams first; the phrase when they are in too many rows
                found_ids = session.execute(candidates(table_name, parts, driving).limit(limit + 1)).scalars().all()
            if found_ids is None or len(found_ids) > limit:
                found_ids = session.execute(candidates(table_name, parts).limit(limit + 1)).scalars().all()
            ids += found_ids
        ids = sorted(set(ids))
        if len(ids) > limit:
            return None
        found.append((via, ids))
    return or_(*(via.in_(select(literal_column("value")).select_from(func.json_each(bindparam(None, json.dumps(ids)))))
                 for via, ids in found))


def read_by_hint(model, column) -> str | None:
    """The SQLite table hint that makes a query read ``model``'s table by the ids (or foreign keys) the index
    found, instead of walking the scope's index and testing every row (what SQLite, without statistics, prefers)."""
    table = model.__table__
    if column is table.c.id:
        return "NOT INDEXED"
    for index in sorted(table.indexes, key=lambda i: len(i.columns)):
        if list(index.columns)[0] is column:
            return f"INDEXED BY {index.name}"
    return None


class FlaskAdminCompat:
    """Mixin placed before ``flask_admin.contrib.sqla.ModelView``: the overrides of its internals."""

    def _get_list_extra_args(self):
        # ?page= is any integer the URL carries: a negative page is a database error, a deep one a walk over
        # every skipped row. Keep it within MAX_LIST_OFFSET rows.
        args = super()._get_list_extra_args()
        size = args.page_size or self.page_size or 1
        last = max(MAX_LIST_OFFSET // size, 0)
        if (args.page or 0) > last:
            flash(f"A lista mostra até {MAX_LIST_OFFSET:,} linhas a partir do início: use a busca ou os filtros "
                  f"para chegar às demais (ou exporte a lista).".replace(",", "."), "warning")
        args.page = min(max(args.page or 0, 0), last)
        return args

    def _list_queries(self, sort_column, sort_desc, search, filters, with_count=True):
        """The list's scoped query with search, filters and sort applied, and its count query (or None)."""
        joins, count_joins = {}, {}
        query = self.get_query()
        count_query = self.get_count_query() if with_count and not self.simple_list_pager else None
        if self._search_supported and search:
            query, count_query, joins, count_joins = self._apply_search(query, count_query, joins, count_joins,
                                                                        search)
        if filters and self._filters:
            query, count_query, joins, count_joins = self._apply_filters(query, count_query, joins, count_joins,
                                                                         filters)
        query, joins = self._apply_sorting(query, joins, sort_column, sort_desc)
        return query, count_query

    def get_list(self, page, sort_column, sort_desc, search, filters, execute=True, page_size=None):
        """Return (count, rows) like Flask-Admin, in a fixed number of queries that stay cheap on big tables."""
        query, count_query = self._list_queries(sort_column, sort_desc, search, filters)
        size = self.page_size if page_size is None else page_size
        query = self._apply_pagination(query, page, page_size)
        uncounted = g.pop("panel_list_uncounted", False)
        if uncounted:
            count_query = None
        limit = (page or 0) * (size or 0) + COUNT_CAP
        if not execute:
            count = self._capped_count(count_query, limit) if count_query is not None else None
            for relation in self._auto_joins:
                query = query.options(joinedload(relation))
            return count, query
        count = None
        if count_query is None:
            ids = [row[0] for row in query.with_entities(self.model.id)]
        else:  # the capped count rides along with the page's ids: one round trip (the database runs it once)
            total = self._capped_count_select(count_query, limit).scalar_subquery()
            page_ids = query.with_entities(self.model.id, total).all()
            ids = [row[0] for row in page_ids]
            count = self._row_count(page_ids[0][1], limit) if page_ids else self._capped_count(count_query, limit)
        rows = []
        if ids:
            # The ids come from the scoped query just above: no need to repeat the scope when loading them.
            found = query.session.execute(self._page_rows_statement(), {"page_ids": ids}).unique().scalars()
            by_id = {row.id: row for row in found}
            rows = [by_id[i] for i in ids if i in by_id]
        if uncounted and not page and size and len(ids) < size:  # the whole result is on this first page
            count = RowCount(len(ids))
        return count, rows

    def _page_rows_statement(self):
        """``SELECT`` the rows of given ids (``page_ids``) with their related rows: built once per screen (a list
        loads a page of rows by id on every request; the statement does not change)."""
        statement = self.__dict__.get("_panel_page_rows")
        if statement is None:
            statement = select(self.model).where(self.model.id.in_(bindparam("page_ids", expanding=True)))
            for relation in self._auto_joins:
                statement = statement.options(joinedload(relation))
            self._panel_page_rows = statement
        return statement

    def _get_list_url(self, view_args) -> str:
        """Upstream's list URL (page, sort, search, filters...), with the list's path routed once per script root: a
        list page links to itself a score of times (each column's sort, the pager, the page sizes)."""
        kwargs = dict(page=view_args.page or None, sort=view_args.sort, desc=1 if view_args.sort_desc else None,
                      search=view_args.search)
        kwargs.update(view_args.extra_args)
        kwargs["page_size"] = self.get_safe_page_size(view_args.page_size)
        kwargs.update(self._get_filters(view_args.filters))
        path = fixed_url(f"{self.endpoint}.index_view")
        query = _query_string(iter_multi_items(kwargs))
        return f"{path}?{query}" if query else path

    def _get_filter_groups(self):
        """Flask-Admin's filters for the page's "Adicionar filtro" menu, their texts translated once per language
        (upstream translates every operation of every filter on every request); each request gets its own copy."""
        if not self._filter_groups:
            return None
        cache = self.__dict__.setdefault("_panel_filter_groups", {})
        locale = str(get_locale())
        groups = cache.get(locale)
        if groups is None:
            groups = cache[locale] = super()._get_filter_groups()
        return OrderedDict((label, [dict(item) for item in items]) for label, items in groups.items())

    @staticmethod
    def _capped_count_select(count_query, limit: int):
        """``SELECT count(*) FROM (SELECT 1 … LIMIT limit + 1)``: counts one row past ``limit`` at most."""
        inner = count_query.with_entities(literal_column("1")).limit(limit + 1).subquery()
        return select(func.count()).select_from(inner)

    @staticmethod
    def _row_count(found: int, limit: int) -> RowCount:
        return RowCount(limit, capped=True) if found > limit else RowCount(found)

    def _capped_count(self, count_query, limit: int) -> RowCount:
        """The list's total, exact up to ``limit`` rows ("10.000+" beyond), in a query of its own."""
        return self._row_count(count_query.session.scalar(self._capped_count_select(count_query, limit)), limit)

    #: SQLite: a word found in at most this many rows by the full-text index (models/search_index.py) is read
    #: from the index; a word in more rows keeps the LIKE over the scope in the list's order, which finds a page
    #: of them (and the capped count) after a few rows anyway. 0: never use the index.
    search_index_limit = 5_000

    def _apply_search(self, query, count_query, joins, count_joins, search):
        """Search like Flask-Admin (every term in any searchable column), with a predicate the indexes can serve.

        Upstream compares ``lower(CAST(col AS VARCHAR)) LIKE lower(term)``. On SQLite both ``lower()`` and
        ``LIKE`` fold ASCII case only, so ``col LIKE term`` matches exactly the same rows, at a fraction of the
        cost per row; other databases keep the upstream ILIKE (which the trigram indexes serve on PostgreSQL).
        A ``%`` or ``_`` in a word is that character (the patterns are escaped).

        SQLite: a word of 3 characters or more that the FTS5 trigram index of the searched columns finds in at
        most ``search_index_limit`` rows is read from it (``SELECT rowid FROM <table>_search WHERE … MATCH …``,
        once; the list and its count take those ids, ``id IN (SELECT value FROM json_each(?))``, through the
        foreign key for a related table's column), and the LIKE then decides on those candidates only: the rows
        found are the LIKE's, read from the index instead of the whole scope. The table is read by those ids
        (``NOT INDEXED`` / ``INDEXED BY`` the foreign key's index: without statistics SQLite would rather walk
        the scope's index and test every row). Shorter or common words keep the LIKE alone.
        """
        from admin_views.base import pg_contains_clause, search_pattern, search_terms, search_text
        from models.documents import valid_document_digits, whole_document_term

        sqlite = query.session.get_bind().dialect.name == "sqlite"
        agency_id = getattr(current_user, "agency_id", None)
        driver = None
        documents = [(field, path) for field, path in self._search_fields if column_input(field) == "document"]
        for term in search_terms(search):
            whole = whole_document_term(term) if documents else None
            if whole is not None:  # a punctuated CPF/CNPJ is that document: equality, which the unique index serves
                query, joins, clause = self._document_clause(query, joins, documents, whole)
                query = query.filter(clause)
                if count_query is not None:
                    count_query, count_joins, count_clause = self._document_clause(count_query, count_joins,
                                                                                   documents, whole)
                    count_query = count_query.filter(count_clause)
                continue
            clauses, count_clauses, contains = [], [], False
            lookups: dict | None = {} if sqlite and self.search_index_limit > 0 else None
            digits = valid_document_digits(term) if documents else None
            for field, path in self._search_fields:
                if digits is not None and column_input(field) == "document":  # that document, by its own index
                    query, joins, clause = self._document_clause(query, joins, [(field, path)], digits)
                    clauses.append(clause)
                    if count_query is not None:
                        count_query, count_joins, clause = self._document_clause(count_query, count_joins,
                                                                                 [(field, path)], digits)
                        count_clauses.append(clause)
                    if lookups is not None:
                        lookups = add_index_lookup(self.model, lookups, field, path, digits, equal=True,
                                                   agency_id=agency_id)
                    continue
                pattern = search_pattern(field, term)
                if pattern is None:
                    continue
                contains = True
                text = search_text(field, term)
                query, joins, alias = self._apply_path_joins(query, joins, path, inner_join=False)
                column = field if alias is None else getattr(alias, field.key)
                planned = None if sqlite else pg_contains_clause(query.session, column, field, text, pattern,
                                                                  agency_id, self.search_index_limit)
                clauses.append(planned if planned is not None else self._search_clause(column, pattern, sqlite))
                if count_query is not None:
                    count_query, count_joins, count_alias = self._apply_path_joins(count_query, count_joins, path,
                                                                                   inner_join=False)
                    column = field if count_alias is None else getattr(count_alias, field.key)
                    planned = None if sqlite else pg_contains_clause(query.session, column, field, text, pattern,
                                                                      agency_id, self.search_index_limit)
                    count_clauses.append(planned if planned is not None
                                         else self._search_clause(column, pattern, sqlite))
                if lookups is not None:
                    lookups = add_index_lookup(self.model, lookups, field, path, search_text(field, term),
                                               agency_id=agency_id)
            index = index_clause(query.session, lookups, self.search_index_limit)
            if index is not None and driver is None and len(lookups) == 1:
                driver = next(iter(lookups))[0]
            if contains and (not sqlite or (index is None and lookups)):  # counting would read every match
                g.panel_list_uncounted = True
            query = query.filter(self._word_clause(index, clauses))
            if count_query is not None:
                count_query = count_query.filter(self._word_clause(index, count_clauses))
        if driver is not None:
            hint = read_by_hint(self.model, driver)
            if hint:
                query = query.with_hint(self.model, hint, "sqlite")
                if count_query is not None:
                    count_query = count_query.with_hint(self.model, hint, "sqlite")
        return query, count_query, joins, count_joins

    def _document_clause(self, query, joins, documents, digits: str):
        """``document = digits`` on each searched document column (through its joins), OR-ed. A related row's
        document is compared within the user's agency (where that row is anyway): PostgreSQL then reads the
        ``(agency_id, document)`` index, not the document's trigram index, whose equality lookup reads the lists of
        every trigram of the digits (a negotiations' search by CPF grew 1,7–2,1× from 1× to 10×)."""
        agency_id = getattr(current_user, "agency_id", None)
        clauses = []
        for field, path in documents:
            query, joins, alias = self._apply_path_joins(query, joins, path, inner_join=False)
            clause = (field if alias is None else getattr(alias, field.key)) == digits
            if path and agency_id is not None:
                agency = (getattr(alias, "agency_id", None) if alias is not None
                          else getattr(getattr(field, "table", None), "c", {}).get("agency_id"))
                if agency is not None:
                    clause = and_(agency == agency_id, clause)
            clauses.append(clause)
        return query, joins, or_(*clauses)

    @staticmethod
    def _word_clause(index, clauses):
        if not clauses:
            return false()
        return or_(*clauses) if index is None else and_(index, or_(*clauses))

    @staticmethod
    def _search_clause(column, pattern: str, sqlite: bool):
        from admin_views.base import LIKE_ESCAPE

        if sqlite and isinstance(getattr(column, "type", None), String):
            return column.like(pattern, escape=LIKE_ESCAPE)
        return cast(column, Unicode).ilike(pattern, escape=LIKE_ESCAPE)

    # --- exports ------------------------------------------------------------------------------------
    def export_titles(self) -> list[str]:
        return [str(label) for _, label in self._export_columns]

    def export_values(self, row) -> list:
        """``get_export_value`` of each exported column, computed as upstream's ``_get_list_value`` does, with its
        per-cell lookups (column formatter, choices, the type formatter found by ``isinstance`` over the formatters'
        dict) done once per export and type instead of once per cell: the same cells, in half the time of a
        million-row export. A view that overrides ``get_export_value`` keeps it."""
        if type(self).get_export_value is not ModelView.get_export_value:
            return [self.get_export_value(row, name) for name, _ in self._export_columns]
        columns, by_type = self._export_plan()
        cells = []
        for name, column_fmt, getter, choices in columns:
            value = column_fmt(self, None, row, name) if column_fmt is not None else getter(row)
            if choices:
                cells.append(choices.get(value) or value)
                continue
            kind = type(value)
            if kind not in by_type:
                by_type[kind] = next((fmt for cls, fmt in self.column_type_formatters_export.items()
                                      if isinstance(value, cls)), None)
            type_fmt = by_type[kind]
            cells.append(value if type_fmt is None else type_fmt(self, value, name))
        return cells

    def _export_plan(self):
        """Per request (the view is shared by every request): each column's formatter, getter and choices, and the
        type formatters found so far."""
        plans = g.setdefault("export_plans", {})
        if id(self) not in plans:
            columns = []
            for name, _ in self._export_columns:
                getter = (lambda row, name=name: rec_getattr(row, name)) if "." in name else attrgetter(name)
                columns.append((name, self.column_formatters_export.get(name), getter,
                                self._column_choices_map.get(name) or None))
            plans[id(self)] = (columns, {})
        return plans[id(self)]

    def export_query(self):
        """The list as the user sees it (scope, search, filters, sort), all rows, ready to stream in batches.

        No ``IN (all ids)``: one ordered query read ``EXPORT_BATCH`` rows at a time (a server-side cursor on
        PostgreSQL), with the list's related rows joined, so memory stays flat whatever the number of rows.
        """
        args = self._get_list_extra_args()
        column = self._get_column_by_idx(args.sort)
        query, _ = self._list_queries(column[0] if column else None, args.sort_desc, args.search, args.filters,
                                      with_count=False)
        # A stable order for equal sort keys, so a batch boundary never repeats or skips a row.
        query = query.order_by(self.model.id)
        for relation in self._auto_joins:  # one query per relation and batch (joined loads would be uniqued)
            query = query.options(selectinload(relation))
        return query.yield_per(EXPORT_BATCH)

    def export_count(self, limit: int | None = None) -> int:
        """The export's rows (scope, search, filters); with ``limit``, counted only up to it
        (``SELECT count(*) FROM (SELECT 1 … LIMIT n)``): the request decides stream or job without reading a big
        list whole."""
        args = self._get_list_extra_args()
        _, count_query = self._list_queries(None, False, args.search, args.filters)
        if count_query is None:
            count_query = self.get_count_query()
        if limit is None:
            return count_query.scalar()
        inner = count_query.with_entities(literal_column("1")).limit(limit).subquery()
        return count_query.session.query(func.count()).select_from(inner).scalar()

    def export_batch_loaded(self, rows) -> None:
        """Hook: a batch of exported rows is about to be formatted (load what its formatters read, per batch)."""

    # --- forms --------------------------------------------------------------------------------------
    def render(self, template, **kwargs):
        # Flask-Admin's form macro writes into the widget arguments it is given (it appends "is-invalid" to a
        # field's class when the field has an error, and pops prepend/append). Those are the screen's
        # form_widget_args, shared by every request: one refused submit left the field red on every later form.
        # Each render gets its own copy.
        form_opts = kwargs.get("form_opts")
        if isinstance(form_opts, FormOpts):
            kwargs["form_opts"] = FormOpts(widget_args=copy.deepcopy(form_opts.widget_args),
                                           form_rules=form_opts.form_rules)
        # The templates translate the same few texts many times per page (a list: once per column header):
        # each looked up once per render.
        self._template_args.setdefault("_gettext", page_gettext())
        return super().render(template, **kwargs)
