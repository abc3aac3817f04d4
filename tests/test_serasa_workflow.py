# ruff: noqa: F811  (the serasa fixture is imported from test_negativation)
"""The Serasa workflow around the rules: status where people look, cost before sending, the report after the batch,
exclusions that tell the truth, the payment date, the integration switched off, the dashboard's to-do list."""

import csv
import io
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from devtools.soa_sandbox import DEFAULT_EMAIL, Fault
from models import Agency, AuditLog, Debt, Negativation, NegativationBatch, Negotiation, db
from models.debt import DebtStatus
from models.negativation import (
    EXCLUSION_CODE_BY_MOTIVE,
    ExclusionMotive,
    NegativationNotAllowed,
    check_exclusion_request,
    removal_deadline,
)
from models.negativation import NegativationStatus as S
from models.timeutil import local_today, utcnow
from tests import factories as f
from tests.conftest import csrf_from
from tests.test_negativation import _make_debts, _negativate, _records, _sync_all, serasa  # noqa: F401

TZ = "America/Sao_Paulo"


def _record_in(app, world, status: str, **over) -> tuple[int, int]:
    """A debt of agency A with one negativation record in ``status`` (built directly); returns (debt, record)."""
    [debt_id] = _make_debts(app, world, 1)
    with app.app_context():
        debt = db.session.get(Debt, debt_id)
        record = Negativation.for_debt(debt, None, "1")
        record.status = status
        record.unique_id = over.pop("unique_id", None)
        for key, value in over.items():
            setattr(record, key, value)
        db.session.add(record)
        db.session.commit()
        return debt_id, record.id


def _listed(html: str) -> set[int]:
    """Ids of the rows of a list page (its selection checkboxes)."""
    return set(map(int, re.findall(r'class="action-checkbox" value="(\d+)"', html)))


@pytest.fixture
def cost(app):
    """A prepaid plan: each inclusion costs R$ 3,50 (as the sandbox charges)."""
    app.config["SOA_INCLUSION_COST"] = "3.50"
    yield Decimal("3.50")
    app.config["SOA_INCLUSION_COST"] = "0"


# --- 1. Serasa status where people look -----------------------------------------------------------------------


def test_debts_list_shows_each_debts_serasa_situation_with_the_deadline(app, client, world, login_as, serasa):
    today = local_today(TZ)
    free = _make_debts(app, world, 1)[0]
    active, active_id = _record_in(app, world, S.ACTIVE, unique_id="U1")
    paid, paid_id = _record_in(app, world, S.ACTIVE, unique_id="U2", paid_on=today - timedelta(days=20),
                               removal_deadline=today - timedelta(days=13))
    login_as(world.admin_a)
    html = client.get("/admin/debt/?page_size=100").text
    assert ">Serasa<" in html
    assert f'href="/admin/negativation/details/?id={active_id}">Ativa</a>' in html
    assert f"baixa até {(today - timedelta(days=13)):%d/%m/%Y}" in html  # the legal deadline, late
    assert "Não negativada" in html
    row_of = {debt_id: html.count(f'value="{debt_id}"') for debt_id in (free, active, paid)}
    assert all(row_of.values())


@pytest.mark.parametrize("status,option", [(S.PENDING, "enviada"), (S.SENT, "enviada"), (S.ACTIVE, "ativa"),
                                           (S.EXCLUSION_REQUESTED, "em_baixa"), (S.EXCLUDED, "baixada"),
                                           (S.REJECTED, "rejeitada"), (S.ERROR, "erro"),
                                           (S.UNCERTAIN, "incerta")])
def test_serasa_filter_finds_exactly_the_debts_in_that_situation(app, client, world, login_as, serasa, status,
                                                                 option):
    target, _ = _record_in(app, world, status)
    other, _ = _record_in(app, world, S.ACTIVE if status != S.ACTIVE else S.SENT)
    [never] = _make_debts(app, world, 1)
    login_as(world.admin_a)
    from admin_views.links import filtered_list_url
    from admin_views.serasa_status import DebtSerasaFilter

    with app.test_request_context():
        url = filtered_list_url("debt", ("id", DebtSerasaFilter, option))
        none_url = filtered_list_url("debt", ("id", DebtSerasaFilter, "nao_negativada"))
    ids = _listed(client.get(url + "&page_size=100").text)
    assert target in ids and other not in ids and never not in ids
    ids = _listed(client.get(none_url + "&page_size=100").text)
    assert never in ids and target not in ids and other not in ids


