"""CPF/CNPJ helpers: check digits come from validate-docbr, formatting is ours."""

import re

from validate_docbr import CNPJ, CPF

_cpf = CPF()
_cnpj = CNPJ()


def only_digits(value: str | None) -> str:
    """Strip everything but digits."""
    return re.sub(r"\D", "", value or "")


def is_valid_cpf(value: str | None) -> bool:
    """Tell whether ``value`` is a CPF with valid check digits (repeated digits are invalid)."""
    digits = only_digits(value)
    return len(digits) == 11 and _cpf.validate(digits)


def is_valid_cnpj(value: str | None) -> bool:
    """Tell whether ``value`` is a CNPJ with valid check digits (repeated digits are invalid)."""
    digits = only_digits(value)
    return len(digits) == 14 and _cnpj.validate(digits)


def is_valid_document(value: str | None) -> bool:
    """Tell whether ``value`` is a valid CPF or CNPJ."""
    return is_valid_cpf(value) or is_valid_cnpj(value)


def format_document(value: str | None) -> str:
    """Format a CPF as 123.456.789-09 and a CNPJ as 12.345.678/0001-95; anything else as given."""
    digits = only_digits(value)
    if len(digits) == 11:
        return f"{digits[:3]}.{digits[3:6]}.{digits[6:9]}-{digits[9:]}"
    if len(digits) == 14:
        return f"{digits[:2]}.{digits[2:5]}.{digits[5:8]}/{digits[8:12]}-{digits[12:]}"
    return value or ""


def format_cep(value: str | None) -> str:
    """Format a CEP as 01310-100."""
    digits = only_digits(value)
    return f"{digits[:5]}-{digits[5:]}" if len(digits) == 8 else (value or "")
