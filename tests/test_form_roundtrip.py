"""Form round trip: every model screen of the admin, for every role allowed to create or edit there.

The screens are discovered from the Flask-Admin instance (``app.extensions["admin"]``), so a new screen is covered
the day it is registered. For each one the test fills the create form the way a person does — formatted CPF/CNPJ
and CEP, pt-BR dates (``05/12/2026``, ``05/12/2026 14:30``) and money (``R$ 1.234,56``), an option of each select,
and relationship pickers resolved through their ajax lookup endpoints like select2 does — posts it with its CSRF
token, checks that the row was saved with those values and that the edit form shows them back; then posts the edit
form untouched: no error, and nothing in the row changes.

Values come from the form's own fields (by field class, with a small table of fields whose value depends on the
business: a birth date in the past, the debts of the chosen debtor...). A field class without a generator fails
the test: add one rather than letting a new screen go unchecked.
"""

import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from itertools import count
from urllib.parse import parse_qsl

import pytest
from flask_admin.contrib.sqla import ModelView
from flask_login import login_user
from sqlalchemy import func, select
from validate_docbr import CNPJ, CPF
from werkzeug.datastructures import MultiDict
from wtforms import Form
from wtforms import fields as wtf
from wtforms.validators import URL, Email

from admin_views import fields as panel
from admin_views.base import (
    PanelAjaxSelectField,
    PanelAjaxSelectMultipleField,
    PanelQuerySelectField,
    row_fingerprint,
)
from admin_views.meetings import ProductiveField
from models import Agency, User, db
from models.documents import only_digits
from models.timeutil import to_local
from tests.conftest import CSRF_RE

_seq = count(1)
ROLES = ["admin_a", "sup_a", "cons_a1"]


# --- the screens -----------------------------------------------------------------------------------------------


def model_views(app):
    admins = app.extensions["admin"]
    admins = admins if isinstance(admins, list) else [admins]
    return [view for admin in admins for view in admin._views if isinstance(view, ModelView)]


def writable_screens(app, user_id: int) -> list[tuple[str, bool, bool]]:
    """(endpoint, can_create, can_edit) of every model screen the user may create or edit on."""
    screens = []
    with app.test_request_context():
        login_user(db.session.get(User, user_id))
        for view in model_views(app):
            if view.is_accessible() and (view.can_create or view.can_edit):
                screens.append((view.endpoint, bool(view.can_create), bool(view.can_edit)))
    return screens


def test_discovery_finds_the_screens_people_fill(app, world):
    """The discovery sees what the manual lists: guard against a discovery that silently finds nothing."""
    with app.app_context():
        db.session.get(Agency, world.a.id).serasa_enabled = True
        db.session.commit()
        admin = {s[0] for s in writable_screens(app, world.admin_a.id)}
        consultant = {s[0] for s in writable_screens(app, world.cons_a1.id)}
    assert {"meeting", "creditor", "debtor", "debt", "negotiation", "finance_negotiation", "user"} <= admin
    assert {"meeting", "negotiation", "finance_negotiation"} <= consultant
    assert not consultant & {"creditor", "debtor", "debt", "user", "audit", "negativation"}


# --- reading a form as the browser does -----------------------------------------------------------------------