def test_a_newer_record_decides_the_debts_situation(app, client, world, login_as, serasa):
    debt_id, _ = _record_in(app, world, S.REJECTED)
    with app.app_context():
        debt = db.session.get(Debt, debt_id)
        retry = Negativation.for_debt(debt, None, "1")
        retry.status = S.ACTIVE
        db.session.add(retry)
        db.session.commit()
    login_as(world.admin_a)
    from admin_views.links import filtered_list_url
    from admin_views.serasa_status import DebtSerasaFilter

    with app.test_request_context():
        rejected = filtered_list_url("debt", ("id", DebtSerasaFilter, "rejeitada"))
    assert f'value="{debt_id}"' not in client.get(rejected).text  # rejected once, active now


def test_negotiations_show_and_filter_their_debts_serasa_situation(app, client, world, login_as, serasa):
    debt_id, record_id = _record_in(app, world, S.ACTIVE)
    with app.app_context():
        debt = db.session.get(Debt, debt_id)
        negotiation = f.make_negotiation(debt.debtor, debt.creditor, debts=[debt])
        other = f.make_negotiation(debt.debtor, debt.creditor, debts=[])
        db.session.commit()
        neg_id, other_id = negotiation.id, other.id
    login_as(world.admin_a)
    for screen in ("negotiation", "finance_negotiation"):
        html = client.get(f"/admin/{screen}/").text
        assert f'href="/admin/negativation/details/?id={record_id}">Ativa</a>' in html
        from admin_views.links import filtered_list_url
        from admin_views.serasa_status import NegotiationSerasaFilter

        with app.test_request_context():
            url = filtered_list_url(screen, ("id", NegotiationSerasaFilter, "ativa"))
        ids = _listed(client.get(url).text)
        assert ids == {neg_id}, (screen, ids, other_id)


def test_debtor_page_shows_the_situation_and_the_deadline(app, client, world, login_as, serasa):
    today = local_today(TZ)
    debt_id, record_id = _record_in(app, world, S.ACTIVE, removal_deadline=today + timedelta(days=3),
                                    paid_on=today)
    with app.app_context():
        debtor_id = db.session.get(Debt, debt_id).debtor_id
    login_as(world.admin_a)
    html = client.get(f"/admin/debtor/details/?id={debtor_id}").text
    assert f'href="/admin/negativation/details/?id={record_id}">Ativa</a>' in html
    assert f"baixa até {(today + timedelta(days=3)):%d/%m/%Y}" in html


def test_consultant_sees_the_column_of_own_debts_only(app, client, world, login_as, auth, serasa):
    _, record_id = _record_in(app, world, S.ACTIVE)  # debtor of consultant A1
    login_as(world.cons_a2)
    assert f"/admin/negativation/details/?id={record_id}" not in client.get("/admin/debt/").text
    auth.logout()
    login_as(world.cons_a1)
    assert f"/admin/negativation/details/?id={record_id}" in client.get("/admin/debt/").text


# --- 1 and 2. The confirmation page: records in flight, cost and balance before sending --------------------------


def test_confirmation_names_the_record_in_flight_and_does_not_offer_it(app, client, world, login_as, serasa):
    in_flight, record_id = _record_in(app, world, S.ACTIVE, unique_id="U1")
    [fresh] = _make_debts(app, world, 1)
    login_as(world.admin_a)
    html = client.get(f"/admin/debt/negativate/?rowid={in_flight}&rowid={fresh}").text
    row = html[html.index('data-state="in_flight"'):]
    row = row[:row.index("</tr>")]
    assert "Pode ser incluída" not in row
    assert f'href="/admin/negativation/details/?id={record_id}"' in row and "(Ativa)" in row
    assert f'name="rowid" value="{in_flight}"' not in html  # not selectable
    assert f'name="rowid" value="{fresh}"' in html


