"""Cadastros > Dívidas."""

from flask_login import current_user
from wtforms import SelectField
from wtforms.validators import DataRequired, InputRequired, ValidationError

from admin_views.base import ProtectedModelView, ScopedAjaxLoader, scoped_choices
from admin_views.fields import BrDateField, MoneyField, choices, positive_amount
from admin_views.formatting import choice_formatter
from models import Creditor, Debt, Debtor
from models.debt import DEBT_STATUS_LABELS, DebtStatus
from models.timeutil import utcnow


class DebtView(ProtectedModelView):
    column_list = ["debtor", "creditor", "contract_number", "amount", "due_date", "status", "paid_at"]
    column_details_list = column_list + ["created_at"]
    column_select_related_list = (Debt.debtor, Debt.creditor)
    column_searchable_list = ["contract_number"]
    column_filters = ["status", "due_date", "amount", "creditor.name", "debtor.name", "debtor.document"]
    column_labels = ProtectedModelView.column_labels | {
        "creditor.name": "Credor", "debtor.name": "Devedor", "debtor.document": "CPF/CNPJ do devedor"}
    column_default_sort = ("due_date", True)
    column_formatters = {"status": choice_formatter(DEBT_STATUS_LABELS)}
    column_formatters_export = column_formatters
    column_choices = {"status": [(s.value, label) for s, label in DEBT_STATUS_LABELS.items()]}
    form_columns = ["debtor", "creditor", "contract_number", "amount", "due_date", "status"]
    form_overrides = {"status": SelectField, "amount": MoneyField, "due_date": BrDateField}
    form_args = {
        "status": {"choices": choices(DEBT_STATUS_LABELS.items())},
        "contract_number": {"validators": [DataRequired(message="Informe o número do contrato.")]},
        "amount": {"validators": [InputRequired(message="Informe o valor."), positive_amount]},
        "due_date": {"validators": [InputRequired(message="Informe o vencimento.")]},
        "creditor": {"validators": [DataRequired(message="Escolha o credor.")],
                     "query_factory": scoped_choices(Creditor, order_by=Creditor.name)},
        "debtor": {"validators": [DataRequired(message="Escolha o devedor.")]},
    }

    def __init__(self, model, *args, **kwargs):
        self.form_ajax_refs = {
            "debtor": ScopedAjaxLoader("debtor", Debtor, consultant_attr="consultant_id",
                                       fields=["name", "document"], page_size=10, placeholder="Nome ou CPF/CNPJ"),
        }
        super().__init__(model, *args, **kwargs)

    def scope(self, query):
        query = query.filter(Debt.agency_id == current_user.agency_id)
        if not current_user.is_admin:
            mine = Debtor.query.with_entities(Debtor.id).filter(Debtor.consultant_id == current_user.id)
            query = query.filter(Debt.debtor_id.in_(mine.scalar_subquery()))
        return query

    def on_model_change(self, form, model, is_created):
        super().on_model_change(form, model, is_created)
        if model.debtor.agency_id != current_user.agency_id or model.creditor.agency_id != current_user.agency_id:
            raise ValidationError("Devedor ou credor inválido.")
        if model.status == DebtStatus.PAID and model.paid_at is None:
            model.paid_at = utcnow()
        elif model.status != DebtStatus.PAID:
            model.paid_at = None