class FormReader(HTMLParser):
    """The first model form of a page: what each control would submit untouched, and its attributes."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.controls: dict[str, dict] = {}
        self.order: list[str] = []
        self._in_form = False
        self._done = False
        self._select = None
        self._option = None
        self._textarea = None

    def _control(self, name, **info):
        if name not in self.controls:
            self.order.append(name)
            self.controls[name] = info
        return self.controls[name]

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form" and not self._done and "admin-form" in a.get("class", ""):
            self._in_form = True
        if tag == "option" and self._select is not None:
            self._option = {"value": a.get("value"), "selected": "selected" in a, "label": ""}
            return
        if not self._in_form or "name" not in a:
            return
        if tag == "input":
            kind = a.get("type", "text")
            if kind in ("submit", "button", "reset"):
                return
            control = self._control(a["name"], tag="input", type=kind, attrs=a, values=[])
            if kind in ("checkbox", "radio"):
                control.setdefault("choices", []).append(a.get("value", "on"))
                if "checked" in a:
                    control["values"].append(a.get("value", "on"))
            else:
                control["values"] = [a.get("value", "")]
        elif tag == "select":
            self._select = self._control(a["name"], tag="select", attrs=a, options=[], multiple="multiple" in a)
        elif tag == "textarea":
            self._textarea = self._control(a["name"], tag="textarea", attrs=a, values=[""])

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea["values"][0] += data
        if self._option is not None:
            self._option["label"] += data

    def handle_endtag(self, tag):
        if tag == "form" and self._in_form:
            self._in_form, self._done = False, True
        elif tag == "option" and self._option is not None and self._select is not None:
            if self._option["value"] is None:
                self._option["value"] = self._option["label"].strip()
            self._select["options"].append(self._option)
            self._option = None
        elif tag == "select" and self._select is not None:
            options = self._select["options"]
            chosen = [o["value"] for o in options if o["selected"]]
            if not chosen and options and not self._select["multiple"]:
                chosen = [options[0]["value"]]  # what a browser submits for an untouched single select
            self._select["values"] = chosen
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            # As a browser reads it: line breaks as LF, the newline right after <textarea> dropped.
            value = self._textarea["values"][0].replace("\r\n", "\n").replace("\r", "\n")
            self._textarea["values"][0] = value[1:] if value.startswith("\n") else value
            self._textarea = None

    def submission(self) -> dict[str, list[str]]:
        """What the browser posts untouched (it sends a textarea's line breaks as CRLF)."""
        return {name: [v.replace("\n", "\r\n") if self.controls[name]["tag"] == "textarea" else v
                       for v in self.controls[name]["values"]] for name in self.order}


def read_form(html: str) -> FormReader:
    reader = FormReader()
    reader.feed(html)
    assert reader.order, "no model form on the page"
    return reader


# --- values a person types, by field class ----------------------------------------------------------------------


def _future_start() -> datetime:
    return (datetime.now() + timedelta(days=5)).replace(hour=14, minute=30, second=0, microsecond=0)


def _validator_names(field) -> set[str]:
    return {getattr(v, "__name__", type(v).__name__) for v in field.validators}


def _text_for(field, control) -> str:
    """A realistic text for a plain text input, from its validators and size."""
    names = _validator_names(field)
    if any(isinstance(v, Email) for v in field.validators):
        return f"contato{next(_seq)}@credor-exemplo.com.br"
    if any(isinstance(v, URL) for v in field.validators):
        return "https://meet.exemplo.com.br/sala-12"
    if "valid_uf" in names:
        return "SP"
    if field.name == "phone":
        return "(11) 98765-4321"
    maxlength = int(control["attrs"].get("maxlength") or 60)
    return f"{field.label.text} {next(_seq)} — ação".strip()[:maxlength].strip()


def _lookup(client, control, term: str) -> list:
    url = control["attrs"]["data-url"]
    path, _, query = url.partition("?")
    args = dict(parse_qsl(query)) | {"query": term, "offset": 0, "limit": 10}  # what select2 sends
    response = client.get(path, query_string=args)
    assert response.status_code == 200, (url, term, response.status_code)
    return response.json


#: Fields whose valid value depends on the business, not on the field's class: (field name) -> value maker.
#: Pickers take a lookup term, typed in select2 as a person would.
LOOKUP_TERMS = {"debtor": "Devedor de A1", "debts": "CT-A1"}
#: A payment date belongs to a paid debt / a settled negotiation: the status that makes it meaningful.
PAYMENT_DATE_STATUS = {"paid_on": "paga", "settled_on": "quitada"}


def typed_value(client, endpoint: str, field, control, chosen: dict) -> list[str]:
    """What the person types or picks in ``field`` (its WTForms field, its rendered control)."""
    name = field.name
    if isinstance(field, panel.DocumentField):
        return [format_cpf(CPF().generate())]
    if isinstance(field, panel.CnpjField):
        return [CNPJ().generate(mask=True)]
    if isinstance(field, panel.CepField):
        return ["01310-100"]
    if isinstance(field, panel.MoneyField):
        return ["R$ 1.234,56"]
    if isinstance(field, panel.BrDateField) and name in PAYMENT_DATE_STATUS:
        paid = chosen.get("status") == [PAYMENT_DATE_STATUS[name]]
        return [(date.today() - timedelta(days=1)).strftime("%d/%m/%Y")] if paid else [""]
    if isinstance(field, panel.BrDateField):
        return ["17/05/1980" if name == "birth_date" else "05/12/2026"]
    if isinstance(field, panel.LocalDateTimeField):
        start = _future_start()
        moment = start + timedelta(minutes=90) if name == "ends_at" else start
        return [moment.strftime("%d/%m/%Y %H:%M")]
    if isinstance(field, (ProductiveField, wtf.RadioField)):
        return [control["choices"][-1]]
    if isinstance(field, wtf.BooleanField) and name == "already_happened":
        return [""]  # unticked: it asks for a past start; the round trip schedules ahead (see test_meeting_depth)
    if isinstance(field, wtf.BooleanField):
        return ["y"]
    if isinstance(field, wtf.PasswordField):
        return ["senha-nova-segura-1"]
    if isinstance(field, wtf.IntegerField):
        return ["12"]
    if isinstance(field, (PanelAjaxSelectField, PanelAjaxSelectMultipleField)):
        found = _lookup(client, control, LOOKUP_TERMS.get(name, "a"))
        assert found, f"{endpoint}.{name}: the picker's lookup offers nothing"
        return [str(found[0][0])]
    if name == "status" and set(PAYMENT_DATE_STATUS.values()) & {o["value"] for o in control["options"]}:
        return [next(o["value"] for o in control["options"] if o["value"] in PAYMENT_DATE_STATUS.values())]
    if isinstance(field, (PanelQuerySelectField, wtf.SelectField)):
        options = [o["value"] for o in control["options"] if o["value"] not in ("", "__None")]
        assert options, f"{endpoint}.{name}: no option to choose"
        return [options[0]]
    if isinstance(field, wtf.TextAreaField):
        if "_participants_validator" in _validator_names(field):
            return ["ana@credor-exemplo.com.br\nbeto@credor-exemplo.com.br"]
        return ["Primeira linha da anotação.\nSegunda linha, com acentuação: ção."]
    if type(field) is wtf.StringField:
        return [_text_for(field, control)]
    if isinstance(field, wtf.HiddenField):
        return control["values"]
    pytest.fail(f"{endpoint}.{name}: no value generator for {type(field).__name__}; add one to "
                f"tests/test_form_roundtrip.py (every field of every screen is round-tripped)")


def format_cpf(digits: str) -> str:
    return f"{digits[:3]}.{digits[3:6]}.{digits[6:9]}-{digits[9:]}"


# --- comparing what was typed with what was stored and shown back ---------------------------------------------


def canonical(field, value: str):
    """The meaning of a typed value, whatever its formatting."""
    value = (value or "").strip()
    if isinstance(field, panel.FormattedTextField):
        return only_digits(value)
    if isinstance(field, panel.MoneyField):
        return Decimal(value.replace("R$", "").replace(".", "").replace(",", ".").strip()) if value else None
    if isinstance(field, panel.BrDateField):
        return datetime.strptime(value, "%d/%m/%Y").date() if value else None
    if isinstance(field, panel.LocalDateTimeField):
        return datetime.strptime(value, "%d/%m/%Y %H:%M") if value else None
    if isinstance(field, wtf.TextAreaField):
        return "\n".join(line.strip() for line in value.replace("\r\n", "\n").split("\n") if line.strip())
    return value


def stored(field, model, typed: list[str], user_tz: str):
    """The stored value of ``field`` in the meaning ``canonical`` gives to typed text (None: not a column)."""
    if not hasattr(model, field.name) or field.name.startswith("new_"):
        return None
    value = getattr(model, field.name)
    if isinstance(field, (PanelAjaxSelectMultipleField,)):
        return sorted(str(v.id) for v in value)
    if isinstance(field, (PanelQuerySelectField, PanelAjaxSelectField)):
        return str(value.id) if value is not None else ""
    if isinstance(field, panel.LocalDateTimeField):
        return to_local(value, user_tz).replace(tzinfo=None) if value else None
    if isinstance(field, (panel.MoneyField, panel.BrDateField)):
        return value
    if isinstance(field, ProductiveField):
        return {None: "", True: "1", False: "0"}[value]
    if isinstance(field, wtf.BooleanField):
        return "y" if value else ""
    if isinstance(field, wtf.IntegerField):
        return str(value)
    if isinstance(value, str) or value is None:
        return canonical(field, value or "")
    return str(value)


# --- the round trip ------------------------------------------------------------------------------------------


def _view(app, endpoint):
    return next(v for v in model_views(app) if v.endpoint == endpoint)


def _form_fields(app, endpoint, user_id, kind: str, obj_id=None):
    """The WTForms fields of the screen's create or edit form, as the user gets it."""
    view = _view(app, endpoint)
    with app.test_request_context():
        login_user(db.session.get(User, user_id))
        form = view.create_form() if kind == "create" else view.edit_form(view.get_one(str(obj_id)))
        return {field.name: field for field in form}


def _post(client, url, data: dict[str, list[str]]):
    flat = MultiDict([(name, value) for name, values in data.items() for value in values])
    return client.post(url, data=flat, follow_redirects=False)


def _refused(response) -> str:
    errors = re.findall(r'class="invalid-feedback[^"]*"[^>]*>\s*(.*?)\s*<', response.text, flags=re.S)
    alerts = re.findall(r'class="alert alert-danger[^"]*"[^>]*>(.*?)</div>', response.text, flags=re.S)
    alerts = [" ".join(re.sub(r"<[^>]+>", " ", a).split()) for a in alerts]
    return f"{response.status_code}: {errors} {alerts}"


def _snapshot(app, model, row_id):
    with app.app_context():
        row = db.session.get(model, row_id)
        columns = {c.key: getattr(row, c.key) for c in row.__mapper__.column_attrs if c.key != "updated_at"}
        related = {r.key: sorted(x.id for x in getattr(row, r.key)) for r in row.__mapper__.relationships
                   if r.uselist and r.secondary is not None}
        return columns | related


def _round_trip(app, client, endpoint: str, user_id: int, can_create: bool, can_edit: bool, problems: list):
    view = _view(app, endpoint)
    model = view.model
    base = f"/admin/{endpoint}"
    with app.app_context():
        user = db.session.get(User, user_id)
        tz = user.agency.timezone
        last_id = db.session.scalar(select(func.max(model.id))) or 0
    row_id = None
    if can_create:
        page = client.get(f"{base}/new/")
        assert page.status_code == 200, (endpoint, page.status_code)
        reader = read_form(page.text)
        fields = _form_fields(app, endpoint, user_id, "create")
        data = reader.submission()
        typed = {}
        for name in reader.order:
            if name in ("csrf_token", "row_version"):
                continue
            assert name in fields, f"{endpoint}: control {name} is not a field of the form"
            typed[name] = typed_value(client, endpoint, fields[name], reader.controls[name], typed)
            data[name] = [v.replace("\n", "\r\n") for v in typed[name]] \
                if reader.controls[name]["tag"] == "textarea" else typed[name]  # as the browser sends it
        data["csrf_token"] = [CSRF_RE.search(page.text).group(1)]
        response = _post(client, f"{base}/new/", data)
        if response.status_code != 302:
            problems.append(f"{endpoint} create as user {user_id}: refused {_refused(response)} with {typed}")
            return
        with app.app_context():
            row = db.session.scalars(select(model).where(model.id > last_id).order_by(model.id.desc())).first()
            if row is None:
                problems.append(f"{endpoint} create as user {user_id}: redirected but nothing saved")
                return
            row_id = row.id
            for name, values in typed.items():
                field = fields[name]
                expected = sorted(values) if isinstance(field, PanelAjaxSelectMultipleField) else \
                    canonical(field, values[0]) if not isinstance(field, (PanelQuerySelectField,
                                                                           PanelAjaxSelectField)) else values[0]
                got = stored(field, row, values, tz)
                if "\r" in str(getattr(row, name, "") or ""):
                    problems.append(f"{endpoint}.{name} as user {user_id}: stored the browser's CRLF line breaks")
                if got is not None and got != expected:
                    problems.append(f"{endpoint}.{name} as user {user_id}: typed {values!r}, stored {got!r}")
        # The edit form shows back what was typed (formatted the Brazilian way).
        edit = client.get(f"{base}/edit/?id={row_id}")
        assert edit.status_code == 200
        shown = read_form(edit.text)
        for name, values in typed.items():
            field = fields[name]
            if name not in shown.controls or isinstance(field, (wtf.PasswordField, wtf.HiddenField)):
                continue
            if not hasattr(model, name):  # a form-only helper (e.g. a duration that fills the end): not stored
                continue
            back = shown.controls[name]["values"]
            if isinstance(field, (PanelAjaxSelectField, PanelAjaxSelectMultipleField, PanelQuerySelectField,
                                  wtf.SelectField, wtf.RadioField, wtf.BooleanField)):
                ok = sorted(back) == sorted(values)
            else:
                ok = canonical(field, back[0] if back else "") == canonical(field, values[0])
                if ok and isinstance(field, (panel.MoneyField, panel.FormattedTextField)):
                    ok = back[0] == _brazilian(field, values[0])
            if not ok:
                problems.append(f"{endpoint}.{name} as user {user_id}: typed {values!r}, edit form shows {back!r}")
        _edit_only_fields(app, client, endpoint, model, row_id, user_id, set(typed), tz, problems)
    else:  # edit only: the first row the list offers for editing
        found = re.search(r'/edit/\?id=(\d+)', client.get(f"{base}/").text)
        row_id = int(found.group(1)) if found else None
    if can_edit and row_id is not None:
        _untouched_edit(app, client, endpoint, model, row_id, user_id, problems)


def _brazilian(field, typed: str) -> str:
    """How the panel shows back a typed money or document value."""
    if isinstance(field, panel.MoneyField):
        return typed.replace("R$", "").strip()
    return typed


def _edit_only_fields(app, client, endpoint, model, row_id, user_id, filled: set, tz, problems):
    """Fields offered only when editing (e.g. a meeting's outcome): type them, save, read them back."""
    url = f"/admin/{endpoint}/edit/?id={row_id}"
    page = client.get(url)
    reader = read_form(page.text)
    fields = _form_fields(app, endpoint, user_id, "edit", row_id)
    data = reader.submission()
    typed = {}
    for name in reader.order:
        if name in filled or name in ("csrf_token", "row_version") or name not in fields:
            continue
        if isinstance(fields[name], (wtf.PasswordField, wtf.HiddenField)):
            continue
        typed[name] = typed_value(client, endpoint, fields[name], reader.controls[name], typed)
        data[name] = [v.replace("\n", "\r\n") for v in typed[name]] \
            if reader.controls[name]["tag"] == "textarea" else typed[name]
    if not typed:
        return
    response = _post(client, url, data)
    if response.status_code != 302:
        problems.append(f"{endpoint} edit as user {user_id}: refused {_refused(response)} with {typed}")
        return
    with app.app_context():
        row = db.session.get(model, row_id)
        for name, values in typed.items():
            field = fields[name]
            expected = values[0] if isinstance(field, (PanelQuerySelectField, PanelAjaxSelectField)) \
                else canonical(field, values[0])
            got = stored(field, row, values, tz)
            if got is not None and got != expected:
                problems.append(f"{endpoint}.{name} (edit) as user {user_id}: typed {values!r}, stored {got!r}")
    shown = read_form(client.get(url).text)
    for name, values in typed.items():
        back = shown.controls.get(name, {}).get("values")
        if back is not None and canonical(fields[name], back[0] if back else "") != canonical(fields[name],
                                                                                              values[0]):
            problems.append(f"{endpoint}.{name} (edit) as user {user_id}: typed {values!r}, form shows {back!r}")


def _untouched_edit(app, client, endpoint, model, row_id, user_id, problems):
    before = _snapshot(app, model, row_id)
    url = f"/admin/{endpoint}/edit/?id={row_id}"
    page = client.get(url)
    assert page.status_code == 200, (endpoint, page.status_code)
    data = read_form(page.text).submission()
    response = _post(client, url, data)
    if response.status_code != 302:
        problems.append(f"{endpoint} untouched edit as user {user_id}: refused {_refused(response)}")
        return
    followed = client.get(response.location)
    if "alert-danger" in followed.text:
        problems.append(f"{endpoint} untouched edit as user {user_id}: error shown after saving")
    after = _snapshot(app, model, row_id)
    changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    if changed:
        problems.append(f"{endpoint} untouched edit as user {user_id} changed {changed}")
    with app.app_context():
        assert row_fingerprint(db.session.get(model, row_id))


@pytest.mark.parametrize("role", ROLES)
def test_every_screen_round_trips_what_people_type(app, client, world, login_as, role):
    with app.app_context():
        db.session.get(Agency, world.a.id).serasa_enabled = True
        db.session.commit()
    user = getattr(world, role)
    login_as(user)
    screens = writable_screens(app, user.id)
    assert screens
    problems: list[str] = []
    for endpoint, can_create, can_edit in screens:
        _round_trip(app, client, endpoint, user.id, can_create, can_edit, problems)
    assert not problems, "\n".join(problems)


def test_the_generator_refuses_an_unknown_field_type(client):
    """A screen with a field class the generator does not know fails the suite instead of being skipped."""

    class Unknown(wtf.Field):
        pass

    class ScreenOfTomorrow(Form):
        strange = Unknown()

    field = ScreenOfTomorrow().strange
    with pytest.raises(pytest.fail.Exception, match="no value generator for Unknown"):
        typed_value(client, "x", field, {"attrs": {}, "values": [""]}, {})


def test_dates_in_the_generator_are_in_the_future_for_meetings():
    assert _future_start() > datetime.now() and date.today() < _future_start().date()
