"""Everyday flows as people type them (issue 11): one test per defect found by using the panel like a new agency.

Each test posts or searches exactly what a person types (formatted CPF/CNPJ/CEP, pt-BR money) over the test
client, with CSRF, and asserts what the user or the agency needs.
"""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from models import Agency, AuditLog, Creditor, Debtor, Negativation, Negotiation, SoaCall, User, db
from models.agency import Role
from models.documents import only_digits
from tests import factories as f
from tests.conftest import csrf_from

CPF = "79666809834"
CPF_SHOWN = "796.668.098-34"
CNPJ = "11222333000181"
CNPJ_SHOWN = "11.222.333/0001-81"


def _input(html: str, name: str) -> str:
    found = re.search(rf'<input[^>]*\bname="{name}"[^>]*>', html)
    assert found, f"no input {name}"
    return found.group(0)


def _attr(tag: str, attr: str) -> str | None:
    found = re.search(rf'\b{attr}="([^"]*)"', tag)
    return found.group(1) if found else None


def _filter_arg(app, endpoint: str, label: str, operation: str) -> str:
    """The URL argument of one list filter (flt0_<index>), found like the browser's filter menu finds it."""
    with app.test_request_context():
        view = next(v for v in app.extensions["admin"][0]._views if getattr(v, "endpoint", None) == endpoint)
        for index, flt in enumerate(view._filters):
            if str(flt.name) == label and str(flt.operation()) == operation:
                return f"flt0_{index}"
    raise AssertionError(f"no filter {label!r} {operation!r} on {endpoint}")


@pytest.fixture
def known_debtor(app, world):
    """A debtor of consultant A1 with the document of the issue, a debt and a negotiation."""
    with app.app_context():
        a = db.session.get(Agency, world.a.id)
        a.serasa_enabled = True
        cons = db.session.get(User, world.cons_a1.id)
        creditor = db.session.get(Creditor, world.creditor_a.id)
        debtor = f.make_debtor(a, cons, name="Maria Conhecida", document=CPF)
        debt = f.make_debt(debtor, creditor, contract_number="CT-CONHECIDA")
        f.make_negotiation(debtor, creditor, debts=[debt])
        db.session.add(Negativation(agency_id=a.id, debt_id=debt.id, debtor_id=debtor.id, creditor_id=creditor.id,
                                    document=CPF, contract_number=debt.contract_number, amount=debt.amount,
                                    due_date=debt.due_date, expires_on=debt.due_date + timedelta(days=5 * 365)))
        db.session.commit()
        return {"debtor_id": debtor.id, "debt_id": debt.id}


# --- 1. Usuários > Criar ------------------------------------------------------------------------------------


def test_1_admin_creates_a_consultant_who_can_then_log_in(app, client, world, auth, login_as, csrf_token):
    login_as(world.admin_a)
    response = client.post("/admin/user/new/", data={
        "csrf_token": csrf_token("/admin/user/new/"), "name": "Nova Consultora", "email": "Nova@Assessoria.com.br",
        "role": "consultant", "active": "y", "new_password": "senha-da-nova-1"})
    assert response.status_code == 302, response.text
    with app.app_context():
        user = db.session.scalars(select(User).filter_by(email="nova@assessoria.com.br")).one()
        assert (user.agency_id, user.role, user.active) == (world.a.id, Role.CONSULTANT, True)
    auth.logout()
    assert auth.login("nova@assessoria.com.br", "senha-da-nova-1").status_code == 302
    assert "Nova Consultora" in client.get("/admin/").text


# --- 2. and 3. Negociações > Criar --------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["negotiation", "finance_negotiation"])
def test_2_negotiation_with_the_debtors_own_debts_is_created(app, client, world, login_as, csrf_token, endpoint):
    login_as(world.admin_a)
    url = f"/admin/{endpoint}/new/"
    response = client.post(url, data={
        "csrf_token": csrf_token(url), "debtor": world.debtor_a1.id, "creditor": world.creditor_a.id,
        "consultant": world.cons_a1.id, "debts": str(world.debt_a1.id), "status": "aberta",
        "agreed_amount": "R$ 1.000,50", "installments": "3", "notes": ""})
    assert response.status_code == 302, response.text
    with app.app_context():
        created = db.session.scalars(select(Negotiation).order_by(Negotiation.id.desc())).first()
        assert [d.id for d in created.debts] == [world.debt_a1.id]
        assert created.agreed_amount == Decimal("1000.50")