def test_confirmation_shows_cost_balance_and_what_does_not_fit(app, client, world, login_as, serasa, cost):
    serasa.set_balance(DEFAULT_EMAIL, Decimal("7.00"))  # pays for two inclusions of R$ 3,50
    ids = _make_debts(app, world, 3)
    login_as(world.admin_a)
    before = serasa.snapshot()["calls"].get("balance", 0)
    html = client.get("/admin/debt/negativate/?" + "&".join(f"rowid={i}" for i in ids)).text
    assert serasa.snapshot()["calls"].get("balance", 0) == before + 1  # one fresh call
    assert re.search(r'id="cost-to-send">2<', html)
    assert "R$ 3,50</span> por inclusão" in html
    assert 'id="cost-total">R$ 7,00<' in html
    assert 'id="cost-balance">R$ 7,00<' in html
    assert "1 dívida(s) não cabem no" in html
    assert f'name="rowid" value="{ids[2]}"' not in html  # the one that does not fit is not sent
    assert "Não cabe no saldo" in html
    assert _records(app) == [] and serasa.snapshot()["records"] == []  # nothing sent yet
    response = client.post("/admin/debt/negativate/", data={
        "csrf_token": csrf_from(html), "rowid": re.findall(r'name="rowid" value="(\d+)"', html),
        "restriction_code": "1"}, follow_redirects=True)
    assert "Falhou" not in response.text
    assert len(serasa.snapshot()["records"]) == 2


def test_confirmation_without_prepaid_cost_shows_the_balance_only(app, client, world, login_as, serasa):
    ids = _make_debts(app, world, 2)
    login_as(world.admin_a)
    html = client.get("/admin/debt/negativate/?" + "&".join(f"rowid={i}" for i in ids)).text
    assert 'id="cost-balance">R$ 100,00<' in html and "cost-total" not in html


def test_confirmation_says_when_the_balance_cannot_be_read(app, client, world, login_as, serasa):
    ids = _make_debts(app, world, 1)
    serasa.set_fault("balance", Fault(status_5xx=True))
    login_as(world.admin_a)
    html = client.get(f"/admin/debt/negativate/?rowid={ids[0]}").text
    assert "Não foi possível consultar o saldo agora" in html


# --- 3. After the batch: the report kept, exported, printed; failures resent ------------------------------------


def _report_of(client, response):
    [batch_id] = re.findall(r"relatório nº (\d+)", response.text)[:1]
    return int(batch_id)


def test_report_is_kept_exported_and_printable(app, client, world, login_as, serasa):
    ok = _make_debts(app, world, 1, debtor_name="=HYPERLINK(\"http://evil\")")
    paid = _make_debts(app, world, 1, status=DebtStatus.PAID)
    login_as(world.admin_a)
    response = _negativate(client, ok + paid)
    batch_id = _report_of(client, response)
    listing = client.get("/admin/negativation/").text
    assert "/admin/debt/negativate/reports/" in listing
    assert f"/admin/debt/negativate/report/?id={batch_id}" in client.get("/admin/debt/negativate/reports/").text
    again = client.get(f"/admin/debt/negativate/report/?id={batch_id}")
    assert again.status_code == 200 and "Incluída" in again.text and "Recusada" in again.text
    assert 'data-print' in again.text and "onclick" not in again.text

    exported = client.get(f"/admin/debt/negativate/report/export/?id={batch_id}&format=csv")
    assert exported.status_code == 200
    text = exported.data.decode("utf-8")
    assert text.startswith("\ufeff")  # Excel pt-BR reads UTF-8 with the BOM
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert rows[0][:3] == ["Contrato", "Devedor", "CPF/CNPJ"]
    assert {r[6] for r in rows[1:]} == {"Incluída", "Recusada"}
    assert any(r[1] == "'=HYPERLINK(\"http://evil\")" for r in rows[1:])  # neutralised formula

    xlsx = client.get(f"/admin/debt/negativate/report/export/?id={batch_id}&format=xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0][6] == "Resultado" and len(values) == 3
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(AuditLog.id)).where(AuditLog.action == "export")) == 2


def test_report_belongs_to_its_agency_and_admins(app, client, world, login_as, auth, serasa):
    ids = _make_debts(app, world, 1)
    login_as(world.admin_a)
    batch_id = _report_of(client, _negativate(client, ids))
    auth.logout()
    login_as(world.admin_b)
    assert client.get(f"/admin/debt/negativate/report/?id={batch_id}").status_code == 404
    assert f"report/?id={batch_id}" not in client.get("/admin/debt/negativate/reports/").text
    assert client.get(f"/admin/debt/negativate/report/export/?id={batch_id}&format=csv").status_code == 404
    auth.logout()
    login_as(world.cons_a1)
    assert client.get(f"/admin/debt/negativate/report/?id={batch_id}").status_code == 403


