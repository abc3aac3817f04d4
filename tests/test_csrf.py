"""Every state-changing POST without a valid CSRF token is refused and changes nothing."""

from models import Agency, Creditor, Meeting, MeetingEmail, User, db


def _counts(app):
    with app.app_context():
        return {m.__name__: db.session.query(m).count() for m in (Creditor, User, Meeting, MeetingEmail)}


def test_forms_and_actions_without_token_change_nothing(app, client, world, login_as, smtp):
    login_as(world.admin_a)
    before = _counts(app)
    posts = [
        ("/admin/creditor/new/", {"name": "Novo Credor", "cnpj": "11222333000181"}),
        (f"/admin/creditor/edit/?id={world.creditor_a.id}", {"name": "Renomeado", "cnpj": "11222333000181"}),
        ("/admin/creditor/delete/", {"id": world.creditor_a.id}),
        ("/admin/creditor/action/", {"action": "delete", "rowid": [world.creditor_a.id]}),
        (
            "/admin/user/new/",
            {"name": "X", "email": "x@x.com.br", "role": "admin", "new_password": "12345678"},
        ),
        ("/admin/meeting/delete/", {"id": world.meeting_a1.id}),
        (f"/admin/meeting/send/?id={world.meeting_a1.id}&kind=invite", {"recipients": "a@b.com.br"}),
        ("/admin/profile/geral/", {"name": "Hackeada", "timezone": "America/Sao_Paulo"}),
        ("/admin/profile/reunioes/", {"meetings_enabled": "0"}),
        ("/admin/profile/serasa/", {"serasa_enabled": "0", "soa_environment": "sandbox"}),
    ]
    for url, data in posts:
        for token in (None, "forjado"):
            payload = dict(data, **({"csrf_token": token} if token else {}))
            response = client.post(url, data=payload)
            assert response.status_code in (200, 302, 400), (url, response.status_code)
    assert _counts(app) == before
    with app.app_context():
        agency = db.session.get(Agency, world.a.id)
        assert agency.name == "Assessoria A" and agency.meetings_enabled
        assert db.session.get(Creditor, world.creditor_a.id).name == "Credor Alfa"
        assert db.session.get(Meeting, world.meeting_a1.id).invite_sent_at is None
    assert smtp.messages == []


def test_token_from_another_session_is_refused(app, client, world, login_as, csrf_token):
    other = app.test_client()
    from tests.conftest import Auth

    Auth(other).login(world.admin_a)
    foreign_token = __import__("tests.conftest", fromlist=["csrf_from"]).csrf_from(
        other.get("/admin/creditor/").text
    )
    login_as(world.admin_a)
    client.post("/admin/creditor/delete/", data={"id": world.creditor_a.id, "csrf_token": foreign_token})
    with app.app_context():
        assert db.session.get(Creditor, world.creditor_a.id) is not None


def test_with_token_the_same_delete_works(app, client, world, login_as, csrf_token):
    login_as(world.admin_a)
    with app.app_context():
        creditor = Creditor(agency_id=world.a.id, name="Descartável", cnpj="11222333000181")
        db.session.add(creditor)
        db.session.commit()
        creditor_id = creditor.id
    token = csrf_token("/admin/creditor/")
    response = client.post("/admin/creditor/delete/", data={"id": creditor_id, "csrf_token": token})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(Creditor, creditor_id) is None
