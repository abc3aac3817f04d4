"""pt-BR display of dates, money, documents and booleans."""

from datetime import date, datetime
from decimal import Decimal

from flask_admin.model import typefmt
from flask_login import current_user
from markupsafe import Markup

from models.display import br_date, brl
from models.documents import format_cep, format_document
from models.timeutil import DEFAULT_TIMEZONE, to_local


def user_timezone() -> str:
    try:
        return current_user.agency.timezone or DEFAULT_TIMEZONE
    except AttributeError:
        return DEFAULT_TIMEZONE


def br_datetime(value: datetime | None, tz_name: str | None = None) -> str:
    """Show a naive-UTC datetime in the agency's time zone as 27/11/2026 14:30."""
    if not value:
        return ""
    local = to_local(value, tz_name or user_timezone())
    return f"{br_date(local)} {local.hour:02d}:{local.minute:02d}"


def _bool(view, value, name=None):
    return "Sim" if value else "Não"


def _datetime(view, value, name=None):
    return br_datetime(value)


def _date(view, value, name=None):
    return br_date(value)


def _decimal(view, value, name=None):
    return brl(value)


def _decimal_html(view, value, name=None):
    return Markup('<span class="text-nowrap">%s</span>') % brl(value)


TYPE_FORMATTERS = dict(typefmt.BASE_FORMATTERS)
TYPE_FORMATTERS.update({bool: _bool, datetime: _datetime, date: _date, Decimal: _decimal_html})
DETAIL_FORMATTERS = dict(typefmt.DETAIL_FORMATTERS)
DETAIL_FORMATTERS.update({bool: _bool, datetime: _datetime, date: _date, Decimal: _decimal})
EXPORT_FORMATTERS = dict(typefmt.EXPORT_FORMATTERS)
EXPORT_FORMATTERS.update({bool: _bool, datetime: _datetime, date: _date, Decimal: _decimal})


def document_formatter(view, context, model, name):
    return format_document(getattr(model, name))


def cep_formatter(view, context, model, name):
    return format_cep(getattr(model, name))


def choice_formatter(labels: dict):
    """Show an enum code with its pt-BR label."""
    def fmt(view, context, model, name):
        value = getattr(model, name)
        return labels.get(value, value or "")
    return fmt


def nullable_bool_formatter(view, context, model, name):
    value = getattr(model, name)
    return Markup('<span class="text-muted">Não respondido</span>') if value is None else ("Sim" if value else "Não")