def test_resend_failed_offers_only_errors_never_uncertain(app, client, world, login_as, serasa, cost):
    uncertain, unpaid = _make_debts(app, world, 2)
    login_as(world.admin_a)
    page = client.get(f"/admin/debt/negativate/?rowid={uncertain}&rowid={unpaid}")
    serasa.set_balance(DEFAULT_EMAIL, Decimal("3.50"))  # pays for the first only: the second fails, never sent
    serasa.set_fault("include", Fault(timeout=3.0, times=1))  # the first: outcome unknown
    response = client.post("/admin/debt/negativate/", data={
        "csrf_token": csrf_from(page.text), "rowid": [uncertain, unpaid], "restriction_code": "1"},
        follow_redirects=True)
    statuses = {r.debt_id: r.status for r in _records(app)}
    assert statuses == {uncertain: S.UNCERTAIN, unpaid: S.ERROR}
    assert "report-resend" in response.text and "report-uncertain" in response.text
    link = re.search(r'id="report-resend" href="([^"]+)"', response.text).group(1).replace("&amp;", "&")
    assert f"rowid={unpaid}" in link and f"rowid={uncertain}" not in link
    serasa.set_balance(DEFAULT_EMAIL, Decimal("100.00"))
    confirm = client.get(link)
    assert confirm.status_code == 200 and "nova tentativa" in confirm.text
    client.post("/admin/debt/negativate/", data={"csrf_token": csrf_from(confirm.text), "rowid": [unpaid],
                                                 "restriction_code": "1"})
    statuses = {r.debt_id: r.status for r in _records(app)}
    assert statuses == {uncertain: S.UNCERTAIN, unpaid: S.SENT}


def test_reenviar_on_the_negativation_screen_for_records_in_error(app, client, world, login_as, auth, serasa):
    debt_id, record_id = _record_in(app, world, S.ERROR)
    _, uncertain_id = _record_in(app, world, S.UNCERTAIN)
    login_as(world.admin_a)
    details = client.get(f"/admin/negativation/details/?id={record_id}").text
    assert 'id="btn-reenviar"' in details
    assert 'id="btn-reenviar"' not in client.get(f"/admin/negativation/details/?id={uncertain_id}").text
    response = client.post("/admin/negativation/resend/", data={"csrf_token": csrf_from(details), "id": record_id})
    assert response.status_code == 302 and f"rowid={debt_id}" in response.location
    response = client.post("/admin/negativation/action/", data={
        "csrf_token": csrf_from(details), "action": "resend", "rowid": [uncertain_id]})
    assert "rowid" not in (response.location or "")  # an uncertain record is reconciled first, never resent
    auth.logout()
    login_as(world.cons_a1)
    assert client.post("/admin/negativation/resend/", data={"csrf_token": csrf_from(details),
                                                            "id": record_id}).status_code == 403


# --- 4. Exclusions that say the truth -------------------------------------------------------------------------


@pytest.mark.parametrize("motive", [m for m in ExclusionMotive if m != ExclusionMotive.EXPIRY])
def test_only_the_motives_code_is_accepted(motive):
    expected = EXCLUSION_CODE_BY_MOTIVE[motive]
    note = "Processo 0001234-56.2026.8.26.0100"
    assert check_exclusion_request(motive, expected, note) == expected
    assert check_exclusion_request(motive, None, note) == expected
    for other in {"1", "2", "3", "4", "5"} - {expected}:
        with pytest.raises(NegativationNotAllowed):
            check_exclusion_request(motive, other, note)


@pytest.mark.parametrize("motive,needs_note", [("pagamento", False), ("acordo", False), ("erro_contestacao", False),
                                               ("ordem_judicial", True), ("outro", True)])
def test_note_is_required_for_court_order_and_other(motive, needs_note):
    code = EXCLUSION_CODE_BY_MOTIVE[ExclusionMotive(motive)]
    if needs_note:
        with pytest.raises(NegativationNotAllowed):
            check_exclusion_request(motive, code, "   ")
    else:
        assert check_exclusion_request(motive, code, "") == code


def test_the_system_motive_cannot_be_picked_by_hand():
    with pytest.raises(NegativationNotAllowed):
        check_exclusion_request("prazo_5_anos", "5", "x")


