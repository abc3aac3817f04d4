"""Cadastros > Dívidas."""

from flask import abort, flash, g, request
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.model.template import TemplateLinkRowAction
from flask_login import current_user
from sqlalchemy.orm import joinedload
from wtforms import SelectField
from wtforms.validators import DataRequired, InputRequired, ValidationError

from admin_views.base import PanelSecureForm, ProtectedModelView, ScopedAjaxLoader, audit, scoped_choices
from admin_views.fields import BrDateField, MoneyField, choices, positive_amount
from admin_views.formatting import br_date, brl, choice_formatter, document_formatter
from integrations.serasa import SerasaError
from models import Creditor, Debt, Debtor, db
from models.debt import DEBT_STATUS_LABELS, DebtStatus
from models.negativation import ExclusionMotive, NegativationNotAllowed, eligibility_problems
from models.timeutil import local_today, to_local, utcnow
from services import negativation as workflow
from services.serasa import CallLog

MAX_BULK = 500


class NegativateForm(PanelSecureForm):
    restriction_code = SelectField("Natureza da dívida (código de restrição do SOA) *",
                                   validators=[DataRequired(message="Escolha o código de restrição.")])


class DebtView(ProtectedModelView):
    column_list = ["debtor", "creditor", "contract_number", "amount", "due_date", "status", "paid_at"]
    column_details_list = column_list + ["created_at"]
    column_select_related_list = (Debt.debtor, Debt.creditor)
    column_searchable_list = ["contract_number"]
    list_template = "admin/debt/list.html"
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

    def update_model(self, form, model):
        g.debt_status_before = model.status
        return super().update_model(form, model)

    def on_model_change(self, form, model, is_created):
        super().on_model_change(form, model, is_created)
        if model.debtor.agency_id != current_user.agency_id or model.creditor.agency_id != current_user.agency_id:
            raise ValidationError("Devedor ou credor inválido.")
        if model.status == DebtStatus.PAID and model.paid_at is None:
            model.paid_at = utcnow()
        elif model.status != DebtStatus.PAID:
            model.paid_at = None

    def after_model_change(self, form, model, is_created):
        super().after_model_change(form, model, is_created)
        before = g.pop("debt_status_before", None)
        motive = {DebtStatus.PAID: ExclusionMotive.PAYMENT, DebtStatus.IN_AGREEMENT: ExclusionMotive.AGREEMENT}.get(
            model.status)
        if motive and before != model.status:
            settle(model, motive)

    # --- Negativar no Serasa -----------------------------------------------------------------------
    def get_list_row_actions(self):
        actions = super().get_list_row_actions()
        if self._can_negativate():
            actions.append(TemplateLinkRowAction("debt_rows.negativate", "Negativar no Serasa"))
        return actions

    def _can_negativate(self) -> bool:
        return current_user.is_authenticated and current_user.is_admin and current_user.agency.serasa_enabled

    def is_action_allowed(self, name):
        if name == "negativate":
            return self._can_negativate()
        return super().is_action_allowed(name)

    @action("negativate", "Negativar no Serasa")
    def action_negativate(self, ids):
        return self._confirm([int(i) for i in ids])

    @expose("/negativate/", methods=("GET", "POST"))
    def negativate_view(self):
        if not self._can_negativate():
            abort(403)
        ids = [int(i) for i in request.values.getlist("rowid") if str(i).isdigit()]
        if request.method == "GET" or "restriction_code" not in request.form:
            return self._confirm(ids)
        form = NegativateForm(request.form)
        form.restriction_code.choices = self._restriction_codes()
        debts = self._scoped_debts(ids)
        if not form.validate():
            return self._confirm(ids, form, 400)
        report = workflow.include_debts(current_user.agency, debts, current_user.id, form.restriction_code.data)
        audit("serasa.include", details=f"dividas={len(debts)}; incluidas={report.count('incluida')}; "
                                        f"recusadas={report.count('recusada')}; falhas={report.count('falhou')}")
        db.session.commit()
        return self.render("admin/debt/negativate_report.html", report=report, brl=brl, br_date=br_date,
                           document=document_formatter)

    def _scoped_debts(self, ids):
        if not ids:
            return []
        if len(ids) > MAX_BULK:
            abort(400)
        debts = (self.get_query().options(joinedload(Debt.debtor), joinedload(Debt.creditor))
                 .filter(Debt.id.in_(ids)).all())
        if len(debts) != len(set(ids)):
            abort(404)
        return sorted(debts, key=lambda d: ids.index(d.id))

    def _confirm(self, ids, form=None, status=200):
        debts = self._scoped_debts(ids)
        if not debts:
            flash("Selecione ao menos uma dívida.", "error")
            return self.render("admin/debt/negativate_confirm.html", rows=[], form=None, brl=brl,
                               br_date=br_date, document=document_formatter), 400
        if form is None:
            form = NegativateForm()
            form.restriction_code.choices = self._restriction_codes()
        today = local_today(current_user.agency.timezone)
        rows = [(d, eligibility_problems(d, today)) for d in debts]
        return self.render("admin/debt/negativate_confirm.html", rows=rows, form=form, brl=brl, br_date=br_date,
                           document=document_formatter), status

    def _restriction_codes(self):
        """Offer SOA's own restriction codes (never free text)."""
        calls = CallLog(current_user.agency_id, current_user.id)
        try:
            codes = workflow.cached_codes(current_user.agency, "restriction", calls)
            return choices((c.code, f"{c.code} — {c.description}") for c in codes)
        except (SerasaError, NegativationNotAllowed) as exc:
            flash(f"Não foi possível obter os códigos de restrição do SOA: {exc}", "error")
            return []
        finally:
            calls.flush()
            db.session.commit()


def settle(debt: Debt, motive: str) -> None:
    """Request the exclusion of the debt's negativation at once; tell the user what happened."""
    paid_on = to_local(debt.paid_at, current_user.agency.timezone).date() if debt.paid_at else \
        local_today(current_user.agency.timezone)
    notice = workflow.on_debt_settled(current_user.agency, debt, motive, paid_on, current_user.id)
    db.session.commit()
    if notice:
        flash(notice, "warning" if "não foi aceita" in notice else "info")
