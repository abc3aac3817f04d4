"""Usuário > Usuários: the agency's logins (admins only)."""

from flask_login import current_user
from wtforms import PasswordField, SelectField
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError

from admin_views.base import ProtectedModelView
from admin_views.fields import choices
from admin_views.formatting import choice_formatter
from models import User, db
from models.agency import ROLE_LABELS, Role

ROLE_CHOICES = choices(ROLE_LABELS.items())


class UserView(ProtectedModelView):
    admin_only = True
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

    def on_model_change(self, form, model, is_created):
        super().on_model_change(form, model, is_created)
        model.email = model.email.strip().lower()
        if form.new_password.data:
            model.set_password(form.new_password.data)
        elif is_created:
            raise ValidationError("Defina uma senha para o novo usuário.")
        with db.session.no_autoflush:  # the new user is still incomplete: don't write it to look for a clash
            clash = db.session.query(User.id).filter(User.email == model.email,
                                                     User.id != (model.id or 0)).first()
        if clash:
            raise ValidationError("Já existe um usuário com este e-mail.")
        if model.id == current_user.id and (not model.active or model.role != Role.ADMIN):
            raise ValidationError("Você não pode desativar nem rebaixar o seu próprio usuário.")

    def on_model_delete(self, model):
        if model.id == current_user.id:
            raise ValidationError("Você não pode excluir o seu próprio usuário.")
