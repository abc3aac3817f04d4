"""Usuário > Perfil: the agency's settings in three tabs (Geral, Reuniões, Serasa (SOA WS)); admins only."""

from flask import current_app, flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_login import current_user
from wtforms import BooleanField, PasswordField, RadioField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional

from admin_views.base import AccessMixin, PanelSecureForm, audit
from admin_views.fields import CnpjField, MoneyField, choices
from admin_views.formatting import brl
from models import db
from models.agency import SOA_ENVIRONMENT_LABELS, Capability, SoaConfigurationRefused
from models.negativation import live_records
from services import soa_account

YES_NO = choices([("1", "Sim"), ("0", "Não")])
TIMEZONES = choices([
    ("America/Sao_Paulo", "Brasília (America/Sao_Paulo)"),
    ("America/Bahia", "Bahia (America/Bahia)"),
    ("America/Fortaleza", "Fortaleza (America/Fortaleza)"),
    ("America/Recife", "Recife (America/Recife)"),
    ("America/Belem", "Belém (America/Belem)"),
    ("America/Manaus", "Manaus (America/Manaus)"),
    ("America/Cuiaba", "Cuiabá (America/Cuiaba)"),
    ("America/Campo_Grande", "Campo Grande (America/Campo_Grande)"),
    ("America/Porto_Velho", "Porto Velho (America/Porto_Velho)"),
    ("America/Boa_Vista", "Boa Vista (America/Boa_Vista)"),
    ("America/Rio_Branco", "Rio Branco (America/Rio_Branco)"),
    ("America/Noronha", "Fernando de Noronha (America/Noronha)"),
])


class GeneralForm(PanelSecureForm):
    name = StringField("Nome da assessoria *", validators=[DataRequired(message="Informe o nome."), Length(max=120)])
    cnpj = CnpjField("CNPJ", validators=[Optional()])
    contact_email = StringField("E-mail de contato", validators=[Optional(), Email(message="E-mail inválido.")],
                                description="Aparece como organizador dos convites de reunião.")
    timezone = SelectField("Fuso horário", choices=TIMEZONES)


class MeetingsForm(PanelSecureForm):
    meetings_enabled = RadioField("Habilita cadastro de reuniões", choices=YES_NO)


class SerasaForm(PanelSecureForm):
    serasa_enabled = RadioField("HABILITA INTEGRAÇÃO COM SERASA VIA SOA WEBSERVICES", choices=YES_NO)
    soa_email = StringField("E-mail da conta SOA", validators=[Optional(), Email(message="E-mail inválido."),
                                                               Length(max=254)])
    soa_password = PasswordField("Senha da conta SOA", validators=[Optional(), Length(max=200)],
                                 description="Por segurança a senha nunca é exibida. Deixe em branco para manter "
                                             "a senha salva.")
    soa_environment = SelectField("Ambiente", choices=choices(SOA_ENVIRONMENT_LABELS.items()))
    soa_low_balance = MoneyField("Avisar quando o saldo ficar abaixo de (R$)", validators=[Optional()])
    confirm_disable = BooleanField("Entendo: desabilitar impede apenas novas inclusões; as negativações existentes, "
                                   "seus prazos legais, as baixas automáticas e a atualização de situação continuam.")


TABS = {"geral": "Geral", "reunioes": "Reuniões", "serasa": "Serasa (SOA WS)"}


