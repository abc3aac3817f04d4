"""Form fields and validators that speak pt-BR: money, dates in the agency's zone, CPF/CNPJ, CEP, UF."""

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation

from wtforms import fields
from wtforms.fields.choices import SelectChoice
from wtforms.validators import ValidationError
from wtforms.widgets import TextInput

from admin_views.formatting import brl, user_timezone
from models.debtor import UFS
from models.documents import (
    FORMATTED_LENGTHS,
    format_cep,
    format_document,
    is_valid_cnpj,
    is_valid_cpf,
    only_digits,
)
from models.timeutil import to_local, to_utc

BR_DATE = "%d/%m/%Y"
BR_DATETIME = "%d/%m/%Y %H:%M"


def _blank(field, valuelist) -> bool:
    """Treat an input of only blanks as no input at all: ``InputRequired`` then asks for it in pt-BR and
    ``Optional`` skips it (WTForms would otherwise try to parse the spaces, or pass them on as data)."""
    if valuelist and any((v or "").strip() for v in valuelist):
        return False
    field.raw_data = []
    field.data = None
    return True


class MoneyField(fields.DecimalField):
    """Decimal field that accepts R$ 1.234,56, 1.234,56 and 1234.56 and shows 1.234,56 (a text input: a number
    input cannot hold a comma)."""

    widget = TextInput()

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("places", 2)
        render_kw = kwargs.setdefault("render_kw", {})
        render_kw.setdefault("inputmode", "decimal")
        render_kw.setdefault("placeholder", "0,00")
        super().__init__(label, validators, **kwargs)

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        if self.data is None:
            return ""
        return brl(self.data).removeprefix("R$ ")

    def process_formdata(self, valuelist):
        if _blank(self, valuelist):
            return
        raw = valuelist[0].strip().replace("R$", "").replace(" ", "")
        if "," in raw:
            raw = raw.replace(".", "").replace(",", ".")
        try:
            value = Decimal(raw)
        except InvalidOperation:
            self.data = None
            raise ValueError("Valor inválido: use o formato 1.234,56.") from None
        if not value.is_finite() or abs(value) >= Decimal("10000000000"):
            self.data = None
            raise ValueError("Valor fora do intervalo aceito.")
        self.data = value.quantize(Decimal("0.01"))


class BrDateField(fields.DateField):
    """Date typed as 27/11/2026 (a plain text input: Flask-Admin's bundled date picker garbles typed dates)."""

    widget = TextInput()

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("format", BR_DATE)
        render_kw = kwargs.setdefault("render_kw", {})
        render_kw.setdefault("placeholder", "dd/mm/aaaa")
        render_kw.setdefault("inputmode", "numeric")
        render_kw.setdefault("autocomplete", "off")
        super().__init__(label, validators, **kwargs)

    def process_formdata(self, valuelist):
        if _blank(self, valuelist):
            return
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError("Data inválida: use o formato dd/mm/aaaa.") from None


class LocalDateTimeField(fields.DateTimeField):
    """Date-time typed in the agency's time zone (27/11/2026 14:30) and stored as naive UTC.

    A plain text input: Flask-Admin's bundled daterangepicker rewrites typed text (flask-admin #987/#1746).
    """

    widget = TextInput()

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("format", BR_DATETIME)
        render_kw = kwargs.setdefault("render_kw", {})
        render_kw.setdefault("placeholder", "dd/mm/aaaa hh:mm")
        render_kw.setdefault("autocomplete", "off")
        super().__init__(label, validators, **kwargs)

    def process_data(self, value):
        self.data = to_local(value, user_timezone()).replace(tzinfo=None) if isinstance(value, datetime) else value

    def process_formdata(self, valuelist):
        if _blank(self, valuelist):
            return
        text = " ".join(valuelist).strip()
        for fmt in (BR_DATETIME, "%d/%m/%Y %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"):
            try:
                self.data = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        else:
            self.data = None
            raise ValueError("Data e hora inválidas: use o formato dd/mm/aaaa hh:mm.")
        if not 1900 < self.data.year < 2200:
            self.data = None
            raise ValueError("Data fora do intervalo aceito.")

    @property
    def utc_data(self) -> datetime | None:
        return to_utc(self.data, user_timezone()) if self.data else None

    def populate_obj(self, obj, name):
        setattr(obj, name, self.utc_data)


