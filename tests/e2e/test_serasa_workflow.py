"""The Serasa workflow in a real browser, on the demo data: the Serasa column where people look, the confirmation
with cost and balance and the records already in flight, the report (export, print, resend), and an exclusion whose
SOA code follows the motive."""

import csv
import io
import re
from datetime import datetime
from pathlib import Path

from playwright.sync_api import expect

from models import Agency, Debt, Debtor, Negativation, db
from models.negativation import eligibility_problems
from tests.e2e.test_flows import ADMIN, SP


def _fresh_eligible_debts(live, n: int) -> list[Debt]:
    """Eligible demo debts of Assessoria Demo that no earlier flow has negativated."""
    with live.db():
        agency = db.session.query(Agency).filter_by(name="Assessoria Demo").one()
        if not agency.serasa_enabled:
            from flask import current_app

            agency.serasa_enabled, agency.soa_email = True, "demo@soa.sandbox"
            agency.set_soa_password("sandbox123", current_app.config["CREDENTIALS_KEY"])
            db.session.commit()
        taken = {d for (d,) in db.session.query(Negativation.debt_id)}
        today = datetime.now(SP).date()
        found = []
        for debt in db.session.query(Debt).join(Debtor).filter(Debt.agency_id == agency.id).order_by(Debt.id):
            if debt.id not in taken and not eligibility_problems(debt, today):
                found.append((debt.id, debt.contract_number))
            if len(found) == n:
                return found
    raise AssertionError(f"the demo data has fewer than {n} eligible debts left")




def test_serasa_confirmation_shows_cost_balance_and_the_record_in_flight(new_session, live_server, screenshot):
    (first_id, first), (second_id, second) = _fresh_eligible_debts(live_server, 2)
    s = new_session()
    page = s.login(ADMIN)
    s.goto(f"/admin/debt/negativate/?rowid={first_id}")
    page.locator("#btn-confirmar-negativacao").click()
    expect(page.locator("#negativate-summary")).to_contain_text("1 incluída(s)", timeout=30_000)  # a job now

    # Dívidas shows the Serasa situation of the debt just sent, linking to its record.
    s.goto("/admin/debt/?search=" + first)
    row = page.locator("table.model-list tbody tr", has_text=first)
    expect(row.locator("a.serasa-status")).to_have_text("Enviada")

    # Choosing it again with a fresh one: the confirmation says which is in flight and does not offer it.
    s.goto(f"/admin/debt/negativate/?rowid={first_id}&rowid={second_id}")
    in_flight = page.locator("#negativate-preview tr", has_text=first)
    expect(in_flight).to_contain_text("Já negativada")
    expect(in_flight).not_to_contain_text("Pode ser incluída")
    expect(in_flight.locator("input[name=rowid]")).to_have_count(0)
    expect(page.locator("#negativate-preview tr", has_text=second)).to_contain_text("Pode ser incluída")
    expect(page.locator("#cost-to-send")).to_have_text("1")
    expect(page.locator("#cost-balance")).to_contain_text("R$")
    expect(page.locator("#btn-confirmar-negativacao")).to_contain_text("Confirmar negativação de 1")
    screenshot(page, "14-negativar-conferencia-saldo", full_page=True)
    in_flight.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/admin/negativation/details/"))


def test_serasa_report_exports_prints_and_reopens(new_session, live_server, screenshot):
    [(debt_id, contract)] = _fresh_eligible_debts(live_server, 1)
    s = new_session()
    page = s.login(ADMIN)
    s.goto(f"/admin/debt/negativate/?rowid={debt_id}")
    page.locator("#btn-confirmar-negativacao").click()
    expect(page.get_by_role("heading", name=re.compile("Resultado da negativação"))).to_be_visible(timeout=30_000)
    expect(page.locator("#report-print")).to_be_visible()
    report_url = page.url
    with page.expect_download() as download:
        page.locator("#report-csv").click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0][0] == "Contrato" and any(r[0] == contract and r[6] == "Incluída" for r in rows[1:]), rows
    with page.expect_download() as download:
        page.locator("#report-xlsx").click()
    assert download.value.suggested_filename.endswith(".xlsx")
    page.evaluate("window.print = function () { document.body.dataset.printed = '1'; }")
    page.locator("#report-print").click()
    expect(page.locator("body")).to_have_attribute("data-printed", "1")
    screenshot(page, "15-negativacao-relatorio")
    s.goto(report_url.removeprefix(live_server.url))  # the report stays available
    expect(page.locator("#negativate-report")).to_contain_text(contract)


def test_exclusion_code_follows_the_motive_and_the_note_is_required(new_session, live_server, screenshot):
    [(debt_id, contract)] = _fresh_eligible_debts(live_server, 1)
    s = new_session()
    page = s.login(ADMIN)
    s.goto(f"/admin/debt/negativate/?rowid={debt_id}")
    page.locator("#btn-confirmar-negativacao").click()
    page.locator("#negativate-report tr", has_text=contract).get_by_role("link").click()
    page.locator("#btn-excluir-negativacao").click()
    page.wait_for_load_state("load")  # the motive drives the code list once the page's script has run
    code = page.get_by_label(re.compile("Código de baixa"))
    page.get_by_label("Motivo da baixa *").select_option(label="Pagamento")
    expect(code).to_have_value("1")
    page.get_by_label("Motivo da baixa *").select_option(label="Ordem judicial")
    expect(code).to_have_value("4")
    expect(code.locator("option:not([disabled])")).to_have_count(1)
    expect(page.locator("#note-required")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Solicitar baixa").click()
    expect(page.locator("#exclude-form")).to_contain_text("Descreva o motivo na observação")  # refused: no note
    page.get_by_label("Observação").fill("Processo 0001234-56.2026.8.26.0100")
    screenshot(page, "16-baixa-ordem-judicial")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Solicitar baixa").click()
    expect(page.locator(".alert-success")).to_contain_text("solicitada")
    expect(page.locator("#negativation-events")).to_contain_text("Processo 0001234-56.2026.8.26.0100")