def test_2_negotiation_refuses_another_debtors_debt(app, client, world, login_as, csrf_token):
    login_as(world.admin_a)
    before = _negotiations(app)
    response = client.post("/admin/negotiation/new/", data={
        "csrf_token": csrf_token("/admin/negotiation/new/"), "debtor": world.debtor_a1.id,
        "creditor": world.creditor_a.id, "debts": str(world.debt_a2.id), "status": "aberta"})
    assert response.status_code == 200 and "Todas as dívidas devem ser do devedor" in response.text
    assert _negotiations(app) == before


def _negotiations(app) -> int:
    with app.app_context():
        return len(db.session.scalars(select(Negotiation.id)).all())


def test_3_consultant_owns_the_negotiations_they_create_and_cannot_choose_another(app, client, world, auth,
                                                                                   login_as):
    login_as(world.cons_a1)
    form = client.get("/admin/negotiation/new/").text
    assert 'name="consultant"' not in form
    for sent in (str(world.cons_a2.id), ""):
        response = client.post("/admin/negotiation/new/", data={
            "csrf_token": csrf_from(form), "debtor": world.debtor_a1.id, "creditor": world.creditor_a.id,
            "consultant": sent, "debts": str(world.debt_a1.id), "status": "aberta"})
        assert response.status_code == 302, response.text
        with app.app_context():
            created = db.session.scalars(select(Negotiation).order_by(Negotiation.id.desc())).first()
            assert created.consultant_id == world.cons_a1.id
    auth.logout()
    login_as(world.admin_a)
    assert 'name="consultant"' in client.get("/admin/negotiation/new/").text


# --- 4. inputs as long as what people type ----------------------------------------------------------------


@pytest.mark.parametrize("url,name,typed", [
    ("/admin/debtor/new/", "document", CNPJ_SHOWN), ("/admin/debtor/new/", "document", CPF_SHOWN),
    ("/admin/debtor/new/", "cep", "01310-100"), ("/admin/creditor/new/", "cnpj", CNPJ_SHOWN)])
def test_4_inputs_take_the_formatted_value(client, world, login_as, url, name, typed):
    login_as(world.admin_a)
    tag = _input(client.get(url).text, name)
    maxlength = _attr(tag, "maxlength")
    assert maxlength is None or int(maxlength) >= len(typed), tag
    placeholder = _attr(tag, "placeholder") or ""
    example = re.search(r"\d[\d./-]+", placeholder)
    assert example is None or maxlength is None or int(maxlength) >= len(example.group(0)), tag


def test_4_debtor_and_creditor_saved_with_formatted_cnpj_and_cep(app, client, world, login_as, csrf_token):
    login_as(world.admin_a)
    response = client.post("/admin/debtor/new/", data={
        "csrf_token": csrf_token("/admin/debtor/new/"), "name": "Empresa Devedora Ltda", "document": CNPJ_SHOWN,
        "cep": "01310-100", "consultant": world.cons_a1.id})
    assert response.status_code == 302, response.text
    response = client.post("/admin/creditor/new/", data={
        "csrf_token": csrf_token("/admin/creditor/new/"), "name": "Banco Credor", "cnpj": CNPJ_SHOWN})
    assert response.status_code == 302, response.text
    with app.app_context():
        debtor = db.session.scalars(select(Debtor).filter_by(name="Empresa Devedora Ltda")).one()
        assert (debtor.document, debtor.cep) == (CNPJ, "01310100")
        debtor_id = debtor.id
    edit = client.get(f"/admin/debtor/edit/?id={debtor_id}").text
    assert _attr(_input(edit, "document"), "value") == CNPJ_SHOWN
    assert _attr(_input(edit, "cep"), "value") == "01310-100"


# --- 5. search by the document as displayed ----------------------------------------------------------------


