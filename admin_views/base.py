"""ProtectedModelView: CSRF, roles and agency/consultant scoping for every screen."""

import hashlib
import time
from datetime import timedelta

from flask import abort, current_app, flash, g, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.babel import lazy_gettext
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.ajax import QueryAjaxModelLoader
from flask_admin.form import SecureForm
from flask_admin.model.ajax import DEFAULT_PAGE_SIZE
from flask_admin.tools import rec_getattr
from flask_login import current_user
from jinja2 import pass_context
from markupsafe import Markup, escape
from sqlalchemy import Integer, Unicode, and_, any_, bindparam, cast, false, func, or_
from sqlalchemy import text as sql_text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.types import String
from wtforms import HiddenField

from admin_views.export import csv_stream_response, export_cells
from admin_views.flask_admin_compat import (  # noqa: F401 -- the Flask-Admin overrides, imported from here too
    COUNT_CAP,
    EXPORT_BATCH,
    INVALID_CHOICE,
    FlaskAdminCompat,
    PanelAjaxSelectField,
    PanelAjaxSelectMultipleField,
    PanelFilterConverter,
    PanelModelConverter,
    PanelQuerySelectField,
    RowCount,
    add_index_lookup,
    column_input,
    index_clause,
    read_by_hint,
)
from admin_views.formatting import DETAIL_FORMATTERS, EXPORT_FORMATTERS, TYPE_FORMATTERS
from admin_views.labels import LABELS
from models import AuditLog, db
from models.agency import Capability
from models.documents import document_term
from models.read_only import read_only
from models.search_index import suffix_lookup


class PanelSecureForm(SecureForm):
    """SecureForm whose CSRF tokens last a working day (a list left open stays usable)."""

    class Meta(SecureForm.Meta):
        csrf_time_limit = timedelta(hours=8)


class ExportJobForm(PanelSecureForm):
    """The confirmation that starts a big list's export job (only its CSRF token)."""


def user_can(capability: Capability) -> bool:
    """Whether the logged-in user's role holds ``capability`` (False for anonymous users)."""
    return current_user.is_authenticated and current_user.can(capability)


def audit(action: str, target: str | None = None, details: str | None = None) -> None:
    """Add an audit entry for the current user (the caller's transaction commits it)."""
    AuditLog.record(action, agency_id=current_user.agency_id, user_id=current_user.id, target=target,
                    details=details, ip=request.remote_addr)


def row_fingerprint(obj) -> str:
    """Hash a row's stored column values: it changes whenever anyone saves the row."""
    values = [(c.key, getattr(obj, c.key)) for c in obj.__mapper__.column_attrs
              if c.key not in ("updated_at", "session_token")]
    return hashlib.sha256(repr(values).encode()).hexdigest()[:32]


#: Far beyond any real list, and inside every database's OFFSET range.
MAX_OFFSET = 10**8


def blanks_to_null(model) -> None:
    """Store an optional text typed as blanks only (spaces, tabs, invisible separators) as NULL.

    WTForms' Optional() stops validating such input but keeps it as the field's data, so without this
    a UF of "  " or an e-mail of "\t" would be saved as typed.
    """
    for column in model.__table__.columns:
        if column.nullable and isinstance(column.type, String):
            value = getattr(model, column.key, None)
            if isinstance(value, str) and not value.strip():
                setattr(model, column.key, None)


def browser_newlines_to_lf(model) -> None:
    """Store the line breaks of typed texts as LF: browsers send a textarea's as CRLF, so saving a form untouched
    would otherwise rewrite every multi-line text (and a meeting's agenda would differ from what was sent)."""
    for column in model.__table__.columns:
        if isinstance(column.type, String):
            value = getattr(model, column.key, None)
            if isinstance(value, str) and "\r" in value:
                setattr(model, column.key, value.replace("\r\n", "\n").replace("\r", "\n"))


#: The largest id an INTEGER primary key holds (PostgreSQL's INTEGER is 32 bits: a larger value is a database
#: error there, an OverflowError in SQLite's driver past 64 bits).
MAX_PK = 2**31 - 1


