"""Cadastros > Negociações and Financeiro > Negociações (with the Serasa and meetings buttons)."""

from flask import g
from flask_login import current_user
from wtforms import SelectField
from wtforms.validators import DataRequired, NumberRange, Optional, ValidationError

from admin_views.base import ProtectedModelView, ScopedAjaxLoader, scoped_choices
from admin_views.debts import settle
from admin_views.fields import MoneyField, choices, positive_amount
from admin_views.formatting import choice_formatter
from models import Creditor, Debt, Debtor, Negotiation, User, db
from models.debt import NEGOTIATION_STATUS_LABELS, DebtStatus, NegotiationStatus
from models.negativation import ExclusionMotive
from models.timeutil import utcnow


class NegotiationView(ProtectedModelView):
    list_template = "admin/negotiation/list.html"  # the Reuniões button (the manual's Cadastros > Negociações)
    consultant_attr = "consultant_id"
    consultant_read_only = False
    column_list = ["id", "debtor", "creditor", "consultant", "status", "agreed_amount", "installments",
                   "created_at"]
    column_details_list = column_list + ["debts", "notes"]
    column_select_related_list = (Negotiation.debtor, Negotiation.creditor, Negotiation.consultant)
    column_searchable_list = ["debtor.name", "debtor.document"]
    column_filters = ["status", "created_at", "creditor.name", "debtor.name", "consultant.name"]
    column_labels = ProtectedModelView.column_labels | {
        "id": "Nº", "creditor.name": "Credor", "debtor.name": "Devedor", "debtor.document": "CPF/CNPJ",
        "consultant.name": "Consultor"}
    column_default_sort = ("created_at", True)
    column_formatters = {"status": choice_formatter(NEGOTIATION_STATUS_LABELS)}
    column_formatters_export = column_formatters
    form_columns = ["debtor", "creditor", "consultant", "debts", "status", "agreed_amount", "installments", "notes"]
    form_overrides = {"status": SelectField, "agreed_amount": MoneyField}
    form_args = {
        "status": {"choices": choices(NEGOTIATION_STATUS_LABELS.items())},
        "creditor": {"validators": [DataRequired(message="Escolha o credor.")],
                     "query_factory": scoped_choices(Creditor, order_by=Creditor.name)},
        "debtor": {"validators": [DataRequired(message="Escolha o devedor.")]},
        "consultant": {"query_factory": scoped_choices(User, order_by=User.name)},
        "agreed_amount": {"validators": [Optional(), positive_amount]},
        "installments": {"validators": [Optional(), NumberRange(min=1, max=360,
                                                                message="Parcelas: de 1 a 360.")]},
    }
    form_widget_args = {"notes": {"rows": 4}}

    def __init__(self, model, *args, **kwargs):
        self.form_ajax_refs = {
            "debtor": ScopedAjaxLoader("debtor", Debtor, consultant_attr="consultant_id",
                                       fields=["name", "document"], page_size=10, placeholder="Nome ou CPF/CNPJ"),
            "debts": ScopedAjaxLoader("debts", Debt, consultant_attr="debtor.consultant_id", fields=["contract_number"],
                                      page_size=10,
                                      placeholder="Número do contrato"),
        }
        super().__init__(model, *args, **kwargs)

    def on_model_change(self, form, model, is_created):
        super().on_model_change(form, model, is_created)
        if not current_user.is_admin:
            model.consultant_id = current_user.id
            if model.debtor.consultant_id != current_user.id:
                raise ValidationError("Escolha um devedor da sua carteira.")
        for related in (model.debtor, model.creditor, model.consultant, *model.debts):
            if related is not None and related.agency_id != current_user.agency_id:
                raise ValidationError("Registro relacionado inválido.")
        if any(d.debtor_id != model.debtor_id for d in model.debts):
            raise ValidationError("Todas as dívidas devem ser do devedor da negociação.")


    def update_model(self, form, model):
        g.negotiation_status_before = model.status
        return super().update_model(form, model)

    def after_model_change(self, form, model, is_created):
        super().after_model_change(form, model, is_created)
        before = g.pop("negotiation_status_before", None)
        if model.status == before:
            return
        if model.status == NegotiationStatus.AGREEMENT:
            self._settle_debts(model, DebtStatus.IN_AGREEMENT, ExclusionMotive.AGREEMENT)
        elif model.status == NegotiationStatus.SETTLED:
            self._settle_debts(model, DebtStatus.PAID, ExclusionMotive.PAYMENT)

    @staticmethod
    def _settle_debts(negotiation, debt_status, motive):
        """An agreement or a settlement closes the negotiation's open debts and removes their negativations."""
        for debt in negotiation.debts:
            if debt.status in (DebtStatus.PAID, DebtStatus.CANCELLED) or debt.status == debt_status:
                continue
            debt.status = debt_status
            if debt_status == DebtStatus.PAID:
                debt.paid_at = utcnow()
            db.session.commit()
            settle(debt, motive)


class FinanceNegotiationView(NegotiationView):
    """Financeiro > Negociações: the same list, with the Negativação Serasa and Reuniões buttons."""

    list_template = "admin/negotiation/finance_list.html"
