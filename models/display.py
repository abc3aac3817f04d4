"""pt-BR display of money and dates (Babel), for every layer: screens, services, exports and e-mails."""

from datetime import date
from decimal import Decimal

from babel.numbers import format_decimal


def brl(value: Decimal | int | float | None) -> str:
    """Format money as R$ 1.234,56."""
    if value is None:
        return ""
    return f"R$ {format_decimal(Decimal(value), format='#,##0.00', locale='pt_BR')}"


def br_date(value: date | None) -> str:
    """Format a date as 31/12/2026."""
    return value.strftime("%d/%m/%Y") if value else ""