def parse_pk(value) -> int | None:
    """A row id from a URL or a form, or None when it cannot be one (not a number, or beyond ``MAX_PK``)."""
    try:
        parsed = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return parsed if 0 < parsed <= MAX_PK else None


def _parse_id(value) -> int:
    parsed = parse_pk(value)
    if parsed is None:
        abort(404)
    return parsed


#: A list search uses at most this many words (each word is a condition on every searched column).
MAX_SEARCH_TERMS = 10


def search_terms(search: str) -> list[str]:
    terms = [t for t in (search or "").split(" ") if t]
    if len(terms) > MAX_SEARCH_TERMS:
        flash(f"A busca usa no máximo {MAX_SEARCH_TERMS} palavras: as demais foram ignoradas.", "warning")
    return terms[:MAX_SEARCH_TERMS]


#: The escape character of the search's LIKE patterns: a ``%`` or ``_`` the user types is that character, not a
#: wildcard.
LIKE_ESCAPE = "\\"


def _like_literal(text: str) -> str:
    return text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")


def search_text(column, term: str) -> str | None:
    """The text one word requires in one column: the word (without the leading ``^``, starts with, or ``=``, is
    exactly, of Flask-Admin's search), the digits of a document typed with punctuation for a document column, or
    None when the word cannot be part of a document and the column holds one."""
    if column_input(column):
        return document_term(term) or None
    return term[1:] if term[:1] in ("^", "=") else term


def search_pattern(column, term: str) -> str | None:
    """The LIKE pattern (escaped with ``LIKE_ESCAPE``) of one word for one column: contains the word (``^word``:
    starts with it, ``=word``: is exactly it); a document column compares digits (``796.668.098-34`` finds
    ``79666809834``); a word that cannot be part of a document matches no document (None)."""
    text = search_text(column, term)
    if text is None:
        return None
    kind = "" if column_input(column) else term[:1]
    literal = _like_literal(text)
    return {"^": f"{literal}%", "=": literal}.get(kind, f"%{literal}%")


#: PostgreSQL: a word estimated in at least this share of a column's rows is common (bench/RESULTS.md, section 6).
PG_COMMON_SHARE = 0.02
#: PostgreSQL: how long a column's ANALYZE sample is kept in the process (seconds).
PG_SAMPLE_SECONDS = 300
_pg_samples: dict = {}


def pg_column_sample(session, column) -> list[tuple[str, float]] | None:
    """A column's values as PostgreSQL's ANALYZE sampled them (``pg_stats``): its most common values with their
    share of the rows, and its histogram bounds sharing the rest evenly; lower-cased. None before any ANALYZE."""
    columns = getattr(getattr(column, "property", None), "columns", None)
    column = columns[0] if columns else column
    key = (id(session.get_bind()), column.table.name, column.name)
    cached = _pg_samples.get(key)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    row = session.execute(sql_text(
        "SELECT most_common_vals::text::text[], most_common_freqs, histogram_bounds::text::text[] FROM pg_stats "
        "WHERE schemaname = current_schema() AND tablename = :t AND attname = :c"),
        {"t": column.table.name, "c": column.name}).first()
    if row is None or not (row[0] or row[2]):
        return None  # not analysed yet: not kept, the next search asks again
    common = [(str(v).lower(), float(f)) for v, f in zip(row[0] or [], row[1] or [], strict=False)]
    rest = max(1.0 - sum(f for _, f in common), 0.0)
    bounds = row[2] or []
    sample = common + [(str(v).lower(), rest / len(bounds)) for v in bounds]
    _pg_samples[key] = (time.monotonic() + PG_SAMPLE_SECONDS, sample)
    return sample


def _pg_share(sample, text: str) -> float:
    return sum(share for value, share in sample if text in value)


