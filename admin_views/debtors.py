"""Cadastros > Devedores: with each debtor's debts on the details screen."""

from flask import request
from flask_admin import expose
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from wtforms.validators import DataRequired, Email, Optional

from admin_views.base import ProtectedModelView, scoped_choices
from admin_views.fields import BrDateField, not_in_future, valid_cep, valid_document, valid_uf
from admin_views.formatting import brl, cep_formatter, document_formatter
from admin_views.serasa_status import debt_badge, remember_latest, serasa_integration_visible
from models import Debt, Debtor, User, db
from models.agency import Capability, roles_with
from models.debt import DEBT_STATUS_LABELS


def _consultants():
    factory = scoped_choices(User, order_by=User.name)
    return lambda: factory().filter(User.role.in_(roles_with(Capability.HOLD_PORTFOLIO)), User.active.is_(True))


class DebtorView(ProtectedModelView):
    details_template = "admin/debtor/details.html"
    column_list = ["name", "document", "city", "uf", "consultant"]
    column_details_list = ["name", "document", "birth_date", "email", "phone", "street", "number", "complement",
                           "neighbourhood", "city", "uf", "cep", "consultant", "created_at"]
    column_export_list = column_details_list
    column_select_related_list = (Debtor.consultant,)
    column_searchable_list = ["name", "document"]
    column_filters = ["name", "document", "city", "uf", "consultant.name"]
    column_labels = ProtectedModelView.column_labels | {"consultant.name": "Consultor"}
    column_default_sort = ("name", False)
    column_formatters = {"document": document_formatter, "cep": cep_formatter}
    column_formatters_export = column_formatters
    form_columns = ["name", "document", "birth_date", "email", "phone", "street", "number", "complement",
                    "neighbourhood", "city", "uf", "cep", "consultant"]
    form_overrides = {"birth_date": BrDateField}
    form_args = {
        "name": {"validators": [DataRequired(message="Informe o nome.")]},
        "document": {"label": "CPF/CNPJ", "validators": [DataRequired(message="Informe o CPF ou CNPJ."),
                                                          valid_document]},
        "email": {"validators": [Optional(), Email(message="E-mail inválido.")]},
        "birth_date": {"validators": [Optional(), not_in_future]},
        "uf": {"validators": [Optional(), valid_uf]},
        "cep": {"validators": [Optional(), valid_cep]},
        "consultant": {"query_factory": _consultants()},
    }
    form_widget_args = {"cep": {"placeholder": "00000-000"}, "document": {"placeholder": "CPF ou CNPJ"}}

    def search_placeholder(self):
        return "Nome ou CPF/CNPJ"

    @expose("/details/")
    def details_view(self):
        debtor = self.get_one(request.args.get("id"))
        debts = db.session.scalars(select(Debt).options(joinedload(Debt.creditor))
                                   .where(Debt.debtor_id == debtor.id).order_by(Debt.due_date)).all()
        remember_latest(d.id for d in debts)
        agency = current_user.agency
        self._template_args.update(debts=debts, brl=brl, debt_labels=DEBT_STATUS_LABELS, serasa_badge=debt_badge,
                                   can_negativate=current_user.can(Capability.NEGATIVATE) and agency.serasa_enabled,
                                   serasa_enabled=serasa_integration_visible())
        return super().details_view()