def _exclude(client, record_id, **data):
    page = client.get(f"/admin/negativation/exclude/?id={record_id}")
    return client.post(f"/admin/negativation/exclude/?id={record_id}", data={"csrf_token": csrf_from(page.text)}
                       | data)


def test_a_code_inconsistent_with_the_motive_is_refused_and_nothing_sent(app, client, world, login_as, serasa):
    login_as(world.admin_a)
    _, record_id = _record_in(app, world, S.ACTIVE, unique_id="U-1")
    page = client.get(f"/admin/negativation/exclude/?id={record_id}").text
    assert 'data-motives="pagamento"' in page and 'data-motives="ordem_judicial"' in page
    response = _exclude(client, record_id, motive="pagamento", code="4")
    assert response.status_code == 400 and "não corresponde ao motivo" in response.text
    response = _exclude(client, record_id, motive="ordem_judicial", code="4", note="")
    assert response.status_code == 400 and "obrigatória" in response.text
    assert serasa.snapshot()["calls"].get("exclude", 0) == 0
    [record] = [r for r in _records(app) if r.id == record_id]
    assert record.status == S.ACTIVE and record.exclusion_motive is None


def test_court_order_note_is_kept_in_history_and_audit(app, client, world, login_as, serasa):
    login_as(world.admin_a)
    [debt_id] = _make_debts(app, world, 1)
    _negativate(client, [debt_id])
    [record] = _records(app)
    response = _exclude(client, record.id, motive="ordem_judicial", code="4", note="Processo 1234-56")
    assert response.status_code == 302
    with app.app_context():
        record = db.session.get(Negativation, record.id)
        assert record.exclusion_code == "4" and record.exclusion_note == "Processo 1234-56"
        assert any("Processo 1234-56" in (e.message or "") for e in record.events)
        audit = db.session.scalars(db.select(AuditLog).where(AuditLog.action == "serasa.exclude")).one()
        assert "Processo 1234-56" in audit.details and "codigo=4" in audit.details
    assert serasa.snapshot()["records"][0]["exclusion_code"] in (4, "4")


# --- 5. Payment date ------------------------------------------------------------------------------------------


def _mark_paid(client, app, debt_id, paid_on: str):
    page = client.get(f"/admin/debt/edit/?id={debt_id}").text
    with app.app_context():
        debt = db.session.get(Debt, debt_id)
        data = {"csrf_token": csrf_from(page), "debtor": debt.debtor_id, "creditor": debt.creditor_id,
                "contract_number": debt.contract_number, "amount": "1.234,56",
                "due_date": debt.due_date.strftime("%d/%m/%Y"), "status": "paga", "paid_on": paid_on}
    return client.post(f"/admin/debt/edit/?id={debt_id}", data=data, follow_redirects=True)


def test_deadline_counts_from_the_payment_date_typed(app, client, world, login_as, serasa):
    login_as(world.admin_a)
    [debt_id] = _make_debts(app, world, 1)
    _negativate(client, [debt_id])
    paid_on = local_today(TZ) - timedelta(days=2)
    response = _mark_paid(client, app, debt_id, paid_on.strftime("%d/%m/%Y"))
    assert response.status_code == 200
    [record] = _records(app)
    assert record.paid_on == paid_on and record.removal_deadline == removal_deadline(paid_on)
    assert record.status == S.EXCLUSION_REQUESTED
    with app.app_context():
        assert db.session.get(Debt, debt_id).paid_on == paid_on


def test_payment_date_in_the_future_is_refused(app, client, world, login_as, serasa):
    login_as(world.admin_a)
    [debt_id] = _make_debts(app, world, 1)
    tomorrow = local_today(TZ) + timedelta(days=1)
    response = _mark_paid(client, app, debt_id, tomorrow.strftime("%d/%m/%Y"))
    assert "não pode estar no futuro" in response.text
    with app.app_context():
        debt = db.session.get(Debt, debt_id)
        assert debt.status == DebtStatus.OPEN and debt.paid_on is None


