"""Auditoria: who did what, when (admins only, read-only)."""

from admin_views.base import ProtectedModelView
from models import AuditLog


class AuditLogView(ProtectedModelView):
    admin_only = True
    can_create = False
    can_edit = False
    can_delete = False
    column_list = ["created_at", "user", "action", "target", "ip"]
    column_details_list = column_list + ["details"]
    column_select_related_list = (AuditLog.user,)
    column_searchable_list = ["action", "target"]
    column_filters = ["action", "created_at", "user.name"]
    column_labels = ProtectedModelView.column_labels | {"user.name": "Usuário"}
    column_default_sort = ("created_at", True)
    page_size = 50
