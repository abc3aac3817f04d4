"""Auditoria: who did what, when (admins only, read-only), with pt-BR names for what the logs record."""

import re

from admin_views.base import ProtectedModelView
from models import AuditLog, SoaCall
from models.agency import Capability
from models.meeting import EMAIL_KIND_LABELS

#: The screens and objects named in audit entries (``<endpoint>.<verb>``, ``<endpoint> #<id>``).
OBJECT_LABELS = {
    "meeting": "Reunião", "creditor": "Credor", "debtor": "Devedor", "debt": "Dívida",
    "negotiation": "Negociação", "finance_negotiation": "Negociação", "negativation": "Negativação",
    "user": "Usuário", "profile": "Perfil", "serasa": "Serasa", "login": "Acesso",
    "calendar_feed": "Calendário assinado",
}
VERB_LABELS = {
    "create": "criação", "update": "alteração", "delete": "exclusão", "include": "inclusão de negativação",
    "exclude": "baixa de negativação", "sync": "atualização de situação", "test_connection": "teste de conexão",
    "failed": "senha incorreta", "inactive": "usuário inativo",
    "send_limit": "envio recusado pelo limite", "end_sessions": "sessões encerradas em todos os dispositivos",
    "enable": "ativação", "regenerate": "novo endereço", "revoke": "desativação", "scope": "escolha das reuniões",
} | {str(kind): f"envio de {label.lower()}" for kind, label in EMAIL_KIND_LABELS.items()}
WHOLE_ACTION_LABELS = {"login": "Entrada no painel", "logout": "Saída do painel", "export": "Exportação de dados"}

#: SOA WebServices operations (the client's names) and call outcomes.
OPERATION_LABELS = {
    "balance": "Consulta de saldo", "include": "Inclusão", "consult": "Consulta de negativação",
    "exclude": "Baixa (exclusão)", "list": "Listagem de negativações",
    "restriction_codes": "Códigos de restrição", "exclusion_codes": "Códigos de baixa",
}
RESULT_LABELS = {
    "ok": "OK", "SerasaError": "Erro", "SerasaBadCredentials": "Credenciais recusadas",
    "SerasaNoCredit": "Sem crédito", "SerasaRefused": "Recusada pelo SOA", "SerasaUnavailable": "SOA indisponível",
    "SerasaTimeout": "Tempo esgotado (resultado incerto)", "SerasaMalformed": "Resposta inválida",
}


def action_label(action: str | None) -> str:
    """``meeting.update`` → ``Reunião: alteração``; unknown names are shown as recorded."""
    if not action:
        return ""
    if action in WHOLE_ACTION_LABELS:
        return WHOLE_ACTION_LABELS[action]
    subject, _, verb = action.partition(".")
    if subject in OBJECT_LABELS and verb in VERB_LABELS:
        return f"{OBJECT_LABELS[subject]}: {VERB_LABELS[verb]}"
    return action


def target_label(target: str | None) -> str:
    """``negativation #2`` → ``Negativação nº 2``."""
    if not target:
        return ""
    found = re.fullmatch(r"(\w+) #(\d+)", target)
    if found and found.group(1) in OBJECT_LABELS:
        return f"{OBJECT_LABELS[found.group(1)]} nº {found.group(2)}"
    return target


def _labelled(label):
    return lambda view, context, model, name: label(getattr(model, name))


class AuditLogView(ProtectedModelView):
    required_capability = Capability.SEE_AUDIT
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
    column_formatters = {"action": _labelled(action_label), "target": _labelled(target_label)}
    column_formatters_detail = column_formatters
    column_formatters_export = column_formatters
    page_size = 50


class SoaCallView(ProtectedModelView):
    """Chamadas ao SOA: every call with the password masked (the integration's audit trail)."""

    required_capability = Capability.SEE_AUDIT
    can_create = False
    can_edit = False
    can_delete = False
    column_list = ["created_at", "user", "operation", "http_status", "latency_ms", "result", "attempt"]
    column_details_list = column_list + ["url", "request_body", "response_body"]
    column_select_related_list = (SoaCall.user,)
    column_filters = ["operation", "result", "created_at"]
    column_choices = {"operation": list(OPERATION_LABELS.items()), "result": list(RESULT_LABELS.items())}
    column_default_sort = ("created_at", True)
    column_labels = ProtectedModelView.column_labels | {
        "operation": "Operação", "http_status": "HTTP", "latency_ms": "Latência (ms)", "result": "Resultado",
        "attempt": "Tentativa", "url": "Endereço", "request_body": "Requisição (senha mascarada)",
        "response_body": "Resposta"}
    column_formatters = {"operation": _labelled(lambda v: OPERATION_LABELS.get(v, v or "")),
                         "result": _labelled(lambda v: RESULT_LABELS.get(v, v or ""))}
    column_formatters_detail = column_formatters
    column_formatters_export = column_formatters
    page_size = 50