def test_a_payment_registered_after_the_deadline_is_flagged_late(app, client, world, login_as, serasa):
    login_as(world.admin_a)
    [debt_id] = _make_debts(app, world, 1)
    _negativate(client, [debt_id])
    paid_on = local_today(TZ) - timedelta(days=30)
    response = _mark_paid(client, app, debt_id, paid_on.strftime("%d/%m/%Y"))
    assert "Pagamento registrado com atraso" in response.text
    [record] = _records(app)
    assert record.registered_late and record.payment_recorded_on == local_today(TZ)
    assert "Registro tardio" in client.get("/admin/negativation/").text
    assert "late-registration" in client.get(f"/admin/negativation/details/?id={record.id}").text


def test_on_time_payment_is_not_flagged(app, client, world, login_as, serasa):
    login_as(world.admin_a)
    [debt_id] = _make_debts(app, world, 1)
    _negativate(client, [debt_id])
    response = _mark_paid(client, app, debt_id, local_today(TZ).strftime("%d/%m/%Y"))
    assert "atraso" not in response.text
    [record] = _records(app)
    assert not record.registered_late


def test_registration_exactly_on_the_deadline_is_on_time():
    record = Negativation(status=S.ACTIVE)
    record.mark_paid(date(2026, 11, 16), "pagamento", recorded_on=date(2026, 11, 24))  # deadline 24/11 (holiday 20)
    assert record.removal_deadline == date(2026, 11, 24) and not record.registered_late
    late = Negativation(status=S.ACTIVE)
    late.mark_paid(date(2026, 11, 16), "pagamento", recorded_on=date(2026, 11, 25))
    assert late.registered_late


def test_settled_negotiation_uses_its_payment_date(app, client, world, login_as, serasa):
    login_as(world.admin_a)
    [debt_id] = _make_debts(app, world, 1)
    _negativate(client, [debt_id])
    with app.app_context():
        debt = db.session.get(Debt, debt_id)
        negotiation = f.make_negotiation(debt.debtor, debt.creditor, debts=[debt])
        db.session.commit()
        neg_id, debtor_id, creditor_id = negotiation.id, debt.debtor_id, debt.creditor_id
    settled_on = local_today(TZ) - timedelta(days=1)
    page = client.get(f"/admin/negotiation/edit/?id={neg_id}").text
    client.post(f"/admin/negotiation/edit/?id={neg_id}", data={
        "csrf_token": csrf_from(page), "debtor": debtor_id, "creditor": creditor_id, "debts": [debt_id],
        "status": "quitada", "settled_on": settled_on.strftime("%d/%m/%Y")})
    [record] = _records(app)
    assert record.paid_on == settled_on and record.removal_deadline == removal_deadline(settled_on)
    with app.app_context():
        assert db.session.get(Negotiation, neg_id).settled_on == settled_on
        assert db.session.get(Debt, debt_id).paid_on == settled_on


# --- 6. The integration switched off with records alive --------------------------------------------------------


def _save_serasa(client, **data):
    page = client.get("/admin/profile/?tab=serasa").text
    form = {"csrf_token": csrf_from(page), "serasa_enabled": "0", "soa_email": DEFAULT_EMAIL,
            "soa_environment": "sandbox", "action": "save"} | data
    return client.post("/admin/profile/serasa/", data=form, follow_redirects=True)


def test_switching_off_with_live_records_asks_for_confirmation(app, client, world, login_as, serasa):
    login_as(world.admin_a)
    [debt_id] = _make_debts(app, world, 1)
    _negativate(client, [debt_id])
    response = _save_serasa(client)
    assert "1 negativação(ões) ativa(s) ou em andamento" in response.text and "confirm-disable-box" in response.text
    with app.app_context():
        assert db.session.get(Agency, world.a.id).serasa_enabled  # not saved without the confirmation
    response = _save_serasa(client, confirm_disable="y")
    assert "salva" in response.text
    with app.app_context():
        agency = db.session.get(Agency, world.a.id)
        assert not agency.serasa_enabled and agency.has_soa_credentials  # credentials kept for the removals