def pg_contains_clause(session, column, field, text: str | None, pattern: str, agency_id: int | None = None,
                       limit: int = 5_000):
    """PostgreSQL: "``column`` contains ``text``" planned from the column's ANALYZE sample, or None (plain ILIKE).

    The ``pg_trgm`` GIN index answers ``ILIKE '%CT-00216753%'`` by reading the list of every trigram of the text,
    and in an identifier most of them (``ct``, ``000``) are in almost every row: the lookup cost grew with the table
    even for one row found. So a text estimated in few rows is looked up by its three rarest trigrams (the GIN
    index intersects short lists), and the whole text is then compared on those rows only, in a form the index
    does not serve; a common text (``barbosa``) keeps the plain ILIKE. The rows found are the ILIKE's either way.

    An identifier of the list's own table (a contract number) is first looked up in its suffix index, within
    ``agency_id`` (models/search_index.py): found in at most ``limit`` rows, those ids are the candidates, whatever
    its trigrams (``CT-00000001`` has no rare one)."""
    if text is None or len(text) < 3 or not (pattern.startswith("%") and pattern.endswith("%")):
        return None
    # concat(col, ''): an expression no index serves, so the whole text is checked per row, not looked up
    exact = func.concat(column, "").ilike(pattern, escape=LIKE_ESCAPE)
    columns = getattr(getattr(field, "property", None), "columns", None)
    own = columns[0] if columns else field
    lookup = suffix_lookup(own, agency_id, text) if agency_id is not None and column is field else None
    if lookup is not None:
        key = (own.table.name, own.name, agency_id, text.lower(), limit)
        found = g.setdefault("panel_suffix_ids", {})  # the page's query and its count query: looked up once
        ids = found.get(key)
        if ids is None:
            ids = found[key] = session.execute(lookup.limit(limit + 1)).scalars().all()
        if len(ids) <= limit:
            return and_(own.table.c.id == any_(bindparam(None, ids, type_=postgresql.ARRAY(Integer))), exact)
    sample = pg_column_sample(session, field)
    if sample is None:
        return None
    folded = text.lower()
    if _pg_share(sample, folded) >= PG_COMMON_SHARE:
        return None  # common: the plain ILIKE (the planner weighs it with the same statistics)
    # pg_trgm's trigrams: of each run of letters and digits (anything else separates words), lower-cased
    runs = "".join(c if c.isalnum() else " " for c in folded).split()
    grams = list(dict.fromkeys(run[i:i + 3] for run in runs for i in range(len(run) - 2)))
    if len(grams) <= 3:
        return None
    rarest = sorted(grams, key=lambda gram: (_pg_share(sample, gram), -grams.index(gram)))[:3]
    return and_(*(cast(column, Unicode).ilike(f"%{_like_literal(gram)}%", escape=LIKE_ESCAPE) for gram in rarest),
                exact)


class AccessMixin:
    """Who may open a screen: logged-in users whose role holds ``required_capability``, with the feature enabled."""

    required_capability: Capability | None = None

    def feature_enabled(self) -> bool:
        return True

    def is_accessible(self) -> bool:
        if not current_user.is_authenticated:
            return False
        if self.required_capability is not None and not current_user.can(self.required_capability):
            return False
        return self.feature_enabled()

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            flash("Entre com seu e-mail e senha para acessar o painel.", "info")
            return redirect(url_for("auth.login", next=request.full_path))
        abort(404)


class ScopedAjaxLoader(QueryAjaxModelLoader):
    """select2 lookup that only offers the rows the user may see (``Model.visible_to``, models/scope.py)."""

    def __init__(self, name, model, **options):
        super().__init__(name, db, model, **options)

    def get_query(self):
        return super().get_query().filter(self.model.visible_to(current_user))

    def get_one(self, pk):
        pk = parse_pk(pk)
        if pk is None:
            return None
        with db.session.no_autoflush:  # called while the form fills the model
            return self.get_query().filter(self.model.id == pk).one_or_none()

    def get_list(self, term, offset=0, limit=None):
        """The rows whose searched columns contain every typed word (a CPF/CNPJ with or without punctuation)."""
        # offset and limit come straight from the query string: keep them inside what a select2 box asks
        # for (a negative or huge value is a database error, an unbounded limit a data dump).
        most = max(self.options.get("page_size") or 0, DEFAULT_PAGE_SIZE)  # select2 asks for 10 at a time
        offset = min(max(offset or 0, 0), MAX_OFFSET)
        limit = min(max(limit or most, 1), most)
        query = self.get_query()
        sqlite = db.session.get_bind().dialect.name == "sqlite"
        driver = None
        for word in [t for t in (term or "").split(" ") if t][:MAX_SEARCH_TERMS]:
            clauses = []
            lookups = {} if sqlite else None  # SQLite: the full-text index, as the lists' search
            for field in self._cached_fields:
                pattern = search_pattern(field, word)
                if pattern is not None:
                    clauses.append(cast(field, Unicode).ilike(pattern, escape=LIKE_ESCAPE))
                    if lookups is not None:
                        lookups = add_index_lookup(self.model, lookups, field, [], search_text(field, word),
                                                   agency_id=current_user.agency_id)
            index = index_clause(db.session, lookups, FlaskAdminCompat.search_index_limit)
            if index is not None and driver is None:
                driver = next(iter(lookups))[0]
            query = query.filter(and_(index, or_(*clauses)) if index is not None and clauses else
                                 or_(*clauses) if clauses else false())
        if driver is not None and read_by_hint(self.model, driver):
            query = query.with_hint(self.model, read_by_hint(self.model, driver), "sqlite")
        if self.order_by:
            query = query.order_by(self.order_by)
        return query.offset(offset).limit(limit).all()


