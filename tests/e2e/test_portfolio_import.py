"""Cadastros > Importar carteira in Chromium: upload the demo's sample carteira → columns → preview → the job's
progress page → the result; the live server runs a queue consumer in its process, as `make run` does."""

import re

from playwright.sync_api import expect
from sqlalchemy import select

from admin_views.portfolio_import import SAMPLE_FILE
from models import Debt, Debtor, db


def test_import_the_sample_carteira_from_upload_to_result(new_session, live_server, screenshot):
    session = new_session()
    page = session.login("admin@demo.com.br")
    page.get_by_role("link", name="Cadastros").click()
    page.get_by_role("link", name="Importar carteira").click()
    expect(page.locator("h4")).to_contain_text("Importar carteira")
    page.get_by_label("Credor *").select_option(label="Escola Saber Mais")
    page.get_by_label("Arquivo da carteira (CSV ou Excel .xlsx) *").set_input_files(str(SAMPLE_FILE))
    with page.expect_navigation():
        page.locator("#upload-submit").click()
    # Columns recognised from the Portuguese titles; a round-robin between the two consultants.
    expect(page.locator("#import-mapping")).to_be_visible()
    expect(page.get_by_label("CPF/CNPJ *")).to_have_value("1")
    expect(page.get_by_label("Vencimento *")).to_have_value("4")
    page.get_by_label("Rodízio entre os consultores escolhidos (só devedores novos)").check()
    page.get_by_label("Carlos Consultor").check()
    page.get_by_label("Beatriz Consultora").check()
    with page.expect_navigation():
        page.locator("#mapping-submit").click()
    # Preview: nothing written yet; counts of the whole file and the problems with their line numbers.
    expect(page.locator("#count-total")).to_have_text("15", timeout=30_000)  # the check job, then a refresh
    expect(page.locator("#count-valid")).to_have_text("11")
    expect(page.locator("#count-warned")).to_have_text("1")
    expect(page.locator("#count-refused")).to_have_text("3")
    expect(page.locator("#preview-problems")).to_contain_text("CPF/CNPJ inválido: 123.456.789-00")
    expect(page.locator("#preview-sample")).to_contain_text("Antônio Pereira")
    with live_server.db():
        assert db.session.scalar(select(Debt.id).where(Debt.contract_number == "EX-20250001")) is None
    with page.expect_navigation():
        page.locator("#start-submit").click()
    # The job layer's progress page, then the result.
    expect(page.locator("#job-state")).to_have_text("Concluída", timeout=30_000)
    expect(page.locator("#job-summary")).to_contain_text(re.compile(r"12 criada\(s\).*3 recusada\(s\)"))
    with page.expect_navigation():
        page.locator("#job-import-result").click()
    expect(page.locator("#result-created")).to_have_text("12")
    expect(page.locator("#result-refused")).to_have_text("3")
    expect(page.locator("#result-problems")).to_contain_text("valor ilegível: cem reais")
    expect(page.locator("#refused-csv")).to_be_visible()
    screenshot(page, "17-import", full_page=True)
    with live_server.db():
        debt = db.session.scalar(select(Debt).where(Debt.contract_number == "EX-20250001"))
        assert debt is not None and debt.debtor.name == "Antônio Pereira"
        owners = set(db.session.scalars(select(Debtor.consultant_id).join(Debt).where(
            Debt.contract_number.like("EX-2025%"))))
        assert len(owners) == 2
