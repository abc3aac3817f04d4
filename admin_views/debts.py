"""Cadastros > Dívidas."""


from flask import abort, flash, g, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.model.template import TemplateLinkRowAction
from flask_login import current_user
from sqlalchemy.orm import joinedload
from wtforms import SelectField
from wtforms.validators import DataRequired, InputRequired, ValidationError

from admin_views.base import (
    PanelSecureForm,
    ProtectedModelView,
    ScopedAjaxLoader,
    _parse_id,
    audit,
    scoped_choices,
    user_can,
)
from admin_views.export import spreadsheet_response
from admin_views.fields import BrDateField, MoneyField, choices, positive_amount
from admin_views.formatting import br_date, brl, choice_formatter, document_formatter
from admin_views.jobs import remember_started
from admin_views.serasa_status import (
    DebtSerasaFilter,
    SerasaColumnMixin,
    debt_column_formatter,
    debt_export_formatter,
    remember_latest,
)
from integrations.serasa import SerasaError
from models import Creditor, Debt, Debtor, NegativationBatch, db
from models.agency import Capability
from models.debt import DEBT_STATUS_LABELS, DebtNotAllowed
from models.documents import format_document
from models.negativation import NegativationNotAllowed
from models.negativation import NegativationStatus as S
from models.timeutil import local_today
from services import exclusion, serasa_jobs
from services import negativation as workflow
from services.serasa import CallLog

MAX_BULK = 500
#: Debts one "Negativar no Serasa" may send (the job does the work; the request only checks the scope).
MAX_JOB_BULK = 20000


class NegativateForm(PanelSecureForm):
    restriction_code = SelectField("Natureza da dívida (código de restrição do SOA) *",
                                   validators=[DataRequired(message="Escolha o código de restrição.")])


#: Columns of the exported per-debt report of a "Negativar no Serasa".
REPORT_COLUMNS = [("contract", "Contrato"), ("debtor", "Devedor"), ("document", "CPF/CNPJ"),
                  ("creditor", "Credor"), ("amount", "Valor"), ("due_date", "Vencimento"), ("result", "Resultado"),
                  ("reason", "Motivo / protocolo"), ("negativation_id", "Negativação nº")]
RESULT_LABELS = {"incluida": "Incluída", "recusada": "Recusada", "falhou": "Falhou"}