def scoped_choices(model, order_by=None):
    """Return a query_factory for a relationship picker limited to what the user may see (``visible_to``)."""
    def factory():
        query = db.session.query(model).filter(model.visible_to(current_user))
        return query.order_by(order_by if order_by is not None else model.id)
    return factory


class ProtectedModelView(AccessMixin, FlaskAdminCompat, ModelView):
    """Base of every screen: CSRF on forms and actions, agency scoping, 404 outside scope, pt-BR formats."""

    form_base_class = PanelSecureForm
    model_form_converter = PanelModelConverter
    filter_converter = PanelFilterConverter()
    column_labels = LABELS
    column_type_formatters = TYPE_FORMATTERS
    column_type_formatters_export = EXPORT_FORMATTERS
    column_type_formatters_detail = DETAIL_FORMATTERS
    export_types = ["csv"]
    can_view_details = True
    page_size = 20
    can_set_page_size = True
    page_size_options = (20, 50, 100)
    #: Without Capability.MANAGE_RECORDS this screen is read-only (the scope is the model's ``visible_to``).
    consultant_read_only = True
    #: The form's relationship to the consultant who owns the row (e.g. "consultant"): users who see every
    #: portfolio choose it; for a consultant it is not a field at all, the row is always theirs.
    owner_field: str | None = None

    def __init__(self, model, *args, **kwargs):
        super().__init__(model, db, *args, **kwargs)

    #: The view methods that only read, run as a read-only request (models/read_only.py): on PostgreSQL without a
    #: transaction, two round trips fewer; a write there fails instead of being made.
    read_only_views = frozenset({"index_view"})

    def _handle_view(self, name, **kwargs):
        if name in self.read_only_views and request.method in ("GET", "HEAD"):
            read_only(db.session())  # before the session's user is read: the request's first statement
        return super()._handle_view(name, **kwargs)

    # --- permissions -------------------------------------------------------------------------------
    @property
    def can_create(self):
        return user_can(Capability.MANAGE_RECORDS) or not self.consultant_read_only

    @property
    def can_edit(self):
        return user_can(Capability.MANAGE_RECORDS) or not self.consultant_read_only

    @property
    def can_delete(self):
        return user_can(Capability.MANAGE_RECORDS)

    @property
    def can_export(self):
        # Every list names people (debtors, their CPFs and addresses, users, contacts): under the LGPD the
        # bulk copy of personal data needs its own capability, and each one is audited (export below).
        return user_can(Capability.EXPORT_PERSONAL_DATA)

    # Without the permission, say so (403) instead of Flask-Admin's silent redirect to the list.
    @expose("/new/", methods=("GET", "POST"))
    def create_view(self):
        if not self.can_create:
            abort(403)
        return super().create_view()

    @expose("/edit/", methods=("GET", "POST"))
    def edit_view(self):
        if not self.can_edit:
            abort(403)
        return super().edit_view()

    @expose("/delete/", methods=("POST",))
    def delete_view(self):
        if not self.can_delete:
            abort(403)
        return super().delete_view()

    @expose("/export/<export_type>/", methods=("GET", "POST"))
    def export(self, export_type):
        """The list as CSV for Excel pt-BR (admin_views/export.py), audited: who, which screen, filter, rows.

        The rows are counted up to ``EXPORT_JOB_THRESHOLD`` + 1 only (a big list is never counted whole before the
        first byte): up to the threshold the CSV streams at once; above it the user confirms (a POST with its CSRF
        token: a link cannot start work for them), a job writes the file (services/exports.py) and the user is sent
        to its page at once.
        """
        if export_type not in self.export_types:
            abort(404)
        if not self.can_export:
            abort(403)
        threshold = int(current_app.config.get("EXPORT_JOB_THRESHOLD", 20_000))
        many = f"{threshold:,}".replace(",", ".")
        if request.method == "POST":
            return self._export_as_job(many)
        count = self.export_count(limit=threshold + 1)
        if count > threshold:
            return self.render("admin/export_confirm.html", many=many, form=ExportJobForm(),
                               action=request.full_path, list_url=self.get_url(".index_view",
                                                                              **request.args.to_dict(flat=False)))
        audit("export", target=self.endpoint[:120], details=self._export_description(count))
        db.session.commit()
        return csv_stream_response(self.export_titles(), self.export_rows(), self.get_export_name("csv"))

    def _export_as_job(self, many: str):
        """Record the export job of a big list (the user's query string: filters, search, sort) and go to its page."""
        from admin_views.jobs import remember_started
        from services.exports import start_export

        if not ExportJobForm(request.form).validate():
            flash("Sessão expirada: exporte a lista de novo.", "error")
            return redirect(self.get_url(".index_view", **request.args.to_dict(flat=False)))
        job = start_export(self, current_user, request.query_string.decode("utf-8", "replace"),
                           self._export_filters_description())
        audit("export.requested", target=self.endpoint[:120],
              details=f"{self._export_description(f'mais de {many}')}; arquivo preparado pela tarefa nº {job.id}")
        db.session.commit()
        remember_started()
        flash("O arquivo está sendo preparado em segundo plano. Pode continuar usando o painel; quando a tarefa "
              "terminar, o botão “Baixar arquivo (CSV)” aparece nesta página.", "info")
        return redirect(url_for("jobs.details_view", id=job.id))

    def export_rows(self):
        """The exported rows' cells, batch by batch (see ``FlaskAdminCompat.export_query``).

        The rows are read after the view has returned, in the request context ``stream_with_context`` keeps, but
        Flask-SQLAlchemy ends sessions with the app context, which is not popped again at the stream's end: the
        sessions that read them are closed here (else the connection stays "idle in transaction" on PostgreSQL).
        """
        query = self.export_query()

        def rows():
            try:
                yield from export_cells(query, self.export_values, self.export_batch_loaded, EXPORT_BATCH)
            finally:
                query.session.close()
                db.session.remove()
        return rows()

    def _export_description(self, count) -> str:
        return f"{self._export_filters_description()}; linhas: {count}"

    def _export_filters_description(self) -> str:
        args = self._get_list_extra_args()
        screen = f"{self.category} > {self.name}" if self.category else str(self.name)
        filters = []
        for index, name, value in args.filters or []:
            flt = self._filters[index]
            filters.append(f"{name} {flt.operation()} {value}".strip())
        return f"Tela: {screen}; filtros: {'; '.join(filters) or 'nenhum'}; busca: {args.search or 'nenhuma'}"

    # --- the list page: built once per page, not once per row ------------------------------------------------
    def row_url(self, endpoint: str, row_id, return_url: str | None = None, key: str = "id") -> str:
        """``get_url(endpoint, id=row_id, url=return_url)``, with the URL routed once per page and endpoint: each
        row only puts its id in (first, as Flask-Admin writes it)."""
        cache = g.setdefault("row_url_parts", {})
        parts = cache.get((endpoint, return_url))
        if parts is None:
            base = self.get_url(endpoint, url=return_url) if return_url else self.get_url(endpoint)
            path, _, query = base.partition("?")
            parts = cache[(endpoint, return_url)] = (path, f"&{query}" if query else "")
        return f"{parts[0]}?{key}={row_id}{parts[1]}"

    #: The row buttons (macros of the list templates) whose HTML depends on the row's id only: each is rendered
    #: once per page and the rows only put their id in. A macro that reads anything else of the row (e.g. the
    #: meeting's Del, whose confirmation names the subject) is rendered per row.
    ID_ONLY_ROW_ACTIONS = frozenset({"row_actions.view_row", "row_actions.edit_row", "row_actions.delete_row",
                                     "meeting_rows.vis", "meeting_rows.alt", "debt_rows.negativate"})
    #: CSS classes of the list's buttons column.
    list_buttons_class = "list-buttons-column"

    @pass_context
    def list_rows(self, context, row_actions, data, bulk_actions) -> Markup:
        """The list's rows (``<tr>`` each) in one string, as the list template wrote them: the row's checkbox when
        the page has bulk actions, its buttons, then each column's value (escaped like the template's
        ``{{ value }}``).

        Each cell's value and each row's buttons are prepared once per page (``_list_cells``, ``_list_buttons``):
        no template block, macro or escape call per row, a cost that made a list page several times its HTML's."""
        cells = self._list_cells(context)
        buttons = self._list_buttons(context, row_actions) if self.column_display_actions else None
        title = escape(context["_gettext"]("Select record"))
        buttons_class = escape(self.list_buttons_class)
        html = []
        for row in data:
            html.append("<tr>")
            if bulk_actions:
                html.append(f'<td><input type="checkbox" name="rowid" class="action-checkbox" '
                            f'value="{escape(self.get_pk_value(row))}" title="{title}" /></td>')
            if buttons is not None:
                html.append(f'<td class="{buttons_class}">{buttons(row)}</td>')
            for td, value in cells(row):
                html.append(f"{td}{escape(value)}</td>")
            html.append("</tr>\n")
        return Markup("".join(html))

    def _list_cells(self, context):
        choices_maps = self._column_choices_map
        type_formatters = list(self.column_type_formatters.items())
        by_type: dict = {}

        def type_formatter(kind):
            if kind not in by_type:
                by_type[kind] = next((fmt for typeobj, fmt in type_formatters if issubclass(kind, typeobj)), None)
            return by_type[kind]

        def getter(name, column_fmt):
            if column_fmt is not None:
                return lambda row: column_fmt(self, context, row, name)
            if "." in name:
                return lambda row: rec_getattr(row, name)
            return lambda row: getattr(row, name, None)

        plan = []
        for name, _ in self._list_columns:
            choices_map = choices_maps.get(name)
            plan.append((name, f'<td class="{escape(f"col-{name}")}">', getter(name, self.column_formatters.get(name)),
                         choices_map or None))

        def cells(row):
            """The row's ``(<td class="col-…">, displayed value)`` per column."""
            values = []
            for name, td, get, choices_map in plan:
                value = get(row)
                if choices_map is not None:
                    values.append((td, choices_map.get(value) or value))
                    continue
                fmt = type_formatter(type(value))
                values.append((td, value if fmt is None else fmt(self, value, name)))
            return values
        return cells

    _ROW_ID = "panelrowid7f3c9e"  # letters and digits: untouched by escaping and URL quoting

    def _list_buttons(self, context, actions):
        parts = []  # constant HTML (split where the id goes) or, for a per-row action, the action itself
        for row_action in actions:
            if getattr(row_action, "template_name", None) in self.ID_ONLY_ROW_ACTIONS:
                parts.append(str(row_action.render(context, self._ROW_ID, None)).split(self._ROW_ID))
            else:
                parts.append(row_action)

        def buttons(row):
            pk = self.get_pk_value(row)
            html = []
            for part in parts:
                if isinstance(part, list):
                    html.append(str(escape(pk)).join(part))
                else:
                    html.append(str(part.render(context, pk, row)))
            return Markup("\n".join(html))
        return buttons

    # --- scoping -----------------------------------------------------------------------------------
    def scope(self, query):
        """Limit a query to the rows the user may see: the model's one ``visible_to`` (models/scope.py)."""
        return query.filter(self.model.visible_to(current_user))

    def get_query(self):
        return self.scope(super().get_query())

    def get_count_query(self):
        return self.scope(super().get_count_query())

    def get_one(self, id):
        """Fetch one row through the scoped query; anything outside the scope is a 404."""
        found = self.get_query().filter(self.model.id == _parse_id(id)).one_or_none()
        if found is None:
            abort(404)
        return found

    def handle_action(self, return_view=None):
        """Refuse a bulk action naming any row outside the user's scope (404, nothing done)."""
        ids = {_parse_id(i) for i in request.form.getlist("rowid")}
        if ids:
            found = self.get_query().filter(self.model.id.in_(ids)).with_entities(self.model.id).count()
            if found != len(ids):
                abort(404)
        return super().handle_action(return_view)

    # --- concurrent edits -------------------------------------------------------------------------
    def scaffold_form(self):
        form_class = super().scaffold_form()
        form_class.row_version = HiddenField()
        return form_class

    def _without_owner_field(self, form):
        if self.owner_field and not user_can(Capability.SEE_ALL_PORTFOLIOS) and hasattr(form, self.owner_field):
            delattr(form, self.owner_field)
        return form

    def create_form(self, obj=None):
        return self._without_owner_field(super().create_form(obj))

    def edit_form(self, obj=None):
        form = self._without_owner_field(super().edit_form(obj))
        if request.method == "GET" and obj is not None:
            form.row_version.data = row_fingerprint(obj)
        return form

    def update_model(self, form, model):
        """Refuse to overwrite a row someone else changed since this form was opened."""
        submitted = getattr(form, "row_version", None)
        if submitted is not None and submitted.data and submitted.data != row_fingerprint(model):
            flash("Este registro foi alterado por outra pessoa enquanto você editava. Nada foi salvo: confira os "
                  "valores atuais abaixo e faça sua alteração de novo.", "error")
            form.row_version.data = row_fingerprint(model)
            return False
        return super().update_model(form, model)

    #: WTForms/Flask-Admin messages that reach the user untranslated (no pt_BR entry in their catalogues).
    UNTRANSLATED = {"Not a valid choice": "Escolha uma opção válida da lista.",
                    "Not a valid choice.": "Escolha uma opção válida da lista."}

    def validate_form(self, form):
        valid = super().validate_form(form)
        for field in form:
            field.errors = [self.UNTRANSLATED.get(str(e), e) if isinstance(e, str) else e for e in field.errors]
        return valid

    @action("delete", lazy_gettext("Delete"), lazy_gettext("Are you sure you want to delete selected records?"))
    def action_delete(self, ids):
        # Flask-Admin compares the primary key with the raw strings of the form: PostgreSQL refuses
        # ``integer = varchar``. Hand it integers.
        return super().action_delete([_parse_id(i) for i in ids])

    # --- writes ------------------------------------------------------------------------------------
    def on_model_change(self, form, model, is_created):
        blanks_to_null(model)
        browser_newlines_to_lf(model)
        if is_created:
            model.agency_id = current_user.agency_id
            owner_column = self.model.owner_column_name()
            if owner_column and not current_user.can(Capability.SEE_ALL_PORTFOLIOS):
                setattr(model, owner_column, current_user.id)
                if self.owner_field:  # the relationship too: at flush it would win over the column
                    setattr(model, self.owner_field, current_user._get_current_object())
        elif model.agency_id != current_user.agency_id:  # never move a row to another agency
            abort(404)

    def after_model_change(self, form, model, is_created):
        audit(f"{self.endpoint}.{'create' if is_created else 'update'}", target=f"{self.endpoint} #{model.id}")
        db.session.commit()

    def after_model_delete(self, model):
        audit(f"{self.endpoint}.delete", target=f"{self.endpoint} #{model.id}", details=str(model))
        db.session.commit()

    def handle_view_exception(self, exc):
        if isinstance(exc, IntegrityError):
            flash("Não foi possível salvar: o registro conflita com outro já existente "
                  "(por exemplo, um CPF/CNPJ ou contrato repetido).", "error")
            return True
        if super().handle_view_exception(exc):
            return True
        # Anything else is a bug: log it, and never show Python's own message (English, technical) to the user.
        current_app.logger.error("Falha ao salvar em %s", self.endpoint, exc_info=exc)
        flash("Não foi possível salvar: ocorreu um erro inesperado. Nada foi alterado; confira os campos e tente "
              "de novo.", "error")
        return True
