"""Roles act through their capabilities only: each capability observed through the screens, against the table of
docs/rules.md ("Who may do what") written out here, independently of models.agency.ROLE_CAPABILITIES. Changing a
role's capabilities in the code without changing this table (and the rules) fails here.
"""

import pytest
from sqlalchemy import select

from devtools.soa_sandbox import DEFAULT_EMAIL, DEFAULT_PASSWORD
from models import Agency, Debtor, User, db
from models.agency import ROLE_CAPABILITIES, ROLE_LABELS, Capability, Role
from tests.conftest import csrf_from

C = Capability
#: docs/rules.md, "Who may do what".
EXPECTED = {
    Role.ADMIN: {C.MANAGE_AGENCY, C.SEE_AUDIT, C.SEE_ALL_PORTFOLIOS, C.MANAGE_RECORDS, C.NEGATIVATE,
                 C.EXPORT_PERSONAL_DATA},
    Role.SUPERVISOR: {C.SEE_ALL_PORTFOLIOS, C.MANAGE_RECORDS},
    Role.CONSULTANT: {C.HOLD_PORTFOLIO},
}
USERS = {Role.ADMIN: "admin_a", Role.SUPERVISOR: "sup_a", Role.CONSULTANT: "cons_a1"}


def _serasa_on(app, world):
    with app.app_context():
        agency = db.session.get(Agency, world.a.id)
        agency.serasa_enabled = True
        agency.soa_email = DEFAULT_EMAIL
        agency.set_soa_password(DEFAULT_PASSWORD, app.config["CREDENTIALS_KEY"])
        db.session.commit()


def _status(client, url, allowed: int, refused: tuple[int, ...]) -> bool:
    status = client.get(url).status_code
    assert status in (allowed, *refused), (url, status)
    return status == allowed


def _holds_portfolio(app, client, world, login_as, user) -> bool:
    """Whether the user is offered as a debtor's Consultor (asked as the agency's administrator)."""
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/logout").text)})
    login_as(world.admin_a)
    page = client.get("/admin/debtor/new/").text
    return f">{user.name}</option>" in page


#: How each capability shows through the screens: True when the logged-in user has it.
PROBES = {
    C.MANAGE_AGENCY: lambda app, client, world, login_as, user: (
        _status(client, "/admin/profile/", 200, (404,)) & _status(client, "/admin/user/", 200, (404,))),
    C.SEE_AUDIT: lambda app, client, world, login_as, user: (
        _status(client, "/admin/audit/", 200, (404,)) & _status(client, "/admin/soa_call/", 200, (404,))),
    C.SEE_ALL_PORTFOLIOS: lambda app, client, world, login_as, user: _status(
        client, f"/admin/debtor/details/?id={world.debtor_a2.id}", 200, (404,)),
    C.MANAGE_RECORDS: lambda app, client, world, login_as, user: _status(client, "/admin/debtor/new/", 200, (403,)),
    C.NEGATIVATE: lambda app, client, world, login_as, user: _status(
        client, f"/admin/debt/negativate/?rowid={world.debt_a1.id}", 200, (403,)),
    C.EXPORT_PERSONAL_DATA: lambda app, client, world, login_as, user: _status(
        client, "/admin/creditor/export/csv/", 200, (403,)),
    C.HOLD_PORTFOLIO: _holds_portfolio,
}


def test_every_role_and_capability_is_in_the_table_and_probed():
    assert set(ROLE_CAPABILITIES) == set(Role) == set(EXPECTED) == set(ROLE_LABELS)
    assert set(PROBES) == set(Capability)


@pytest.mark.parametrize("capability", list(Capability))
@pytest.mark.parametrize("role", list(Role))
def test_each_role_has_exactly_the_documented_capabilities(app, client, world, login_as, soa, role, capability):
    _serasa_on(app, world)
    user = login_as(getattr(world, USERS[role]))
    observed = PROBES[capability](app, client, world, login_as, user)
    assert observed == (capability in EXPECTED[role]), f"{role}: {capability} observed={observed}"


# --- the supervisor, end to end ------------------------------------------------------------------------------


def test_supervisor_sees_every_consultants_rows_of_the_agency_only(app, client, world, login_as):
    login_as(world.sup_a)
    for url in ("/admin/debtor/", "/admin/debt/", "/admin/negotiation/", "/admin/meeting/"):
        page = client.get(url).text
        for mine, theirs in (("Devedor de A1", "Devedor de A2"), ("CT-A1", "CT-A2"), ("Reunião de A1",
                                                                                     "Reunião de A2")):
            if mine in page or theirs in page:
                assert mine in page and theirs in page, (url, mine, theirs)
        assert "Devedor de B" not in page and "CT-B" not in page and "Reunião de B" not in page, url
    assert client.get(f"/admin/debtor/details/?id={world.debtor_a2.id}").status_code == 200
    assert client.get(f"/admin/debt/details/?id={world.debt_a2.id}").status_code == 200
    assert client.get(f"/admin/meeting/details/?id={world.meeting_a2.id}").status_code == 200
    assert client.get(f"/admin/debtor/details/?id={world.debtor_b.id}").status_code == 404
    assert client.get(f"/admin/meeting/details/?id={world.meeting_b.id}").status_code == 404
    lookup = client.get("/admin/negotiation/ajax/lookup/?name=debtor&query=Devedor").text
    assert "Devedor de A1" in lookup and "Devedor de A2" in lookup and "Devedor de B" not in lookup
    dashboard = client.get("/admin/").text
    assert 'id="stat-debtors">2<' in dashboard and "Meus devedores" not in dashboard