def test_switched_off_keeps_records_deadlines_and_removals_but_no_inclusions(app, client, world, login_as, serasa):
    login_as(world.admin_a)
    [debt_id, other] = _make_debts(app, world, 2)
    _negativate(client, [debt_id])
    _sync_all(client)
    _save_serasa(client, confirm_disable="y")
    listing = client.get("/admin/negativation/")
    assert listing.status_code == 200 and "serasa-off-notice" in listing.text  # still visible
    assert "btn-negativacao-serasa" in client.get("/admin/finance_negotiation/").text
    assert client.get(f"/admin/debt/negativate/?rowid={other}").status_code == 403  # no new inclusions
    assert "col-serasa" in client.get("/admin/debt/").text
    response = _mark_paid(client, app, debt_id, local_today(TZ).strftime("%d/%m/%Y"))
    assert "Baixa da negativação" in response.text  # the automatic exclusion still runs
    [record] = _records(app)
    assert record.status == S.EXCLUSION_REQUESTED and record.removal_deadline is not None
    result = app.test_cli_runner().invoke(args=["serasa", "sync"])
    assert "Assessoria A" in result.output  # the scheduled sync keeps going for this agency
    [record] = _records(app)
    assert record.status == S.EXCLUDED


def test_switched_off_without_records_hides_serasa(app, client, world, login_as):
    login_as(world.admin_a)
    assert client.get("/admin/negativation/").status_code == 404
    assert "col-serasa" not in client.get("/admin/debt/").text


# --- 7. Dashboard to-do ---------------------------------------------------------------------------------------


def test_dashboard_todo_links_to_each_filtered_list(app, client, world, login_as, serasa):
    today = local_today(TZ)
    _, late_id = _record_in(app, world, S.ACTIVE, unique_id="L", paid_on=today - timedelta(days=20),
                            removal_deadline=today - timedelta(days=10))
    _, near_id = _record_in(app, world, S.ACTIVE, unique_id="N", paid_on=today,
                            removal_deadline=today + timedelta(days=1))
    _, error_id = _record_in(app, world, S.ERROR)
    _, uncertain_id = _record_in(app, world, S.UNCERTAIN)
    _, quiet_id = _record_in(app, world, S.ACTIVE, unique_id="Q")
    with app.app_context():
        from models import Creditor, User

        owner = db.session.get(User, world.cons_a1.id)
        past = f.make_meeting(owner, db.session.get(Creditor, world.creditor_a.id),
                              starts_at=utcnow() - timedelta(days=2), subject="Sem resultado")
        done = f.make_meeting(owner, db.session.get(Creditor, world.creditor_a.id),
                              starts_at=utcnow() - timedelta(days=3), subject="Com resultado", productive=True)
        db.session.commit()
        past_id, done_id = past.id, done.id
    login_as(world.admin_a)
    html = client.get("/admin/").text
    expected = {"removals-late": {late_id}, "removals-due": {near_id}, "inclusions-error": {error_id},
                "inclusions-uncertain": {uncertain_id}}
    for key, ids in expected.items():
        link = re.search(rf'id="todo-{key}" href="([^"]+)"', html).group(1).replace("&amp;", "&")
        listed = _listed(client.get(link).text)
        assert listed == ids, (key, listed)
        assert quiet_id not in listed
    link = re.search(r'id="todo-meetings-outcome" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    listed = _listed(client.get(link).text)
    assert past_id in listed and done_id not in listed


def test_low_balance_alert_is_for_admins_only(app, client, world, login_as, auth, serasa):
    with app.app_context():
        agency = db.session.get(Agency, world.a.id)
        agency.soa_balance, agency.soa_low_balance = Decimal("5.00"), Decimal("50.00")
        db.session.commit()
    login_as(world.admin_a)
    assert 'id="todo-low-balance"' in client.get("/admin/").text
    auth.logout()
    login_as(world.cons_a1)
    html = client.get("/admin/").text
    assert 'id="todo-low-balance"' not in html and "low-balance-warning" not in html


def test_consultant_todo_counts_only_their_own(app, client, world, login_as, auth, serasa):
    _record_in(app, world, S.ERROR)  # a debtor of consultant A1
    login_as(world.cons_a2)
    assert 'id="todo-inclusions-error"' not in client.get("/admin/").text
    auth.logout()
    login_as(world.cons_a1)
    assert 'id="todo-inclusions-error"' in client.get("/admin/").text


def test_nothing_to_do_says_so(app, client, world, login_as):
    login_as(world.admin_a)
    assert 'id="todo-empty"' in client.get("/admin/").text


def test_batches_are_stored_per_agency(app, client, world, login_as, serasa):
    login_as(world.admin_a)
    _negativate(client, _make_debts(app, world, 1))
    with app.app_context():
        [batch] = db.session.scalars(db.select(NegativationBatch)).all()
        assert batch.agency_id == world.a.id and batch.count("incluida") == 1