class ProfileView(AccessMixin, BaseView):
    required_capability = Capability.MANAGE_AGENCY

    def _agency(self):
        return current_user.agency

    def _forms(self, **overrides):
        agency = self._agency()
        forms = {
            "geral": GeneralForm(obj=agency),
            "reunioes": MeetingsForm(data={"meetings_enabled": "1" if agency.meetings_enabled
                                                                else "0"}),
            "serasa": SerasaForm(data={
                "serasa_enabled": "1" if agency.serasa_enabled else "0", "soa_email": agency.soa_email,
                "soa_environment": agency.soa_environment, "soa_low_balance": agency.soa_low_balance}),
        }
        forms.update(overrides)
        return forms

    def _render(self, tab="geral", status=200, alive=0, **overrides):
        return self.render("admin/profile.html", forms=self._forms(**overrides), tab=tab, tabs=TABS,
                           agency=self._agency(), brl=brl, alive=alive), status

    @expose("/")
    def index(self):
        tab = request.args.get("tab", "geral")
        return self._render(tab if tab in TABS else "geral")

    @expose("/geral/", methods=("POST",))
    def general_view(self):
        form = GeneralForm(request.form)
        if not form.validate():
            flash("Corrija os campos indicados.", "error")
            return self._render("geral", 400, geral=form)
        agency = self._agency()
        form.populate_obj(agency)
        audit("profile.update", target="Perfil > Geral",
              details=f"nome={agency.name}; cnpj={agency.cnpj}; fuso={agency.timezone}")
        db.session.commit()
        flash("Dados gerais salvos.", "success")
        return redirect(url_for(".index", tab="geral"))

    @expose("/reunioes/", methods=("POST",))
    def meetings_view(self):
        form = MeetingsForm(request.form)
        if not form.validate():
            flash("Escolha Sim ou Não.", "error")
            return self._render("reunioes", 400, reunioes=form)
        agency = self._agency()
        agency.meetings_enabled = form.meetings_enabled.data == "1"
        audit("profile.update", target="Perfil > Reuniões",
              details=f"reunioes={'sim' if agency.meetings_enabled else 'nao'}")
        db.session.commit()
        flash("Cadastro de reuniões " + ("habilitado." if agency.meetings_enabled else "desabilitado."), "success")
        return redirect(url_for(".index", tab="reunioes"))

    @expose("/serasa/", methods=("POST",))
    def serasa_view(self):
        form = SerasaForm(request.form)
        if not form.validate():
            flash("Corrija os campos indicados.", "error")
            return self._render("serasa", 400, serasa=form)
        if request.form.get("action") == "test":
            return self._test_connection(form)
        agency = self._agency()
        try:
            saved = agency.configure_soa(
                enabled=form.serasa_enabled.data == "1", email=form.soa_email.data, password=form.soa_password.data,
                environment=form.soa_environment.data, low_balance=form.soa_low_balance.data,
                keys=current_app.config["CREDENTIALS_KEY"], live_records=lambda: live_records(agency.id),
                confirmed=form.confirm_disable.data)
        except SoaConfigurationRefused as exc:
            flash(str(exc), "warning" if exc.needs_confirmation else "error")
            return self._render("serasa", 200 if exc.needs_confirmation else 400, serasa=form, alive=exc.alive)
        audit("profile.update", target="Perfil > Serasa (SOA WS)", details=saved.audit_details)
        db.session.commit()
        flash("Configuração do Serasa (SOA WebServices) salva.", "success")
        return redirect(url_for(".index", tab="serasa"))

    def _test_connection(self, form):
        agency = self._agency()
        typed_password = form.soa_password.data or None
        if not ((form.soa_email.data or "").strip() or agency.soa_email) or not (
                typed_password or agency.soa_password_encrypted):
            flash("Informe o e-mail e a senha da conta SOA (ou salve-os) antes de testar a conexão.", "error")
            return self._render("serasa", 400, serasa=form)
        try:
            result = soa_account.check_connection(agency, current_user, email=form.soa_email.data,
                                                 password=typed_password, environment=form.soa_environment.data,
                                                 ip=request.remote_addr)
        except soa_account.ConnectionTestFailed as exc:
            flash(str(exc), "error")
            return self._render("serasa", 200, serasa=form)
        message = f"Conexão com o SOA WebServices OK. Saldo disponível: {brl(result.balance)}."
        if not result.saved:
            message += " As credenciais digitadas ainda não foram salvas: digite a senha de novo e clique em Salvar."
        flash(message, "success")
        return self._render("serasa", 200, serasa=form)
