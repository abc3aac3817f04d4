"""Reuniões: list (Vis/Alt/Del), the form, details with the send buttons, and the send screen."""

import uuid
from urllib.parse import urlsplit

from flask import abort, flash, g, redirect, render_template, request
from flask_admin import expose
from flask_admin.model.template import BaseListRowAction, TemplateLinkRowAction
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy.orm import joinedload
from wtforms import HiddenField, RadioField, SelectField, TextAreaField
from wtforms.validators import URL, DataRequired, InputRequired, Length, Optional, ValidationError

from admin_views.base import PanelSecureForm, ProtectedModelView, scoped_choices
from admin_views.fields import LocalDateTimeField, choices
from admin_views.formatting import br_datetime, choice_formatter, nullable_bool_formatter
from admin_views.meeting_extras import MeetingExtrasMixin
from integrations.mail import RecipientError, parse_recipients
from models import Creditor, Meeting, User, db
from models.agency import Capability
from models.meeting import (
    EMAIL_KIND_LABELS,
    MEETING_STATUS_LABELS,
    SEND_STATUS_LABELS,
    EmailKind,
    MeetingNotAllowed,
    todays_meetings_query,
)
from services import meetings as sending

DURATIONS = choices([("30", "30 minutos"), ("60", "1 hora"), ("90", "1 hora e 30 minutos"), ("120", "2 horas"),
             ("180", "3 horas"), ("240", "4 horas")])
#: How each send is named in a sentence, with its grammatical gender: (noun, article, "sent" agreeing with it).
SENT_PHRASES = {
    EmailKind.INVITE: ("Convite", "o", "enviado"),
    EmailKind.INVITE_RETRY: ("Reenvio do convite", "o", "enviado"),
    EmailKind.INVITE_ADD: ("Convite aos novos convidados", "o", "enviado"),
    EmailKind.UPDATE: ("Atualização", "a", "enviada"),
    EmailKind.CANCEL: ("Cancelamento", "o", "enviado"),
    EmailKind.REMINDER: ("Lembrete", "o", "enviado"),
}
PRODUCTIVE_CHOICES = choices([("", "Não respondido"), ("1", "Sim"), ("0", "Não")])


def _lines_formatter(view, context, model, name):
    """Show a multi-line text (Pauta, Observações, participants) with the line breaks it was typed with."""
    value = getattr(model, name)
    return Markup('<div class="text-lines">{}</div>').format(value) if value else ""


def _link_formatter(view, context, model, name):
    """Make the video link clickable, only for http(s) URLs (never javascript: or data:), in a new tab."""
    value = (getattr(model, name) or "").strip()
    if urlsplit(value).scheme.lower() in ("http", "https") and urlsplit(value).netloc:
        return Markup('<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>').format(value, value)
    return value


class DeleteMeetingButton(BaseListRowAction):
    """Del on a row of the list: posts the row's id through the page's one delete form (CSRF token;
    admin/panel_base.html). The subject goes into data-confirm (HTML-escaped text that static/panel.js passes to
    confirm()), never into JavaScript. Built here, not by a template macro, as it differs on every row."""

    HTML = Markup('<button type="button" class="btn btn-sm btn-outline-danger py-0" title="Excluir reunião" '
                  'data-delete-row="{id}" data-confirm="Confirma a exclusão da reunião “{subject}”?{notice}">'
                  '<i class="fa fa-trash"></i> Del</button>')
    INVITE_SENT = " O convite já foi enviado: os convidados precisam receber o cancelamento."

    def __init__(self):
        super().__init__("Del")

    def render(self, context, row_id, row):
        return self.HTML.format(id=row_id, subject=row.subject, notice=self.INVITE_SENT if row.invite_sent_at else "")


def meetings_enabled() -> bool:
    return current_user.is_authenticated and bool(current_user.agency.meetings_enabled)


def _participants_validator(form, field):
    if not (field.data or "").strip():
        return
    try:
        field.data = "\n".join(parse_recipients(field.data, max_count=sending.max_recipients()))
    except RecipientError as exc:
        raise ValidationError(str(exc)) from None


class ProductiveField(RadioField):
    """Sim / Não / Não respondido, stored as True / False / None."""

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, choices=PRODUCTIVE_CHOICES, **kwargs)

    def process_data(self, value):
        self.data = "" if value is None else ("1" if value else "0")

    def pre_validate(self, form):
        if self.data not in {"", "1", "0"}:
            raise ValidationError("Escolha Sim, Não ou Não respondido.")

    def populate_obj(self, obj, name):
        setattr(obj, name, None if self.data in ("", None) else self.data == "1")


