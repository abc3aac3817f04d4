"""Every menu page renders in pt-BR for each role; consultants see only what docs/rules.md allows."""

import pytest

from models import Agency, db

ADMIN_PAGES = {
    "/admin/": "Olá",
    "/admin/meeting/": "Reuniões",
    "/admin/creditor/": "Credores",
    "/admin/debtor/": "Devedores",
    "/admin/debt/": "Dívidas",
    "/admin/negotiation/": "Negociações",
    "/admin/finance_negotiation/": "Financeiro",
    "/admin/audit/": "Auditoria",
    "/admin/profile/": "Perfil da assessoria",
    "/admin/profile/?tab=reunioes": "Habilita cadastro de reuniões",
    "/admin/profile/?tab=serasa": "HABILITA INTEGRAÇÃO COM SERASA VIA SOA WEBSERVICES",
    "/admin/user/": "Usuários",
    "/admin/meeting/new/": "Assunto",
    "/admin/creditor/new/": "Nome",
    "/admin/debtor/new/": "CPF/CNPJ",
    "/admin/debt/new/": "Vencimento",
    "/admin/negotiation/new/": "Valor acordado",
    "/admin/user/new/": "Perfil de acesso",
}
CONSULTANT_PAGES = ["/admin/", "/admin/meeting/", "/admin/creditor/", "/admin/debtor/", "/admin/debt/",
                    "/admin/negotiation/", "/admin/finance_negotiation/", "/admin/meeting/new/",
                    "/admin/negotiation/new/"]
ADMIN_ONLY = ["/admin/audit/", "/admin/profile/", "/admin/user/", "/admin/user/new/"]
READ_ONLY_FOR_CONSULTANTS = ["/admin/creditor/new/", "/admin/debtor/new/", "/admin/debt/new/"]
PT_BR_CHROME = ["Cadastros", "Financeiro", "Início", "Sair"]


@pytest.mark.parametrize("url,expected", ADMIN_PAGES.items())
def test_admin_pages_render_in_portuguese(client, world, login_as, url, expected):
    login_as(world.admin_a)
    page = client.get(url)
    assert page.status_code == 200, url
    assert expected in page.text
    for word in PT_BR_CHROME:
        assert word in page.text
    for english in ("Delete Record", "Home", "Create", "List (", "Log out"):
        assert english not in page.text


@pytest.mark.parametrize("url", CONSULTANT_PAGES)
def test_consultant_pages_render(client, world, login_as, url):
    login_as(world.cons_a1)
    page = client.get(url)
    assert page.status_code == 200, url
    assert "Cadastros" in page.text and "Sair" in page.text


@pytest.mark.parametrize("url", ADMIN_ONLY)
def test_consultant_gets_404_on_admin_pages(client, world, login_as, url):
    login_as(world.cons_a1)
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("url", READ_ONLY_FOR_CONSULTANTS)
def test_consultant_cannot_create_registrations(client, world, login_as, url):
    login_as(world.cons_a1)
    assert client.get(url).status_code == 403


def test_consultant_menu_hides_admin_entries(client, world, login_as):
    login_as(world.cons_a1)
    page = client.get("/admin/").text
    for entry in ("/admin/profile/", "/admin/user/", "/admin/audit/"):
        assert f'href="{entry}"' not in page


def test_consultant_lists_only_own_debtors_debts_negotiations(client, world, login_as):
    login_as(world.cons_a1)
    for url, mine, other in (("/admin/debtor/", "Devedor de A1", "Devedor de A2"),
                             ("/admin/debt/", "CT-A1", "CT-A2"),
                             ("/admin/negotiation/", "Devedor de A1", "Devedor de A2"),
                             ("/admin/meeting/", "Reunião de A1", "Reunião de A2")):
        page = client.get(url).text
        assert mine in page, url
        assert other not in page, url


def test_consultant_reads_all_creditors_but_cannot_edit(client, world, login_as):
    login_as(world.cons_a1)
    page = client.get("/admin/creditor/").text
    assert "Credor Alfa" in page and "Credor Beta" not in page
    assert client.get(f"/admin/creditor/edit/?id={world.creditor_a.id}").status_code == 403


def test_consultant_cannot_open_other_consultants_records(client, world, login_as):
    login_as(world.cons_a1)
    for url in (f"/admin/debtor/details/?id={world.debtor_a2.id}",
                f"/admin/debt/details/?id={world.debt_a2.id}",
                f"/admin/negotiation/edit/?id={world.neg_a2.id}",
                f"/admin/meeting/details/?id={world.meeting_a2.id}",
                f"/admin/meeting/edit/?id={world.meeting_a2.id}"):
        assert client.get(url).status_code == 404, url


def test_dates_money_and_documents_are_brazilian(client, world, login_as):
    login_as(world.admin_a)
    debts = client.get("/admin/debt/").text
    assert "R$ 1.234,56" in debts
    debtors = client.get("/admin/debtor/").text
    d = world.debtor_a1.document
    assert f"{d[:3]}.{d[3:6]}.{d[6:9]}-{d[9:]}" in debtors
    details = client.get(f"/admin/debtor/details/?id={world.debtor_a1.id}").text
    assert "17/05/1980" in details and "01305-000" in details


def test_meetings_disabled_hides_menu_clock_and_urls(app, client, world, login_as):
    with app.app_context():
        db.session.get(Agency, world.a.id).meetings_enabled = False
        db.session.commit()
    login_as(world.admin_a)
    page = client.get("/admin/").text
    assert "/admin/meeting/" not in page and "meeting-clock" not in page
    assert client.get("/admin/meeting/").status_code == 404
    assert client.get(f"/admin/meeting/details/?id={world.meeting_a1.id}").status_code == 404
    assert "btn-reunioes" not in client.get("/admin/finance_negotiation/").text