def test_consultant_still_sees_only_their_own_rows(app, client, world, login_as):
    login_as(world.cons_a1)
    for url in ("/admin/debtor/", "/admin/debt/", "/admin/meeting/"):
        page = client.get(url).text
        assert "Devedor de A2" not in page and "CT-A2" not in page and "Reunião de A2" not in page, url
    assert client.get(f"/admin/debtor/details/?id={world.debtor_a2.id}").status_code == 404
    assert 'id="stat-debtors">1<' in client.get("/admin/").text


def test_supervisor_cannot_negativate_exclude_resend_or_sync(app, client, world, login_as, soa):
    from models import Negativation
    from models.negativation import NegativationStatus

    _serasa_on(app, world)
    with app.app_context():
        from models import Debt

        record = Negativation.for_debt(db.session.get(Debt, world.debt_a2.id), None, None)
        record.status, record.unique_id = NegativationStatus.ERROR, "P-1"
        db.session.add(record)
        db.session.commit()
        record_id = record.id
    login_as(world.sup_a)
    token = csrf_from(client.get("/admin/debt/").text)
    assert "Negativar no Serasa" not in client.get("/admin/debt/").text
    assert client.get(f"/admin/debt/negativate/?rowid={world.debt_a1.id}").status_code == 403
    assert client.post("/admin/debt/negativate/", data={"csrf_token": token, "rowid": world.debt_a1.id,
                                                        "restriction_code": "1"}).status_code == 403
    assert client.get("/admin/debt/negativate/reports/").status_code == 403
    assert client.get(f"/admin/negativation/exclude/?id={record_id}").status_code == 403
    assert client.post("/admin/negativation/resend/", data={"csrf_token": token, "id": record_id}).status_code == 403
    assert client.post("/admin/negativation/sync/", data={"csrf_token": token}).status_code == 403
    details = client.get(f"/admin/negativation/details/?id={record_id}")
    assert details.status_code == 200 and "btn-reenviar" not in details.text
    assert "btn-atualizar-situacao" not in client.get("/admin/negativation/").text
    with app.app_context():
        assert db.session.get(Negativation, record_id).status == NegativationStatus.ERROR


def test_supervisor_cannot_change_the_agency_settings_or_users(app, client, world, login_as):
    login_as(world.sup_a)
    token = csrf_from(client.get("/admin/").text)
    assert client.get("/admin/profile/?tab=serasa").status_code == 404
    response = client.post("/admin/profile/geral/", data={"csrf_token": token, "name": "Tomada",
                                                          "timezone": "America/Sao_Paulo"})
    assert response.status_code == 404
    assert client.post("/admin/profile/serasa/", data={"csrf_token": token, "serasa_enabled": "1",
                                                       "soa_email": "x@y.com.br", "soa_password": "segredo",
                                                       "soa_environment": "sandbox"}).status_code == 404
    assert client.get("/admin/user/").status_code == 404
    assert client.get("/admin/debtor/export/csv/").status_code == 403
    with app.app_context():
        agency = db.session.get(Agency, world.a.id)
        assert agency.name == "Assessoria A" and not agency.serasa_enabled and agency.soa_email is None


def test_admin_creates_a_supervisor_in_usuarios_who_then_sees_every_portfolio(app, client, world, login_as, auth):
    login_as(world.admin_a)
    page = client.get("/admin/user/new/").text
    assert '<option value="supervisor">Supervisor</option>' in page
    response = client.post("/admin/user/new/", data={"csrf_token": csrf_from(page), "name": "Sofia Supervisora",
                                                     "email": "sofia@ag.com.br", "role": "supervisor",
                                                     "active": "y", "new_password": "senha-inicial-123"})
    assert response.status_code == 302
    with app.app_context():
        created = db.session.scalars(select(User).where(User.email == "sofia@ag.com.br")).one()
        assert created.role == Role.SUPERVISOR and created.agency_id == world.a.id
        assert "Supervisor" in client.get(f"/admin/user/details/?id={created.id}").text
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/logout").text)})
    assert auth.login("sofia@ag.com.br", "senha-inicial-123").status_code == 302
    page = client.get("/admin/debtor/").text
    assert "Devedor de A1" in page and "Devedor de A2" in page


def test_a_supervisor_is_not_offered_as_a_debtors_consultant(app, client, world, login_as):
    login_as(world.admin_a)
    page = client.get("/admin/debtor/new/").text
    assert ">Consultor A1</option>" in page and ">Supervisora A</option>" not in page
    with app.app_context():
        assert db.session.scalar(select(Debtor.id).where(Debtor.consultant_id == world.sup_a.id)) is None