class FormattedTextField(fields.StringField):
    """A text typed with punctuation (CPF/CNPJ, CEP) and stored as digits.

    The input takes as many characters as the formatted value has (``maxlength`` of the formatted text, not of
    the stored digits: a browser cuts what is typed beyond it), shows the stored value formatted, and redisplays
    what was typed after a refused submit. Its validator (which checks and normalises) runs even when the
    screen gives its own list of validators.
    """

    kind = ""
    check = None
    formatter = None

    def __init__(self, label=None, validators=None, **kwargs):
        validators = list(validators or [])
        if type(self).check not in validators:
            validators.append(type(self).check)
        render_kw = dict(kwargs.pop("render_kw", None) or {})
        render_kw.setdefault("maxlength", FORMATTED_LENGTHS[self.kind])
        render_kw.setdefault("inputmode", "numeric")
        render_kw.setdefault("autocomplete", "off")
        kwargs.pop("filters", None)  # Flask-Admin's "blank to None" filter: the validator normalises
        super().__init__(label, validators, render_kw=render_kw, **kwargs)

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return type(self).formatter(self.data) if self.data else ""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        self.data = (self.data or "").strip() or None


def valid_document(form, field):
    """Accept a CPF or CNPJ with valid check digits, with or without punctuation."""
    digits = only_digits(field.data)
    if re.search(r"[^\d.\-/\s]", field.data or ""):
        raise ValidationError("CPF/CNPJ deve conter apenas números (pontuação é opcional).")
    if len(digits) == 11 and is_valid_cpf(digits) or len(digits) == 14 and is_valid_cnpj(digits):
        field.data = digits
        return
    kind = "CPF" if len(digits) == 11 else "CNPJ" if len(digits) == 14 else "CPF/CNPJ"
    if kind == "CPF/CNPJ":
        raise ValidationError("Informe um CPF (11 dígitos) ou CNPJ (14 dígitos).")
    raise ValidationError(f"{kind} inválido: os dígitos verificadores não conferem.")


def valid_cnpj(form, field):
    digits = only_digits(field.data)
    if not is_valid_cnpj(digits):
        raise ValidationError("CNPJ inválido: confira os 14 dígitos.")
    field.data = digits


def valid_cep(form, field):
    if not field.data:
        return
    if not re.fullmatch(r"[0-9]{5}[-.]?[0-9]{3}", field.data.strip()):  # ASCII digits only, not any Unicode digit
        raise ValidationError("CEP inválido: informe 8 dígitos (ex.: 01310-100).")
    field.data = only_digits(field.data)


def valid_uf(form, field):
    if not field.data:
        return
    value = field.data.strip().upper()
    if value not in UFS:
        raise ValidationError("UF inválida: use a sigla do estado (ex.: SP).")
    field.data = value


class DocumentField(FormattedTextField):
    """CPF (123.456.789-09) or CNPJ (12.345.678/0001-95), with or without punctuation; stored as digits."""

    kind = "document"
    check = staticmethod(valid_document)
    formatter = staticmethod(format_document)


class CnpjField(FormattedTextField):
    kind = "cnpj"
    check = staticmethod(valid_cnpj)
    formatter = staticmethod(format_document)


class CepField(FormattedTextField):
    kind = "cep"
    check = staticmethod(valid_cep)
    formatter = staticmethod(format_cep)


#: The field of each ``info={"input": ...}`` a model column declares (see models/documents.py).
FORMATTED_FIELDS = {"document": DocumentField, "cnpj": CnpjField, "cep": CepField}


def not_in_future(form, field):
    """Refuse a birth date after today (or absurdly old)."""
    from datetime import date

    if field.data and not date(1900, 1, 1) <= field.data <= date.today():
        raise ValidationError("Data de nascimento inválida: não pode estar no futuro.")


def positive_amount(form, field):
    if field.data is not None and field.data <= 0:
        raise ValidationError("O valor deve ser maior que zero.")


def choices(pairs) -> list[SelectChoice]:
    """Turn (value, label) pairs into WTForms 3.3 SelectChoice objects."""
    return [SelectChoice(str(value), label) for value, label in pairs]
