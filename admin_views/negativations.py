"""Negativação Serasa: records, their history, Atualizar situação, Excluir negativação (admins)."""

from datetime import timedelta

from flask import abort, flash, g, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.babel import lazy_gettext
from flask_admin.contrib.sqla.filters import BaseSQLAFilter
from flask_login import current_user
from markupsafe import Markup, escape
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from admin_views.base import PanelSecureForm, ProtectedModelView, audit
from admin_views.fields import choices
from admin_views.formatting import br_date, br_datetime, document_formatter
from admin_views.jobs import remember_started
from admin_views.serasa_status import serasa_integration_visible
from integrations.serasa import SerasaError
from models import Negativation, db
from models.agency import Capability
from models.negativation import (
    DEADLINE_WARNING_DAYS,
    EXCLUSION_CODE_BY_MOTIVE,
    MANUAL_MOTIVES,
    MOTIVE_LABELS,
    NOTE_REQUIRED_MOTIVES,
    STATUS_LABELS,
    NegativationNotAllowed,
)
from models.negativation import NegativationStatus as S
from models.timeutil import local_today
from services import exclusion, serasa_jobs
from services import negativation as workflow
from services.serasa import CallLog

FLAG_LABELS = {"vencido": ("badge-danger", "Prazo de baixa vencido"),
               "proximo": ("badge-warning", "Prazo de baixa próximo")}


def serasa_enabled() -> bool:
    return current_user.is_authenticated and bool(current_user.agency.serasa_enabled)


class DeadlineFilter(BaseSQLAFilter):
    """Prazo de baixa: records still at the bureau whose legal removal deadline is past, or near."""

    OPTIONS = {"vencido": "Vencido", "proximo": "Próximo (até 2 dias)", "vencido_ou_proximo": "Vencido ou próximo"}

    def __init__(self, column, name="Prazo de baixa"):
        super().__init__(column, name, options=list(self.OPTIONS.items()))

    def validate(self, value):
        return value in self.OPTIONS

    def apply(self, query, value, alias=None):
        today = local_today(current_user.agency.timezone)
        near = today + timedelta(days=DEADLINE_WARNING_DAYS)
        still_listed = Negativation.status.in_([str(s) for s in (S.ACTIVE, S.SENT, S.UNCERTAIN, S.PENDING)])
        deadline = {"vencido": Negativation.removal_deadline < today,
                    "proximo": Negativation.removal_deadline.between(today, near),
                    "vencido_ou_proximo": Negativation.removal_deadline <= near}[value]
        return query.filter(Negativation.removal_deadline.is_not(None), still_listed, deadline)

    def operation(self):
        return lazy_gettext("equals")


STATUS_BADGES = {S.ACTIVE: "badge-dark", S.SENT: "badge-info", S.REJECTED: "badge-secondary", S.ERROR: "badge-danger",
                 S.UNCERTAIN: "badge-warning", S.EXCLUDED: "badge-success", S.EXCLUSION_REQUESTED: "badge-primary"}


def _status_formatter(view, context, model, name):
    label = STATUS_LABELS.get(model.status, model.status)
    css = STATUS_BADGES.get(model.status, "badge-light")
    html = f'<span class="badge {css}">{escape(label)}</span>'
    if "negativation_list_today" not in g:  # once per page, not per row
        g.negativation_list_today = local_today(current_user.agency.timezone)
    flag = model.deadline_flag(g.negativation_list_today)
    if flag:
        flag_css, flag_label = FLAG_LABELS[flag]
        html += f' <span class="badge {flag_css} deadline-flag" title="{flag_label}">{flag_label}</span>'
    if model.registered_late:
        html += (' <span class="badge badge-danger" title="Pagamento informado depois do prazo legal">'
                 'Registro tardio</span>')
    if model.exclusion_error:
        html += ' <span class="badge badge-danger" title="Baixa pendente de nova tentativa">Baixa pendente</span>'
    return Markup(html)


class ExclusionForm(PanelSecureForm):
    motive = SelectField("Motivo da baixa *", choices=choices((m.value, MOTIVE_LABELS[m]) for m in MANUAL_MOTIVES),
                         validators=[DataRequired(message="Escolha o motivo.")],
                         render_kw={"data-note-required": " ".join(m.value for m in NOTE_REQUIRED_MOTIVES)})
    code = SelectField("Código de baixa do SOA *", validators=[DataRequired(message="Escolha o código de baixa.")],
                       description="O código segue o motivo: o SOA informa ao Serasa a razão verdadeira da baixa.")
    note = StringField("Observação", validators=[Optional(), Length(max=200)],
                       description="Obrigatória para Ordem judicial e Outro (ex.: nº do processo). Fica no histórico "
                                   "da negativação e na auditoria.")


