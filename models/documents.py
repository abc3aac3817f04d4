"""CPF/CNPJ helpers: check digits come from validate-docbr, formatting is ours."""

import re

from validate_docbr import CNPJ, CPF

_cpf = CPF()
_cnpj = CNPJ()

#: What a column holding a document or a CEP declares (``mapped_column(..., info=DOCUMENT)``): forms give it an
#: input as long as the formatted value, and searches, filters and pickers compare it by its digits.
DOCUMENT = {"input": "document"}
CNPJ_ONLY = {"input": "cnpj"}
CEP = {"input": "cep"}
#: Characters of the formatted value a person types: 12.345.678/0001-95, 01310-100.
FORMATTED_LENGTHS = {"document": 18, "cnpj": 18, "cep": 9}
#: A search term that is a document typed with or without punctuation (also a part of it: a CNPJ root).
_DOCUMENT_TERM = re.compile(r"[0-9][0-9.\-/]*")


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


#: A whole CPF or CNPJ as people type it, with its punctuation: 796.668.098-34, 11.222.333/0001-81.
_WHOLE_DOCUMENT = re.compile(r"[0-9]{3}\.[0-9]{3}\.[0-9]{3}-[0-9]{2}|[0-9]{2}\.[0-9]{3}\.[0-9]{3}/[0-9]{4}-[0-9]{2}")


def valid_document_digits(term: str) -> str | None:
    """A search word of 11 or 14 digits with a CPF's or CNPJ's check digits (pasted from a spreadsheet), else None:
    in a document column it is that document (a CNPJ holding a valid CPF's 11 digits by chance is not it); other
    columns (a numeric contract) still search it as text."""
    term = (term or "").strip()
    return term if term.isascii() and term.isdigit() and is_valid_document(term) else None


def whole_document_term(term: str) -> str | None:
    """The digits of a search word typed as a whole, punctuated CPF or CNPJ (which only a document column can
    hold), else None."""
    term = (term or "").strip()
    return only_digits(term) if _WHOLE_DOCUMENT.fullmatch(term) else None


def document_term(term: str) -> str | None:
    """The digits of a search term typed as (part of) a CPF/CNPJ or CEP — ``796.668.098-34``, ``11.222.333`` — or
    None when the term is not one (has letters or other symbols)."""
    term = (term or "").strip()
    if not _DOCUMENT_TERM.fullmatch(term) or not term.isascii():
        return None
    return only_digits(term)


def format_cep(value: str | None) -> str:
    """Format a CEP as 01310-100."""
    digits = only_digits(value)
    return f"{digits[:5]}-{digits[5:]}" if len(digits) == 8 else (value or "")