@pytest.mark.parametrize("typed", [CPF_SHOWN, CPF, "796.668", "098-34"])
def test_5_searches_filters_and_picker_find_the_document_as_displayed(app, client, world, login_as, known_debtor,
                                                                      typed):
    login_as(world.admin_a)
    for url in ("/admin/negotiation/", "/admin/finance_negotiation/", "/admin/debtor/", "/admin/negativation/"):
        page = client.get(url, query_string={"search": typed})
        assert page.status_code == 200
        assert "CT-CONHECIDA" in page.text or "Maria Conhecida" in page.text, (url, typed)
    flt = _filter_arg(app, "debt", "CPF/CNPJ do devedor", "contém")
    assert "CT-CONHECIDA" in client.get("/admin/debt/", query_string={flt: typed}).text
    flt = _filter_arg(app, "debt", "CPF/CNPJ do devedor", "igual")
    assert "CT-CONHECIDA" in client.get("/admin/debt/", query_string={flt: CPF_SHOWN}).text
    for endpoint in ("negotiation", "debt"):
        found = client.get(f"/admin/{endpoint}/ajax/lookup/", query_string={"name": "debtor", "query": typed})
        ids = [row[0] for row in found.json]
        assert known_debtor["debtor_id"] in ids, (endpoint, typed)
        with app.app_context():  # another debtor's random CPF may hold the same digits: then it is found too
            others = [db.session.get(Debtor, i).document for i in ids if i != known_debtor["debtor_id"]]
        assert all(only_digits(typed) in document for document in others), (endpoint, typed, others)


def test_5_cnpj_found_by_its_root(app, client, world, login_as):
    with app.app_context():
        f.make_debtor(db.session.get(Agency, world.a.id), None, name="Raiz Comércio Ltda", document=CNPJ)
        db.session.commit()
    login_as(world.admin_a)
    for typed in ("11.222.333", "11222333", CNPJ_SHOWN):
        assert "Raiz Comércio" in client.get("/admin/debtor/", query_string={"search": typed}).text, typed
        found = client.get("/admin/negotiation/ajax/lookup/", query_string={"name": "debtor", "query": typed})
        assert any("Raiz Comércio" in row[1] for row in found.json), typed


def test_5_a_name_search_does_not_match_every_document(client, world, login_as, known_debtor):
    login_as(world.admin_a)
    page = client.get("/admin/debtor/", query_string={"search": "Conhecida"}).text
    assert "Maria Conhecida" in page and "Devedor de A1" not in page


# --- 10. no 500s ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["debtor", "debts", "creditor", "consultant"])
def test_10_relationship_ids_beyond_64_bits_are_refused_in_portuguese(app, client, world, login_as, csrf_token,
                                                                       field):
    login_as(world.admin_a)
    data = {"csrf_token": csrf_token("/admin/negotiation/new/"), "debtor": world.debtor_a1.id,
            "creditor": world.creditor_a.id, "status": "aberta", field: str(2**70)}
    before = _negotiations(app)
    response = client.post("/admin/negotiation/new/", data=data)
    assert response.status_code in (200, 400)
    assert _negotiations(app) == before


def test_10_ajax_lookup_and_edit_with_huge_ids(client, world, login_as):
    login_as(world.admin_a)
    for url in (f"/admin/negotiation/ajax/lookup/?name=debtor&query={2**70}",
                f"/admin/negotiation/ajax/lookup/?name=debts&query={2**70}",
                f"/admin/negotiation/ajax/lookup/?name=debtor&query=a&offset={2**70}&limit={2**70}",
                f"/admin/debt/ajax/lookup/?name=debtor&query=1&offset=-{2**70}",
                f"/admin/negotiation/edit/?id={2**70}", f"/admin/debtor/details/?id=-{2**70}"):
        assert client.get(url).status_code in (200, 404), url


def test_10_a_search_of_a_thousand_words_is_capped_with_a_message(client, world, login_as):
    login_as(world.admin_a)
    words = " ".join(f"palavra{i}" for i in range(1000))
    for url in ("/admin/debtor/", "/admin/negotiation/", "/admin/debt/", "/admin/meeting/", "/admin/user/"):
        page = client.get(url, query_string={"search": words})
        assert page.status_code == 200, url
        assert "palavras" in page.text, url
    found = client.get("/admin/negotiation/ajax/lookup/", query_string={"name": "debtor", "query": words})
    assert found.status_code == 200