class SendForm(PanelSecureForm):
    recipients = TextAreaField("Destinatários *", validators=[DataRequired(message="Informe ao menos um "
                                                                                   "destinatário.")],
                               description="Separe os endereços por vírgula, ponto e vírgula ou uma linha para cada.")
    nonce = HiddenField()


class MeetingView(MeetingExtrasMixin, ProtectedModelView):
    consultant_read_only = False
    list_template = "admin/meeting/list.html"
    details_template = "admin/meeting/details.html"
    column_list = ["starts_at", "subject", "creditor", "owner", "place", "status", "invite_sent_at", "productive"]
    column_details_list = ["subject", "creditor", "starts_at", "ends_at", "place", "video_link", "agenda",
                           "participants", "owner", "status", "invite_sent_at", "reminders_count",
                           "last_reminder_at", "notes", "productive", "created_at", "updated_at"]
    column_export_list = column_details_list
    column_select_related_list = (Meeting.creditor, Meeting.owner)
    column_searchable_list = ["subject"]
    column_filters = ["starts_at", "status", "productive", "creditor.name", "owner.name"]
    column_labels = ProtectedModelView.column_labels | {"creditor.name": "Credor", "owner.name": "Responsável"}
    column_default_sort = ("starts_at", True)
    column_formatters = {"status": choice_formatter(MEETING_STATUS_LABELS), "productive": nullable_bool_formatter,
                         "agenda": _lines_formatter, "notes": _lines_formatter, "participants": _lines_formatter,
                         "video_link": _link_formatter}
    column_formatters_export = {"status": choice_formatter(MEETING_STATUS_LABELS),
                                "productive": lambda v, c, m, n: {None: "Não respondido", True: "Sim",
                                                                  False: "Não"}[m.productive]}
    form_columns = ["creditor", "subject", "starts_at", "duration", "ends_at", "place", "video_link", "agenda",
                    "participants", "owner", "status", "notes", "productive"]
    form_overrides = {"starts_at": LocalDateTimeField, "ends_at": LocalDateTimeField, "agenda": TextAreaField,
                      "participants": TextAreaField, "notes": TextAreaField, "productive": ProductiveField,
                      "status": SelectField}
    form_extra_fields = {"duration": SelectField("Duração", choices=DURATIONS, default="60",
                                                 description="Usada quando o término não é informado.")}
    form_args = {
        "creditor": {"validators": [DataRequired(message="Escolha o credor.")],
                     "query_factory": scoped_choices(Creditor, order_by=Creditor.name)},
        "subject": {"validators": [DataRequired(message="Informe o assunto."), Length(max=200)]},
        "starts_at": {"label": "Data e hora", "validators": [InputRequired(message="Informe a data e a hora.")]},
        "ends_at": {"label": "Término (opcional)", "validators": [Optional()]},
        "video_link": {"validators": [Optional(), URL(require_tld=False, message="Link inválido: use http(s)://…"),
                                      Length(max=500)]},
        "place": {"validators": [Optional(), Length(max=200)]},
        "participants": {"validators": [Optional(), _participants_validator],
                         "description": "Convidados padrão: um e-mail por linha (ou separados por vírgula)."},
        "owner": {"query_factory": scoped_choices(User, order_by=User.name),
                  "description": "Consultores só podem agendar reuniões para si mesmos."},
        "status": {"choices": choices(MEETING_STATUS_LABELS.items())},
        "productive": {"label": "Produtiva"},
        "notes": {"label": "Observações"},
    }
    # E-mail addresses are not words: no spell-check squiggles (red on every address), no auto-capitals.
    form_widget_args = {"agenda": {"rows": 3}, "notes": {"rows": 4},
                        "participants": {"rows": 3, "spellcheck": "false", "autocapitalize": "off",
                                         "autocomplete": "off"}}

    def feature_enabled(self):
        return meetings_enabled()

    def is_visible(self):
        return meetings_enabled()

    @property
    def can_delete(self):
        return True  # consultants: own meetings without an invite (checked in on_model_delete)

    list_buttons_class = "list-buttons-column text-nowrap"

    def get_list_row_actions(self):
        actions = [TemplateLinkRowAction("meeting_rows.vis", "Vis")]
        if self.can_edit:
            actions.append(TemplateLinkRowAction("meeting_rows.alt", "Alt"))
        if self.can_delete:
            actions.append(DeleteMeetingButton())
        return actions

    def scaffold_form(self):
        form_class = super().scaffold_form()
        # The end is optional in the form (start + duration fills it), though always stored.
        form_class.ends_at.kwargs["validators"] = [Optional()]
        return form_class

    def create_form(self, obj=None):
        form = super().create_form(obj)
        delattr(form, "status")  # Observações/Produtiva stay for a meeting that already happened (meeting_extras)
        return form

    def update_model(self, form, model):
        g.meeting_before = model.snapshot()
        return super().update_model(form, model)

    def on_model_change(self, form, model, is_created):
        super().on_model_change(form, model, is_created)
        if is_created and model.owner_id is None and model.owner is None:
            model.owner_id = current_user.id
        if model.creditor.agency_id != current_user.agency_id or (
                model.owner is not None and model.owner.agency_id != current_user.agency_id):
            raise ValidationError("Credor ou responsável inválido.")
        try:
            model.apply_form(before=None if is_created else g.meeting_before, duration=int(form.duration.data or 60),
                             already_happened=self.records_past_meeting(form))
        except MeetingNotAllowed as exc:
            raise ValidationError(str(exc)) from None

    def after_model_change(self, form, model, is_created):
        super().after_model_change(form, model, is_created)
        if not is_created and model.needs_update:
            flash("A reunião mudou depois do convite: use \"Enviar atualização\" para avisar os convidados.", "warning")
        if not is_created and model.needs_cancel_notice:
            flash("A reunião foi cancelada depois do convite: use \"Enviar cancelamento\" para avisar os convidados.",
                  "warning")

    def on_model_delete(self, model):
        if model.invite_sent and not model.cancel_sent_at:
            raise ValidationError("O convite desta reunião já foi enviado: cancele a reunião e envie o cancelamento "
                                  "aos convidados antes de excluí-la.")
        if not current_user.can(Capability.MANAGE_RECORDS) and model.invite_sent:
            raise ValidationError("Consultores só podem excluir reuniões cujo convite não foi enviado.")

    @expose("/today/")
    def today_view(self):
        """The clock's dropdown: today's meetings of the user (scoped like the list), loaded on click."""
        agency = current_user.agency
        query = todays_meetings_query(agency.id, agency.timezone).where(Meeting.visible_to(current_user))
        meetings = db.session.scalars(query.options(joinedload(Meeting.creditor), joinedload(Meeting.owner))).all()
        return render_template("admin/meeting/today_items.html", meetings=meetings, tz=agency.timezone,
                               br_datetime=br_datetime)

    # --- details and sending -----------------------------------------------------------------------
    @expose("/details/")
    def details_view(self):
        meeting = self.get_one(request.args.get("id"))
        self._template_args.update(meeting=meeting, status_labels=MEETING_STATUS_LABELS,
                                   kind_labels=EMAIL_KIND_LABELS, send_labels=SEND_STATUS_LABELS,
                                   br_datetime=br_datetime)
        return super().details_view()

    @expose("/send/", methods=("GET", "POST"))
    def send_view(self):
        meeting = self.get_one(request.args.get("id"))
        kind = request.args.get("kind", "")
        if kind not in EMAIL_KIND_LABELS:
            abort(404)
        back = self.get_url(".details_view", id=meeting.id)
        try:
            meeting.check_can_send(kind)
        except MeetingNotAllowed as exc:
            flash(str(exc), "error")
            return redirect(back)
        if request.method == "GET":
            form = SendForm(data={"recipients": "\n".join(sending.prefill(meeting, kind)), "nonce": uuid.uuid4().hex})
            return self._render_send(meeting, kind, form)
        form = SendForm(request.form)
        if not form.validate():
            return self._render_send(meeting, kind, form, 400)
        try:
            recipients = parse_recipients(form.recipients.data, max_count=sending.max_recipients())
            outcomes = sending.send(meeting, kind, recipients, current_user, (form.nonce.data or "")[:62] or None,
                                    ip=request.remote_addr)
        except (RecipientError, sending.SendLimitReached) as exc:
            form.recipients.errors = [str(exc)]
            return self._render_send(meeting, kind, form, 429 if isinstance(exc, sending.SendLimitReached) else 400)
        except MeetingNotAllowed as exc:
            flash(str(exc), "error")
            return redirect(back)
        for outcome in outcomes:
            self._flash_outcome(outcome.email.kind, outcome)
        return redirect(back)

    def _render_send(self, meeting, kind, form, status=200):
        return self.render("admin/meeting/send.html", meeting=meeting, kind=kind, form=form,
                           kind_label=EMAIL_KIND_LABELS[kind], br_datetime=br_datetime,
                           max_recipients=sending.max_recipients()), status

    @staticmethod
    def _flash_outcome(kind, outcome):
        what, article, sent_word = SENT_PHRASES[kind]
        if outcome.sent:
            flash(f"{what} {sent_word} para {len(outcome.sent)} destinatário(s): {', '.join(outcome.sent)}.",
                  "success")
        for address, reason in outcome.failed.items():
            flash(f"Falha no envio para {address}: {reason}", "error")
        if not outcome.sent:
            flash(f"Nada foi enviado: {article} {what[0].lower() + what[1:]} não foi registrad{article} como "
                  f"{sent_word}. Tente novamente.", "error")