class DebtView(SerasaColumnMixin, ProtectedModelView):
    column_list = ["debtor", "creditor", "contract_number", "amount", "due_date", "status", "paid_on", "serasa"]
    column_details_list = ["debtor", "creditor", "contract_number", "amount", "due_date", "status", "paid_on",
                           "paid_at", "created_at"]
    column_export_list = ["debtor", "creditor", "contract_number", "amount", "due_date", "status", "paid_on",
                          "serasa"]
    column_select_related_list = (Debt.debtor, Debt.creditor)
    column_searchable_list = ["contract_number"]
    list_template = "admin/debt/list.html"
    column_filters = ["status", "due_date", "amount", "creditor.name", "debtor.name", "debtor.document",
                      DebtSerasaFilter(Debt.id)]
    column_labels = ProtectedModelView.column_labels | {
        "creditor.name": "Credor", "debtor.name": "Devedor", "debtor.document": "CPF/CNPJ do devedor",
        "paid_on": "Pago em", "paid_at": "Pagamento registrado em", "serasa": "Serasa"}
    column_default_sort = ("due_date", True)
    column_formatters = {"status": choice_formatter(DEBT_STATUS_LABELS), "serasa": debt_column_formatter}
    column_formatters_export = {"status": choice_formatter(DEBT_STATUS_LABELS), "serasa": debt_export_formatter}
    column_choices = {"status": [(s.value, label) for s, label in DEBT_STATUS_LABELS.items()]}
    form_columns = ["debtor", "creditor", "contract_number", "amount", "due_date", "status", "paid_on"]
    form_overrides = {"status": SelectField, "amount": MoneyField, "due_date": BrDateField, "paid_on": BrDateField}
    form_args = {
        "status": {"choices": choices(DEBT_STATUS_LABELS.items())},
        "contract_number": {"validators": [DataRequired(message="Informe o número do contrato.")]},
        "amount": {"validators": [InputRequired(message="Informe o valor."), positive_amount]},
        "due_date": {"validators": [InputRequired(message="Informe o vencimento.")]},
        "creditor": {"validators": [DataRequired(message="Escolha o credor.")],
                     "query_factory": scoped_choices(Creditor, order_by=Creditor.name)},
        "debtor": {"validators": [DataRequired(message="Escolha o devedor.")]},
        "paid_on": {"label": "Data do pagamento",
                    "description": "Quando a dívida foi paga (situação Paga; em branco = hoje). O prazo legal de "
                                   "5 dias úteis para a baixa no Serasa conta a partir dela."},
    }

    def __init__(self, model, *args, **kwargs):
        self.form_ajax_refs = {
            "debtor": ScopedAjaxLoader("debtor", Debtor, fields=["name", "document"], page_size=10,
                                       placeholder="Nome ou CPF/CNPJ"),
        }
        super().__init__(model, *args, **kwargs)

    def get_list(self, *args, **kwargs):
        count, rows = super().get_list(*args, **kwargs)
        if kwargs.get("execute", True) and isinstance(rows, list):
            remember_latest(row.id for row in rows)
        return count, rows

    def export_batch_loaded(self, rows):
        remember_latest(row.id for row in rows)

    def update_model(self, form, model):
        g.debt_status_before = model.status
        return super().update_model(form, model)

    def on_model_change(self, form, model, is_created):
        super().on_model_change(form, model, is_created)
        if model.debtor.agency_id != current_user.agency_id or model.creditor.agency_id != current_user.agency_id:
            raise ValidationError("Devedor ou credor inválido.")
        try:
            settlement = model.transition(g.pop("debt_status_before", None), local_today(current_user.agency.timezone))
        except DebtNotAllowed as exc:
            raise ValidationError(str(exc)) from None
        g.settlements = [settlement] if settlement else []

    def after_model_change(self, form, model, is_created):
        super().after_model_change(form, model, is_created)
        exclude_settled(g.pop("settlements", []))

    # --- Negativar no Serasa -----------------------------------------------------------------------
    def get_list_row_actions(self):
        actions = super().get_list_row_actions()
        if self._can_negativate():
            actions.append(TemplateLinkRowAction("debt_rows.negativate", "Negativar no Serasa"))
        return actions

    def _can_negativate(self) -> bool:
        return user_can(Capability.NEGATIVATE) and current_user.agency.serasa_enabled

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
        if not form.validate():
            return self._confirm(ids, form, 400)
        ids = self._scoped_ids(ids)
        if not ids:
            flash("Selecione ao menos uma dívida.", "error")
            return redirect(self.get_url(".index_view"))
        job = serasa_jobs.start_inclusion(current_user.agency, current_user, ids,
                                          form.restriction_code.data)
        remember_started()
        flash(f"Envio ao Serasa iniciado (tarefa nº {job.id}): acompanhe aqui; pode sair desta página.", "info")
        return redirect(url_for("jobs.details_view", id=job.id))

    def _batch(self, batch_id) -> NegativationBatch:
        batch = db.session.scalar(db.select(NegativationBatch).where(NegativationBatch.id == _parse_id(batch_id),
                                                                     NegativationBatch.visible_to(current_user)))
        if batch is None:
            abort(404)
        return batch

    @expose("/negativate/report/")
    def negativate_report_view(self):
        """The per-debt report of one "Negativar no Serasa": reopened, printed, exported, failures resent."""
        if not current_user.can(Capability.NEGATIVATE):
            abort(403)
        batch = self._batch(request.args.get("id"))
        records = workflow.records_of(o["negativation_id"] for o in batch.outcomes)
        resendable = [o["debt_id"] for o in batch.outcomes
                      if o["result"] == "falhou" and getattr(records.get(o["negativation_id"]), "status", None)
                      == S.ERROR]
        uncertain = sum(1 for o in batch.outcomes
                        if getattr(records.get(o["negativation_id"]), "status", None) == S.UNCERTAIN)
        return self.render("admin/debt/negativate_report.html", batch=batch, records=records, brl=brl,
                           result_labels=RESULT_LABELS, resendable=resendable, uncertain=uncertain)

    @expose("/negativate/reports/")
    def negativate_reports_view(self):
        """The agency's latest "Negativar no Serasa" reports, newest first."""
        if not current_user.can(Capability.NEGATIVATE):
            abort(403)
        kept = db.session.scalars(db.select(NegativationBatch).where(NegativationBatch.visible_to(current_user))
                                  .order_by(NegativationBatch.id.desc()).limit(50)).all()
        return self.render("admin/debt/negativate_reports.html", batches=kept)

    @expose("/negativate/report/export/")
    def negativate_report_export(self):
        if not current_user.can(Capability.NEGATIVATE):
            abort(403)
        batch = self._batch(request.args.get("id"))
        fmt = request.args.get("format")
        if fmt not in ("csv", "xlsx"):
            abort(404)
        rows = [[_report_cell(key, o) for key, _ in REPORT_COLUMNS] for o in batch.outcomes]
        header = [label for _, label in REPORT_COLUMNS]
        name = f"negativacao-relatorio-{batch.id}"
        audit("export", target=f"Negativar no Serasa: relatório nº {batch.id}", details=f"{fmt}; linhas={len(rows)}")
        db.session.commit()
        return spreadsheet_response(fmt, header, rows, name, sheet="Relatório")

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

    def _scoped_ids(self, ids):
        """The given debt ids, in order, checked against the user's scope in one light query (no rows loaded)."""
        ids = list(dict.fromkeys(ids))
        if len(ids) > MAX_JOB_BULK:
            abort(400)
        found = set()
        for start in range(0, len(ids), 5000):
            found.update(i for (i,) in self.get_query().with_entities(Debt.id)
                         .filter(Debt.id.in_(ids[start:start + 5000])).all())
        if len(found) != len(ids):
            abort(404)
        return ids

    def _confirm(self, ids, form=None, status=200):
        debts = self._scoped_debts(ids)
        if not debts:
            flash("Selecione ao menos uma dívida.", "error")
            return self.render("admin/debt/negativate_confirm.html", preview=None, form=None, brl=brl,
                               br_date=br_date, document=document_formatter), 400
        if form is None:
            form = NegativateForm(data={"restriction_code": request.values.get("restriction_code")})
            form.restriction_code.choices = self._restriction_codes()
        preview = workflow.preview_inclusion(current_user.agency, debts, current_user.id)
        db.session.commit()  # the SOA call log and the fresh balance
        return self.render("admin/debt/negativate_confirm.html", preview=preview, form=form, brl=brl,
                           br_date=br_date, document=document_formatter), status

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


def exclude_settled(settlements) -> None:
    """Request the exclusion of the settled debts' negativations at once and tell the user what happened."""
    agency = current_user.agency
    for notice in exclusion.exclude_settled(agency, settlements, current_user.id, local_today(agency.timezone)):
        flash(notice.text, notice.level)


def _report_cell(key: str, outcome: dict) -> str:
    from datetime import date
    from decimal import Decimal

    value = outcome.get(key)
    if value is None:
        return ""
    if key == "amount":
        return brl(Decimal(value))
    if key == "due_date":
        return br_date(date.fromisoformat(value))
    if key == "document":
        return format_document(value)
    if key == "result":
        return RESULT_LABELS.get(value, value)
    return str(value)