@pytest.mark.parametrize("url,field", [("/admin/debt/new/", "due_date"), ("/admin/debtor/new/", "birth_date"),
                                       ("/admin/meeting/new/", "starts_at")])
def test_10_a_date_of_only_spaces_gets_a_portuguese_message(app, client, world, login_as, csrf_token, url, field):
    login_as(world.admin_a)
    data = {"debt": {"debtor": world.debtor_a1.id, "creditor": world.creditor_a.id, "contract_number": "CT-9",
                     "amount": "10,00", "status": "aberta"},
            "debtor": {"name": "Espaços", "document": "39053344705", "consultant": world.cons_a1.id},
            "meeting": {"creditor": world.creditor_a.id, "subject": "Espaços", "duration": "60",
                        "owner": world.admin_a.id}}[url.split("/")[2]]
    response = client.post(url, data={"csrf_token": csrf_token(url), **data, field: "   "})
    assert response.status_code in (200, 302, 400)
    text = response.text if response.status_code != 302 else client.get(response.location).text
    for python in ("time data", "does not match format", "NoneType", "unsupported operand", "Traceback"):
        assert python not in text, (url, python)


# --- 11. pt-BR labels for what the logs record ---------------------------------------------------------------


def test_11_audit_actions_and_soa_operations_are_shown_in_portuguese(app, client, world, login_as):
    with app.app_context():
        for action, target in (("meeting.update", f"meeting #{world.meeting_a1.id}"),
                               ("serasa.exclude", "negativation #2"), ("negotiation.create", "negotiation #7")):
            db.session.add(AuditLog(agency_id=world.a.id, user_id=world.admin_a.id, action=action, target=target))
        for operation in ("include", "consult"):
            db.session.add(SoaCall(agency_id=world.a.id, user_id=world.admin_a.id, operation=operation,
                                   url="http://127.0.0.1/x", result="ok"))
        db.session.commit()
    login_as(world.admin_a)
    audit = client.get("/admin/audit/").text
    for raw in ("meeting.update", "negativation #2", "negotiation.create", "serasa.exclude"):
        assert f">{raw}<" not in audit.replace("\n", "").replace("  ", ""), raw
        assert raw not in re.sub(r'<[^>]*>', " ", audit).split(), raw
    assert "Negativação nº 2" in audit and "Reunião" in audit
    calls = re.sub(r"<[^>]*>", " ", client.get("/admin/soa_call/").text).split()
    assert "include" not in calls and "consult" not in calls


def test_11_selects_have_no_technical_blank_value(client, world, login_as):
    login_as(world.admin_a)
    for url in ("/admin/negotiation/new/", "/admin/debtor/new/", f"/admin/negotiation/edit/?id={world.neg_a1.id}",
                "/admin/meeting/new/", "/admin/debt/new/"):
        assert "__None" not in client.get(url).text, url


# --- 12. what the forms show back ----------------------------------------------------------------------------


def test_12_money_saved_in_the_profile_shows_back_in_brazilian_format(client, world, login_as, csrf_token):
    login_as(world.admin_a)
    response = client.post("/admin/profile/serasa/", data={
        "csrf_token": csrf_token("/admin/profile/?tab=serasa"), "action": "save", "serasa_enabled": "0",
        "soa_email": "", "soa_password": "", "soa_environment": "sandbox", "soa_low_balance": "R$ 1.000,50"})
    assert response.status_code == 302
    tag = _input(client.get("/admin/profile/?tab=serasa").text, "soa_low_balance")
    assert _attr(tag, "value") in ("1.000,50", "R$ 1.000,50"), tag


def test_12_money_in_edit_forms_is_brazilian(client, world, login_as):
    login_as(world.admin_a)
    tag = _input(client.get(f"/admin/debt/edit/?id={world.debt_a1.id}").text, "amount")
    assert _attr(tag, "value") == "1.234,56", tag


