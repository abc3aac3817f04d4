"""Auditoria: who did what, when (admins only, read-only)."""

from admin_views.base import ProtectedModelView
from models import AuditLog, SoaCall


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


class SoaCallView(ProtectedModelView):
    """Chamadas ao SOA: every call with the password masked (the integration's audit trail)."""

    admin_only = True
    can_create = False
    can_edit = False
    can_delete = False
    column_list = ["created_at", "user", "operation", "http_status", "latency_ms", "result", "attempt"]
    column_details_list = column_list + ["url", "request_body", "response_body"]
    column_select_related_list = (SoaCall.user,)
    column_filters = ["operation", "result", "created_at"]
    column_default_sort = ("created_at", True)
    column_labels = ProtectedModelView.column_labels | {
        "operation": "Operação", "http_status": "HTTP", "latency_ms": "Latência (ms)", "result": "Resultado",
        "attempt": "Tentativa", "url": "Endereço", "request_body": "Requisição (senha mascarada)",
        "response_body": "Resposta"}
    page_size = 50
