"""Cadastros > Negociações and Financeiro > Negociações (with the Serasa and meetings buttons)."""

from flask import g
from flask_login import current_user
from wtforms import SelectField
from wtforms.validators import DataRequired, NumberRange, Optional, ValidationError

from admin_views.base import ProtectedModelView, ScopedAjaxLoader, scoped_choices
from admin_views.debts import settle
from admin_views.fields import BrDateField, MoneyField, choices, positive_amount
from admin_views.formatting import choice_formatter
from admin_views.serasa_status import (
    NegotiationSerasaFilter,
    SerasaColumnMixin,
    negotiation_column_formatter,
    remember_negotiation_debts,
)
from models import Creditor, Debt, Debtor, Negotiation, User, db
from models.debt import NEGOTIATION_STATUS_LABELS, DebtStatus, NegotiationStatus
from models.negativation import ExclusionMotive
from models.timeutil import local_today


class NegotiationView(SerasaColumnMixin, ProtectedModelView):
    list_template = "admin/negotiation/list.html"  # the Reuniões button (the manual's Cadastros > Negociações)
    consultant_attr = "consultant_id"
    owner_field = "consultant"
    consultant_read_only = False
    column_list = ["id", "debtor", "creditor", "consultant", "status", "agreed_amount", "installments",
                   "created_at", "serasa"]
    column_details_list = ["id", "debtor", "creditor", "consultant", "status", "agreed_amount", "installments",
                           "settled_on", "created_at", "debts", "notes"]
    column_export_list = ["id", "debtor", "creditor", "consultant", "status", "agreed_amount", "installments",
                          "settled_on", "created_at"]
    column_select_related_list = (Negotiation.debtor, Negotiation.creditor, Negotiation.consultant)
    column_searchable_list = ["debtor.name", "debtor.document"]
    column_filters = ["status", "created_at", "creditor.name", "debtor.name", "consultant.name",
                      NegotiationSerasaFilter(Negotiation.id)]
    column_labels = ProtectedModelView.column_labels | {
        "id": "Nº", "creditor.name": "Credor", "debtor.name": "Devedor", "debtor.document": "CPF/CNPJ",
        "consultant.name": "Consultor", "serasa": "Serasa", "settled_on": "Data do pagamento / acordo"}
    column_default_sort = ("created_at", True)
    column_formatters = {"status": choice_formatter(NEGOTIATION_STATUS_LABELS), "serasa": negotiation_column_formatter}
    column_formatters_export = {"status": choice_formatter(NEGOTIATION_STATUS_LABELS)}
    form_columns = ["debtor", "creditor", "consultant", "debts", "status", "settled_on", "agreed_amount",
                    "installments", "notes"]
    form_overrides = {"status": SelectField, "agreed_amount": MoneyField, "settled_on": BrDateField}
    form_args = {
        "status": {"choices": choices(NEGOTIATION_STATUS_LABELS.items())},
        "creditor": {"validators": [DataRequired(message="Escolha o credor.")],
                     "query_factory": scoped_choices(Creditor, order_by=Creditor.name)},
        "debtor": {"validators": [DataRequired(message="Escolha o devedor.")]},
        "consultant": {"query_factory": scoped_choices(User, order_by=User.name)},
        "agreed_amount": {"validators": [Optional(), positive_amount]},
        "settled_on": {"description": "Para Quitada ou Acordo firmado (em branco = hoje): o prazo legal de 5 dias "
                                      "úteis para a baixa no Serasa conta a partir dela."},
        "installments": {"validators": [Optional(), NumberRange(min=1, max=360,
                                                                message="Parcelas: de 1 a 360.")]},
    }
    form_widget_args = {"notes": {"rows": 4}}

    def get_list(self, *args, **kwargs):
        count, rows = super().get_list(*args, **kwargs)
        if kwargs.get("execute", True) and isinstance(rows, list):
            remember_negotiation_debts(row.id for row in rows)
        return count, rows

    def __init__(self, model, *args, **kwargs):
        self.form_ajax_refs = {
            "debtor": ScopedAjaxLoader("debtor", Debtor, consultant_attr="consultant_id",
                                       fields=["name", "document"], page_size=10, placeholder="Nome ou CPF/CNPJ"),
            "debts": ScopedAjaxLoader("debts", Debt, consultant_attr="consultant_id", fields=["contract_number"],
                                      page_size=10,
                                      placeholder="Número do contrato"),
        }
        super().__init__(model, *args, **kwargs)

    def on_model_change(self, form, model, is_created):
        super().on_model_change(form, model, is_created)
        if not current_user.is_admin and {model.consultant_id, model.debtor.consultant_id} != {current_user.id}:
            raise ValidationError("Escolha um devedor da sua carteira.")
        for related in (model.debtor, model.creditor, model.consultant, *model.debts):
            if related is not None and related.agency_id != current_user.agency_id:
                raise ValidationError("Registro relacionado inválido.")
        # The chosen debtor's id: on a new negotiation nothing is flushed yet, so model.debtor_id is still None.
        if any(d.debtor_id != model.debtor.id for d in model.debts):
            raise ValidationError("Todas as dívidas devem ser do devedor da negociação.")
        today = local_today(current_user.agency.timezone)
        if model.status in (NegotiationStatus.SETTLED, NegotiationStatus.AGREEMENT):
            model.settled_on = model.settled_on or today
            if model.settled_on > today:
                raise ValidationError("A data do pagamento / acordo não pode estar no futuro.")
        elif model.settled_on is not None:
            raise ValidationError("Informe a data do pagamento / acordo só quando a situação for Quitada ou "
                                  "Acordo firmado.")


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
        """An agreement or a settlement closes the negotiation's open debts and removes their negativations.

        The legal removal deadline counts from the negotiation's payment / agreement date.
        """
        today = local_today(current_user.agency.timezone)
        for debt in negotiation.debts:
            if debt.status in (DebtStatus.PAID, DebtStatus.CANCELLED) or debt.status == debt_status:
                continue
            if debt_status == DebtStatus.PAID:
                debt.mark_paid(negotiation.settled_on or today, today)
            else:
                debt.status = debt_status
            db.session.commit()
            settle(debt, motive, negotiation.settled_on)


class FinanceNegotiationView(NegotiationView):
    """Financeiro > Negociações: the same list, with the Negativação Serasa and Reuniões buttons."""

    list_template = "admin/negotiation/finance_list.html"
