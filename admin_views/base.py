"""ProtectedModelView: CSRF, roles and agency/consultant scoping for every screen."""

import hashlib
from datetime import timedelta

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.ajax import QueryAjaxModelLoader
from flask_admin.form import SecureForm
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from wtforms import HiddenField

from admin_views.formatting import DETAIL_FORMATTERS, EXPORT_FORMATTERS, TYPE_FORMATTERS
from admin_views.labels import LABELS
from models import AuditLog, db


class PanelSecureForm(SecureForm):
    """SecureForm whose CSRF tokens last a working day (a list left open stays usable)."""

    class Meta(SecureForm.Meta):
        csrf_time_limit = timedelta(hours=8)


def is_admin() -> bool:
    return current_user.is_authenticated and current_user.is_admin


def audit(action: str, target: str | None = None, details: str | None = None) -> None:
    """Add an audit entry for the current user (the caller's transaction commits it)."""
    AuditLog.record(action, agency_id=current_user.agency_id, user_id=current_user.id, target=target,
                    details=details, ip=request.remote_addr)


def row_fingerprint(obj) -> str:
    """Hash a row's stored column values: it changes whenever anyone saves the row."""
    values = [(c.key, getattr(obj, c.key)) for c in obj.__mapper__.column_attrs if c.key != "updated_at"]
    return hashlib.sha256(repr(values).encode()).hexdigest()[:32]


def _parse_id(value) -> int:
    try:
        parsed = int(str(value))
    except (TypeError, ValueError):
        abort(404)
    if not 0 < parsed < 2**63:
        abort(404)
    return parsed


class AccessMixin:
    """Who may open a screen: logged-in users of the right role with the feature enabled."""

    admin_only = False

    def feature_enabled(self) -> bool:
        return True

    def is_accessible(self) -> bool:
        if not current_user.is_authenticated:
            return False
        if self.admin_only and not current_user.is_admin:
            return False
        return self.feature_enabled()

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path))
        abort(404)


class ScopedAjaxLoader(QueryAjaxModelLoader):
    """select2 lookup that only offers rows of the user's agency (and consultant, when given)."""

    def __init__(self, name, model, consultant_attr: str | None = None, **options):
        super().__init__(name, db, model, **options)
        self.consultant_attr = consultant_attr

    def get_query(self):
        query = super().get_query().filter(self.model.agency_id == current_user.agency_id)
        if self.consultant_attr and not current_user.is_admin:
            query = query.filter(getattr(self.model, self.consultant_attr) == current_user.id)
        return query

    def get_one(self, pk):
        try:
            pk = int(pk)
        except (TypeError, ValueError):
            return None
        return self.get_query().filter(self.model.id == pk).one_or_none()


def scoped_choices(model, order_by=None, consultant_attr: str | None = None):
    """Return a query_factory for a relationship picker limited to what the user may see."""
    def factory():
        query = db.session.query(model).filter(model.agency_id == current_user.agency_id)
        if consultant_attr and not current_user.is_admin:
            query = query.filter(getattr(model, consultant_attr) == current_user.id)
        return query.order_by(order_by if order_by is not None else model.id)
    return factory


class ProtectedModelView(AccessMixin, ModelView):
    """Base of every screen: CSRF on forms and actions, agency scoping, 404 outside scope, pt-BR formats."""

    form_base_class = PanelSecureForm
    column_labels = LABELS
    column_type_formatters = TYPE_FORMATTERS
    column_type_formatters_export = EXPORT_FORMATTERS
    column_type_formatters_detail = DETAIL_FORMATTERS
    can_export = True
    export_types = ["csv"]
    can_view_details = True
    page_size = 20
    can_set_page_size = True
    page_size_options = (20, 50, 100)
    #: Column that ties a row to a consultant (None: consultants see the whole agency).
    consultant_attr: str | None = None
    #: Consultants may only read this screen.
    consultant_read_only = True

    def __init__(self, model, *args, **kwargs):
        super().__init__(model, db, *args, **kwargs)

    # --- permissions -------------------------------------------------------------------------------
    @property
    def can_create(self):
        return is_admin() or not self.consultant_read_only

    @property
    def can_edit(self):
        return is_admin() or not self.consultant_read_only

    @property
    def can_delete(self):
        return is_admin()

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

    # --- scoping -----------------------------------------------------------------------------------
    def scope(self, query):
        """Limit a query to the user's agency, and to the consultant's own rows where the spec says so."""
        query = query.filter(self.model.agency_id == current_user.agency_id)
        if self.consultant_attr and not current_user.is_admin:
            query = query.filter(getattr(self.model, self.consultant_attr) == current_user.id)
        return query

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

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
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

    # --- writes ------------------------------------------------------------------------------------
    def on_model_change(self, form, model, is_created):
        if is_created:
            model.agency_id = current_user.agency_id
            if self.consultant_attr and not current_user.is_admin:
                setattr(model, self.consultant_attr, current_user.id)
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
        return super().handle_view_exception(exc)