def test_12_a_valid_cpf_is_not_marked_invalid_when_the_form_comes_back(client, world, login_as, csrf_token):
    """Another field's error brings the form back: the CPF the person typed is shown as typed, without error —
    also after an earlier submit where the CPF itself was wrong (the error must not stick to the screen)."""
    login_as(world.admin_a)
    wrong = client.post("/admin/debtor/new/", data={
        "csrf_token": csrf_token("/admin/debtor/new/"), "name": "Errada", "document": "111.111.111-11",
        "participants": "", "consultant": world.cons_a1.id})
    assert "is-invalid" in _input(wrong.text, "document")
    response = client.post("/admin/debtor/new/", data={
        "csrf_token": csrf_token("/admin/debtor/new/"), "name": "Volta", "document": CNPJ_SHOWN,
        "email": "não é e-mail", "consultant": world.cons_a1.id})
    assert response.status_code == 200
    tag = _input(response.text, "document")
    assert "is-invalid" not in tag and _attr(tag, "value") == CNPJ_SHOWN, tag
    assert "is-invalid" in _input(response.text, "email")
    assert "is-invalid" not in client.get("/admin/debtor/new/").text


# --- 11. the date filters read and show dates the Brazilian way -----------------------------------------------


def test_11_date_filters_take_brazilian_dates_in_the_agencys_zone(app, client, world, login_as):
    """The picker now writes 30/11/2026 00:20 (and "até" between a range's ends): the filter understands it, in
    the agency's zone, and still understands the ISO links saved before."""
    from models import Meeting

    with app.app_context():
        meeting = db.session.get(Meeting, world.meeting_a1.id)
        meeting.starts_at = meeting.starts_at.replace(year=2031, month=3, day=10, hour=2, minute=30)  # UTC
        db.session.commit()
    login_as(world.admin_a)
    after = _filter_arg(app, "meeting", "Início", "maior que")
    between = _filter_arg(app, "meeting", "Início", "entre")
    # 02:30 UTC is 23:30 of the 9th in São Paulo.
    for value, shown in (("09/03/2031 23:00", True), ("09/03/2031 23:45", False), ("2031-03-09 23:00:00", True)):
        page = client.get("/admin/meeting/", query_string={after: value}).text
        assert ("Reunião de A1" in page) is shown, value
        assert "Valor de filtro inválido" not in page and "Invalid" not in page, value
    page = client.get("/admin/meeting/", query_string={between: "09/03/2031 00:00 até 09/03/2031 23:59"}).text
    assert "Reunião de A1" in page
    due = _filter_arg(app, "debt", "Vencimento", "igual")
    with app.app_context():
        from models import Debt

        due_date = db.session.get(Debt, world.debt_a1.id).due_date
    assert "CT-A1" in client.get("/admin/debt/", query_string={due: due_date.strftime("%d/%m/%Y")}).text


def test_4_profile_cnpj_typed_formatted_is_saved_and_shown_formatted(app, client, world, login_as, csrf_token):
    login_as(world.admin_a)
    tag = _input(client.get("/admin/profile/").text, "cnpj")
    assert int(_attr(tag, "maxlength") or 99) >= len(CNPJ_SHOWN), tag
    response = client.post("/admin/profile/geral/", data={
        "csrf_token": csrf_token("/admin/profile/"), "name": "Assessoria A", "cnpj": CNPJ_SHOWN,
        "contact_email": "", "timezone": "America/Sao_Paulo"})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(Agency, world.a.id).cnpj == CNPJ
    assert _attr(_input(client.get("/admin/profile/").text, "cnpj"), "value") == CNPJ_SHOWN


@pytest.mark.parametrize("row_id", ["2147483647", "2147483648", "9223372036854775808", "-1", "0"])
def test_ids_beyond_an_integer_column_are_not_found_not_a_500(app, client, world, login_as, row_id):
    """PostgreSQL's INTEGER ends at 2**31 - 1: a larger id in a URL or a filter is a missing row, never a 500."""
    from admin_views.links import filtered_list_url
    from admin_views.meeting_extras import OwnerFilter

    login_as(world.admin_a)
    for screen in ("debt", "meeting"):
        assert client.get(f"/admin/{screen}/details/?id={row_id}").status_code == 404
        assert client.get(f"/admin/{screen}/edit/?id={row_id}").status_code == 404
    with app.test_request_context():
        url = filtered_list_url("meeting", ("owner_id", OwnerFilter, row_id))
    assert client.get(url).status_code == 200
