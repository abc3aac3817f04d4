"""Cadastros > Credores."""

from wtforms.validators import DataRequired, Email, Optional

from admin_views.base import ProtectedModelView
from admin_views.fields import valid_cnpj
from admin_views.formatting import document_formatter


class CreditorView(ProtectedModelView):
    column_list = ["name", "cnpj", "contact_name", "contact_email", "phone"]
    column_details_list = ["name", "cnpj", "contact_name", "contact_email", "phone", "created_at"]
    column_searchable_list = ["name", "cnpj"]
    column_filters = ["name"]
    column_default_sort = ("name", False)
    column_formatters = {"cnpj": document_formatter}
    column_formatters_export = column_formatters
    form_columns = ["name", "cnpj", "contact_name", "contact_email", "phone"]
    form_args = {
        "name": {"validators": [DataRequired(message="Informe o nome do credor.")]},
        "cnpj": {"validators": [DataRequired(message="Informe o CNPJ."), valid_cnpj]},
        "contact_email": {"validators": [Optional(), Email(message="E-mail inválido.")]},
    }
