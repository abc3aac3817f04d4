"""The pickers a person uses, in a real browser, speak pt-BR (issue 11): the select2 relationship picker (its
messages, and a CPF found as it is displayed) and the list's date filter (its calendar, buttons and the value it
writes).
"""

import re

from playwright.sync_api import expect

from models import Debtor, User, db
from models.documents import format_document

ADMIN = "admin@demo.com.br"


def _a_debtor(live_server) -> tuple[str, str]:
    with live_server.db():
        agency_id = db.session.query(User.agency_id).filter_by(email=ADMIN).scalar()
        debtor = db.session.query(Debtor).filter_by(agency_id=agency_id).filter(
            db.func.length(Debtor.document) == 11).order_by(Debtor.id).first()
        return debtor.name, format_document(debtor.document)


def test_debtor_picker_speaks_portuguese_and_finds_a_formatted_cpf(new_session, live_server):
    name, cpf = _a_debtor(live_server)
    session = new_session()
    page = session.login(ADMIN)
    session.goto("/admin/negotiation/new/")
    page.locator("#s2id_debtor").click()
    search = page.locator(".select2-drop-active input.select2-input")
    expect(page.locator(".select2-drop-active")).to_contain_text("Digite ao menos 1 caractere")
    search.fill("zzzz-ninguém")
    expect(page.locator(".select2-drop-active .select2-no-results")).to_have_text("Nenhum resultado encontrado")
    search.fill(cpf)
    expect(page.locator(".select2-drop-active .select2-result-label").first).to_contain_text(name)
    page.keyboard.press("Enter")
    expect(page.locator("#s2id_debtor .select2-chosen")).to_contain_text(name)
    body = page.locator("body").inner_text()
    for english in ("No matches found", "Please enter", "Searching", "Loading failed"):
        assert english not in body


def _filter_index(live_server, endpoint: str, label: str, operation: str) -> int:
    app = live_server.app
    with app.test_request_context():
        view = next(v for v in app.extensions["admin"][0]._views if getattr(v, "endpoint", None) == endpoint)
        return next(i for i, f in enumerate(view._filters) if str(f.name) == label and str(f.operation()) == operation)


def _assert_portuguese_calendar(picker):
    text = picker.inner_text()
    for english in ("Apply", "Cancel", "Su", "Mo", "Tu", "We", "Th", "Fr", "Sa", "Feb", "Apr", "May", "Aug"):
        assert not re.search(rf"\b{english}\b", text), english
    assert re.search(r"\bDo\b\s+\bSe\b\s+\bTe\b", text), text[:200]
    return text


def test_date_filter_picker_speaks_portuguese_and_writes_brazilian_dates(new_session, live_server):
    session = new_session()
    page = session.login(ADMIN)
    session.goto("/admin/debt/")
    page.locator("a.dropdown-toggle", has_text=re.compile("filtro", re.I)).first.click()
    page.locator(".field-filters a.filter", has_text=re.compile(r"^\s*Vencimento\s*$")).first.click()
    page.locator("input.filter-val").last.click()
    _assert_portuguese_calendar(page.locator(".daterangepicker:visible").last)

    between = _filter_index(live_server, "debt", "Vencimento", "entre")
    session.goto(f"/admin/debt/?flt0_{between}=01/11/2026 até 30/11/2026")
    field = page.locator("input.filter-val").last
    expect(field).to_have_value("01/11/2026 até 30/11/2026")
    field.click()
    picker = page.locator(".daterangepicker:visible").last
    text = _assert_portuguese_calendar(picker)
    assert "Aplicar" in text and "Cancelar" in text
    picker.locator("button", has_text="Aplicar").click()
    expect(field).to_have_value(re.compile(r"^\d{2}/\d{2}/\d{4} até \d{2}/\d{2}/\d{4}$"))
    assert "inválido" not in page.locator("body").inner_text()