class NegativationView(ProtectedModelView):
    can_create = False
    can_edit = False
    can_delete = False
    list_template = "admin/negativation/list.html"
    details_template = "admin/negativation/details.html"
    column_list = ["id", "debtor", "document", "creditor", "contract_number", "amount", "due_date", "status",
                   "removal_deadline", "expires_on", "created_at"]
    column_details_list = column_list + ["unique_id", "restriction_code", "soa_code", "soa_message", "sent_at",
                                         "paid_on", "payment_recorded_on", "exclusion_motive", "exclusion_code",
                                         "exclusion_note", "exclusion_error",
                                         "exclusion_requested_at", "excluded_at", "last_checked_at", "created_by"]
    column_export_list = ["id", "debtor.name", "document", "creditor.name", "contract_number", "amount", "due_date",
                          "status", "unique_id", "removal_deadline", "expires_on", "exclusion_motive", "created_at"]
    column_select_related_list = (Negativation.debtor, Negativation.creditor)
    column_searchable_list = ["document", "contract_number"]
    column_filters = ["status", "debtor.name", "document", "creditor.name", "created_at", "due_date",
                      "removal_deadline", DeadlineFilter(Negativation.removal_deadline)]
    column_default_sort = ("created_at", True)
    column_labels = ProtectedModelView.column_labels | {
        "id": "Nº", "debtor.name": "Devedor", "creditor.name": "Credor", "document": "CPF/CNPJ",
        "removal_deadline": "Prazo de baixa", "expires_on": "Limite de 5 anos", "unique_id": "Protocolo (SOA)",
        "restriction_code": "Código de restrição", "soa_code": "Código SOA", "soa_message": "Mensagem do SOA",
        "sent_at": "Enviada em", "paid_on": "Pagamento em", "exclusion_motive": "Motivo da baixa",
        "exclusion_code": "Código de baixa", "exclusion_error": "Erro na baixa",
        "exclusion_note": "Observação da baixa", "payment_recorded_on": "Pagamento informado em",
        "exclusion_requested_at": "Baixa solicitada em", "excluded_at": "Excluída em",
        "last_checked_at": "Última consulta", "created_by": "Incluída por"}
    column_formatters = {"status": _status_formatter, "document": document_formatter,
                         "debtor": lambda v, c, m, n: m.debtor.name,  # the CPF/CNPJ has its own column
                         "exclusion_motive": lambda v, c, m, n: MOTIVE_LABELS.get(m.exclusion_motive,
                                                                                  m.exclusion_motive or "")}
    column_formatters_export = {"status": lambda v, c, m, n: STATUS_LABELS.get(m.status, m.status),
                                "document": document_formatter,
                                "exclusion_motive": column_formatters["exclusion_motive"]}
    column_choices = {"status": [(s.value, label) for s, label in STATUS_LABELS.items()]}

    def feature_enabled(self):
        # Switching the integration off stops new inclusions only: the records, their legal deadlines and their
        # removals stay visible while any is alive.
        return serasa_integration_visible()

    def is_action_allowed(self, name):
        if name == "resend" and not serasa_enabled():
            return False
        return current_user.can(Capability.NEGATIVATE) and super().is_action_allowed(name)

    @action("resend", "Reenviar (em Erro)", "Reenviar ao SOA as negativações selecionadas que estão em Erro?")
    def action_resend(self, ids):
        return self._resend(self.get_query().filter(Negativation.id.in_([int(i) for i in ids])).all())

    @expose("/resend/", methods=("POST",))
    def resend_view(self):
        """Reenviar on a record in Erro: the debt goes back to the confirmation page (rules, cost, balance)."""
        if not current_user.can(Capability.NEGATIVATE) or not serasa_enabled():
            abort(403)
        if not self.action_form().validate():
            flash("Sessão expirada: recarregue a página e tente de novo.", "error")
            return redirect(self.get_url(".index_view"))
        return self._resend([self.get_one(request.form.get("id"))])

    def _resend(self, records):
        failed = [r for r in records if r.status == S.ERROR]
        if len(failed) != len(records):
            flash("Só negativações em Erro podem ser reenviadas; as incertas são conferidas antes com Atualizar "
                  "situação.", "warning")
        if not failed:
            return redirect(self.get_url(".index_view"))
        return redirect(self.get_url("debt.negativate_view", rowid=[r.debt_id for r in failed],
                                     restriction_code=failed[0].restriction_code))

    @action("sync", "Atualizar situação", "Consultar o SOA sobre as negativações selecionadas?")
    def action_sync(self, ids):
        wanted = [int(i) for i in ids if str(i).isdigit()]
        records = [i for (i,) in self.get_query().with_entities(Negativation.id)
                   .filter(Negativation.id.in_(wanted)).all()]
        return self._sync(records)

    @expose("/sync/", methods=("POST",))
    def sync_view(self):
        """Atualizar situação of every record in flight (the button above the list)."""
        if not current_user.can(Capability.NEGATIVATE):
            abort(403)
        if not self.action_form().validate():
            flash("Sessão expirada: recarregue a página e tente de novo.", "error")
            return redirect(self.get_url(".index_view"))
        return self._sync(None if workflow.needs_sync(current_user.agency) else [])

    def _sync(self, record_ids):
        """Start the status sync as a job (the records given, or every one that needs SOA) and show its page."""
        if record_ids is not None and not record_ids:
            flash("Nenhuma negativação para atualizar.", "info")
            return redirect(self.get_url(".index_view"))
        job = serasa_jobs.start_sync(current_user.agency, current_user, record_ids=record_ids)
        audit("serasa.sync.start", target=str(job),
              details=f"registros={len(record_ids)}" if record_ids is not None else "todos os pendentes")
        db.session.commit()
        remember_started()
        flash(f"Atualização de situação iniciada (tarefa nº {job.id}).", "info")
        return redirect(url_for("jobs.details_view", id=job.id))

    @expose("/details/")
    def details_view(self):
        record = self.get_one(request.args.get("id"))
        negativates = current_user.can(Capability.NEGATIVATE)
        self._template_args.update(record=record, status_labels=STATUS_LABELS, br_datetime=br_datetime,
                                   br_date=br_date, action_form=self.action_form(),
                                   can_exclude=negativates and record.can_be_excluded,
                                   can_resend=negativates and serasa_enabled() and record.status == S.ERROR)
        return super().details_view()

    @expose("/exclude/", methods=("GET", "POST"))
    def exclude_view(self):
        if not current_user.can(Capability.NEGATIVATE):
            abort(403)
        record = self.get_one(request.args.get("id"))
        back = self.get_url(".details_view", id=record.id)
        form = ExclusionForm(request.form if request.method == "POST" else None)
        form.code.choices = self._exclusion_codes()
        if request.method == "POST" and form.validate():
            try:
                notice = exclusion.exclude_by_hand(current_user.agency, record, form.motive.data, form.code.data,
                                                   form.note.data, current_user, ip=request.remote_addr)
            except NegativationNotAllowed as exc:
                form.note.errors = [*form.note.errors, str(exc)]
                return self.render("admin/negativation/exclude.html", record=record, form=form, br_date=br_date), 400
            flash(notice.text, notice.level)
            return redirect(back)
        return self.render("admin/negativation/exclude.html", record=record, form=form, br_date=br_date), (
            400 if request.method == "POST" else 200)

    def _exclusion_codes(self):
        """Offer the code of each manual motive, described by SOA's own list (the defaults when SOA cannot answer).

        Each option names the motives it stands for (``data-motives``): the page offers only the motive's code,
        and the workflow refuses any other.
        """
        calls = CallLog(current_user.agency_id, current_user.id)
        try:
            described = {str(c.code): c.description for c in
                         workflow.cached_codes(current_user.agency, "exclusion", calls)}
        except (SerasaError, NegativationNotAllowed):
            described = {}
        finally:
            calls.flush()
            db.session.commit()
        motives_of: dict[str, list[str]] = {}
        for motive in MANUAL_MOTIVES:
            motives_of.setdefault(EXCLUSION_CODE_BY_MOTIVE[motive], []).append(motive.value)
        return [SelectChoice(code, f"{code} — {described.get(code) or MOTIVE_LABELS[motives[0]]}",
                             render_kw={"data-motives": " ".join(motives)})
                for code, motives in motives_of.items()]
