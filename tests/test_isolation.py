"""Agency isolation: nothing of agency B reaches a user of agency A, by any URL (docs/rules.md, who may do what)."""

import pytest

from models import Creditor, Debt, Debtor, Meeting, Negotiation, db

# endpoint -> (world attribute of agency B's object, model)
SCREENS = {
    "creditor": ("creditor_b", Creditor),
    "debtor": ("debtor_b", Debtor),
    "debt": ("debt_b", Debt),
    "negotiation": ("neg_b", Negotiation),
    "finance_negotiation": ("neg_b", Negotiation),
    "meeting": ("meeting_b", Meeting),
}


@pytest.mark.parametrize("endpoint", SCREENS)
@pytest.mark.parametrize("page", ["details", "edit"])
def test_other_agencys_object_is_not_found(client, world, login_as, endpoint, page):
    login_as(world.admin_a)
    other = getattr(world, SCREENS[endpoint][0])
    response = client.get(f"/admin/{endpoint}/{page}/?id={other.id}")
    assert response.status_code == 404
    assert getattr(other, "name", None) is None or other.name not in response.text


@pytest.mark.parametrize("endpoint", SCREENS)
def test_other_agencys_object_cannot_be_edited_or_deleted(app, client, world, login_as, csrf_token, endpoint):
    login_as(world.admin_a)
    attr, model = SCREENS[endpoint]
    other = getattr(world, attr)
    token = csrf_token(f"/admin/{endpoint}/")
    assert (
        client.post(f"/admin/{endpoint}/edit/?id={other.id}", data={"csrf_token": token}).status_code == 404
    )
    assert (
        client.post(f"/admin/{endpoint}/delete/", data={"csrf_token": token, "id": other.id}).status_code
        == 404
    )
    response = client.post(
        f"/admin/{endpoint}/action/", data={"csrf_token": token, "action": "delete", "rowid": [other.id]}
    )
    assert response.status_code == 404
    with app.app_context():
        assert db.session.get(model, other.id) is not None


def test_bulk_action_mixing_own_and_foreign_rows_does_nothing(app, client, world, login_as, csrf_token):
    login_as(world.admin_a)
    token = csrf_token("/admin/creditor/")
    own = world.creditor_a.id
    response = client.post(
        "/admin/creditor/action/",
        data={"csrf_token": token, "action": "delete", "rowid": [own, world.creditor_b.id]},
    )
    assert response.status_code == 404
    with app.app_context():
        assert db.session.get(Creditor, own) is not None


@pytest.mark.parametrize("bad_id", ["abc", "-1", "0", "99999999999999999999999", "1;DROP TABLE debt"])
def test_malformed_ids_are_not_found(client, world, login_as, bad_id):
    login_as(world.admin_a)
    assert client.get(f"/admin/debt/details/?id={bad_id}").status_code == 404


@pytest.mark.parametrize(
    "endpoint,foreign_text",
    [
        ("creditor", "Credor Beta"),
        ("debtor", "Devedor de B"),
        ("debt", "CT-B"),
        ("negotiation", "Devedor de B"),
        ("meeting", "Reunião de B"),
    ],
)
def test_lists_and_csv_exports_hold_only_own_agency(client, world, login_as, endpoint, foreign_text):
    login_as(world.admin_a)
    listing = client.get(f"/admin/{endpoint}/")
    export = client.get(f"/admin/{endpoint}/export/csv/")
    assert listing.status_code == export.status_code == 200
    assert foreign_text not in listing.text
    assert foreign_text not in export.get_data(as_text=True)


def test_search_and_filters_never_cross_agencies(client, world, login_as):
    login_as(world.admin_a)
    debts = client.get("/admin/debt/?search=CT").text
    assert "CT-A1" in debts and "CT-B" not in debts
    debtors = client.get("/admin/debtor/?search=Devedor").text
    assert "Devedor de A1" in debtors and "Devedor de B" not in debtors


@pytest.mark.parametrize(
    "url,foreign",
    [
        ("/admin/debt/ajax/lookup/?name=debtor&query=Devedor", "Devedor de B"),
        ("/admin/negotiation/ajax/lookup/?name=debtor&query=Devedor", "Devedor de B"),
        ("/admin/negotiation/ajax/lookup/?name=debts&query=CT", "CT-B"),
    ],
)
def test_ajax_lookups_offer_only_own_agency(client, world, login_as, url, foreign):
    login_as(world.admin_a)
    response = client.get(url)
    assert response.status_code == 200
    assert foreign not in response.text
    assert response.json, "own agency rows should be offered"


def test_consultant_ajax_lookup_offers_only_own_debtors(client, world, login_as):
    login_as(world.cons_a1)
    response = client.get("/admin/negotiation/ajax/lookup/?name=debtor&query=Devedor")
    names = [label for _, label in response.json]
    assert any("Devedor de A1" in n for n in names)
    assert not any("Devedor de A2" in n or "Devedor de B" in n for n in names)


def test_relationship_pickers_offer_only_own_agency(client, world, login_as):
    login_as(world.admin_a)
    for url in ("/admin/debt/new/", "/admin/meeting/new/", "/admin/negotiation/new/"):
        page = client.get(url).text
        assert "Credor Alfa" in page and "Credor Beta" not in page, url
        assert "Consultor B" not in page and "Admin B" not in page, url


def test_creating_with_a_foreign_creditor_id_is_refused(app, client, world, login_as, csrf_token):
    login_as(world.admin_a)
    token = csrf_token("/admin/debt/new/")
    response = client.post(
        "/admin/debt/new/",
        data={
            "csrf_token": token,
            "debtor": world.debtor_a1.id,
            "creditor": world.creditor_b.id,
            "contract_number": "CT-NOVO",
            "amount": "100,00",
            "due_date": "01/01/2026",
            "status": "aberta",
        },
    )
    assert response.status_code == 200
    assert "Escolha o credor." in response.text
    assert "Não foi possível criar o registro" in response.text
    with app.app_context():
        assert db.session.query(Debt).filter_by(contract_number="CT-NOVO").count() == 0


def test_other_agency_admin_sees_none_of_agency_a(client, world, login_as):
    login_as(world.admin_b)
    for url, text in (
        ("/admin/debtor/", "Devedor de A1"),
        ("/admin/meeting/", "Reunião de A1"),
        ("/admin/creditor/", "Credor Alfa"),
        ("/admin/user/", "Consultor A1"),
    ):
        assert text not in client.get(url).text
    assert client.get(f"/admin/user/edit/?id={world.cons_a1.id}").status_code == 404
