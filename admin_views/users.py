"""Usuário > Usuários: the agency's logins (admins only)."""

from flask import flash, redirect, request, session, url_for
from flask_admin import expose
from flask_admin.contrib.sqla.validators import Unique
from flask_login import current_user, login_user
from wtforms import PasswordField, SelectField
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError

from admin_views.base import PanelSecureForm, ProtectedModelView, audit
from admin_views.fields import choices
from admin_views.formatting import choice_formatter
from models import db
from models.agency import ROLE_LABELS, Capability, UserNotAllowed

ROLE_CHOICES = choices(ROLE_LABELS.items())
class EndSessionsForm(PanelSecureForm):
    pass


class UserView(ProtectedModelView):
    required_capability = Capability.MANAGE_AGENCY
    details_template = "admin/user/details.html"
    column_list = ["name", "email", "role", "active", "last_login_at"]
    column_details_list = column_list + ["created_at"]
    column_searchable_list = ["name", "email"]
    column_filters = ["role", "active"]
    column_default_sort = ("name", False)
    column_formatters = {"role": choice_formatter(ROLE_LABELS)}
    column_formatters_export = column_formatters
    column_export_exclude_list = ["password_hash"]
    column_export_list = ["name", "email", "role", "active", "last_login_at", "created_at"]
    form_columns = ["name", "email", "role", "active", "new_password"]
    form_overrides = {"role": SelectField}
    form_extra_fields = {
        "new_password": PasswordField("Senha", validators=[Optional(), Length(min=8, message="A senha deve ter ao "
                                                                                          "menos 8 caracteres.")],
                                      description="Na edição, deixe em branco para manter a senha atual."),
    }
    form_args = {
        "name": {"validators": [DataRequired(message="Informe o nome.")]},
        "email": {"label": "E-mail (login)", "validators": [DataRequired(message="Informe o e-mail."),
                                                            Email(message="E-mail inválido.")]},
        "role": {"choices": ROLE_CHOICES, "label": "Perfil de acesso"},
    }

    def scaffold_form(self):
        form_class = super().scaffold_form()
        # Flask-Admin's Unique validator answers "Já existe." for an e-mail of any agency: on_model_change
        # refuses every taken address with the same neutral message instead.
        email = form_class.email
        email.kwargs["validators"] = [v for v in email.kwargs.get("validators", []) if not isinstance(v, Unique)]
        return form_class

    def on_model_change(self, form, model, is_created):
        super().on_model_change(form, model, is_created)
        try:
            model.apply_form(new_password=form.new_password.data, creating=is_created, editor_id=current_user.id)
        except UserNotAllowed as exc:
            raise ValidationError(str(exc)) from None

    def after_model_change(self, form, model, is_created):
        super().after_model_change(form, model, is_created)
        if model.id == current_user.id and session.get("_user_id") != model.get_id():
            login_user(model)  # the admin who changed their own password stays logged in here

    @expose("/details/")
    def details_view(self):
        self._template_args["end_sessions_form"] = EndSessionsForm()
        return super().details_view()

    @expose("/sessions/", methods=("POST",))
    def end_sessions_view(self):
        """Sair de todos os dispositivos: end every session of the user (the agency's admins only)."""
        user = self.get_one(request.args.get("id"))
        form = EndSessionsForm(request.form)
        back = self.get_url(".details_view", id=user.id)
        if not form.validate():
            flash("Não foi possível encerrar as sessões: recarregue a página e tente de novo.", "error")
            return redirect(back)
        user.end_sessions()
        audit("user.end_sessions", target=f"user #{user.id}")
        db.session.commit()
        if user.id == current_user.id:
            flash("Você saiu de todos os dispositivos.", "info")
            return redirect(url_for("auth.login"))
        flash(f"As sessões de {user.name} foram encerradas em todos os dispositivos.", "success")
        return redirect(back)

    def on_model_delete(self, model):
        if model.id == current_user.id:
            raise ValidationError("Você não pode excluir o seu próprio usuário.")
