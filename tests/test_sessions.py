"""Revocable sessions, login timing, and user e-mails that tell nothing about other agencies."""

import statistics
import time

import pytest
from sqlalchemy import select

from models import AuditLog, User, db
from models.agency import Role
from tests.conftest import Auth, csrf_from


def _session_copy(app, client):
    """A second browser holding a copy of the first one's session cookie (a stolen or forgotten cookie)."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def _logged_in(client) -> bool:
    return client.get("/admin/").status_code == 200


def test_a_copied_cookie_dies_with_the_logout(app, client, world, auth):
    auth.login(world.cons_a1)
    thief = _session_copy(app, client)
    assert _logged_in(thief)
    auth.logout()
    assert not _logged_in(thief)
    assert thief.get("/admin/meeting/").status_code == 302


@pytest.mark.parametrize("change", ["password", "role", "deactivate"])
def test_password_role_and_deactivation_end_the_users_sessions(app, world, change):
    victim_browser = app.test_client()
    Auth(victim_browser).login(world.cons_a1)
    assert _logged_in(victim_browser)
    admin = app.test_client()
    Auth(admin).login(world.admin_a)
    url = f"/admin/user/edit/?id={world.cons_a1.id}"
    page = admin.get(url).text
    data = {"csrf_token": csrf_from(page), "name": world.cons_a1.name, "email": world.cons_a1.email,
            "role": "consultant", "active": "y", "new_password": "",
            "row_version": page.split('name="row_version" type="hidden" value="')[1].split('"')[0]}
    if change == "password":
        data["new_password"] = "uma-senha-nova-123"
    elif change == "role":
        data["role"] = "admin"
    else:
        del data["active"]
    response = admin.post(url, data=data)
    assert response.status_code == 302, response.text
    assert not _logged_in(victim_browser)
    assert _logged_in(admin)


def test_saving_a_user_without_changes_keeps_their_sessions(app, world):
    victim_browser = app.test_client()
    Auth(victim_browser).login(world.cons_a1)
    admin = app.test_client()
    Auth(admin).login(world.admin_a)
    url = f"/admin/user/edit/?id={world.cons_a1.id}"
    page = admin.get(url).text
    admin.post(url, data={"csrf_token": csrf_from(page), "name": "Outro nome", "email": world.cons_a1.email,
                          "role": "consultant", "active": "y", "new_password": "",
                          "row_version": page.split('name="row_version" type="hidden" value="')[1].split('"')[0]})
    assert _logged_in(victim_browser)


def test_admin_changing_own_password_stays_logged_in_here_only(app, client, world, auth):
    auth.login(world.admin_a)
    other_device = _session_copy(app, client)
    url = f"/admin/user/edit/?id={world.admin_a.id}"
    page = client.get(url).text
    response = client.post(url, data={
        "csrf_token": csrf_from(page), "name": world.admin_a.name, "email": world.admin_a.email, "role": "admin",
        "active": "y", "new_password": "uma-senha-nova-123",
        "row_version": page.split('name="row_version" type="hidden" value="')[1].split('"')[0]})
    assert response.status_code == 302
    assert _logged_in(client)
    assert not _logged_in(other_device)


def test_sair_de_todos_os_dispositivos_on_the_users_page(app, world):
    phone, laptop = app.test_client(), app.test_client()
    Auth(phone).login(world.cons_a1)
    Auth(laptop).login(world.cons_a1)
    admin = app.test_client()
    Auth(admin).login(world.admin_a)
    page = admin.get(f"/admin/user/details/?id={world.cons_a1.id}").text
    assert "Sair de todos os dispositivos" in page
    token = csrf_from(page.split('id="end-sessions-form"')[1])
    assert admin.post(f"/admin/user/sessions/?id={world.cons_a1.id}").status_code == 302  # no token: refused
    assert _logged_in(phone)
    response = admin.post(f"/admin/user/sessions/?id={world.cons_a1.id}", data={"csrf_token": token})
    assert response.status_code == 302
    assert not _logged_in(phone) and not _logged_in(laptop) and _logged_in(admin)
    with app.app_context():
        assert db.session.scalars(select(AuditLog).where(AuditLog.action == "user.end_sessions")).one()
    # Another agency's user cannot be targeted.
    assert admin.post(f"/admin/user/sessions/?id={world.cons_b.id}", data={"csrf_token": token}).status_code == 404
    # The admin's own button logs them out everywhere, here included.
    page = admin.get(f"/admin/user/details/?id={world.admin_a.id}").text
    admin.post(f"/admin/user/sessions/?id={world.admin_a.id}",
               data={"csrf_token": csrf_from(page.split('id="end-sessions-form"')[1])})
    assert not _logged_in(admin)


def test_a_cookie_without_the_session_token_is_refused(app, client, world, auth):
    """Cookies signed before this change (user id only) no longer log anyone in."""
    from flask.sessions import SecureCookieSessionInterface

    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    forged = serializer.dumps({"_user_id": str(world.admin_a.id), "_fresh": True})
    client.set_cookie("session", forged)
    assert not _logged_in(client)


# ------------------------------------------------------------------------------------------ login timing
def _post_login(client, email, password):
    token = csrf_from(client.get("/login").text)
    started = time.perf_counter()
    response = client.post("/login", data={"csrf_token": token, "email": email, "password": password})
    return time.perf_counter() - started, response.status_code


def test_unknown_email_takes_as_long_as_a_wrong_password(app, client, world):
    with app.app_context():
        user = db.session.get(User, world.cons_a1.id)
        user.set_password("senha-real-123")  # the production hash (scrypt), not the tests' cheap one
        db.session.commit()
    known, unknown = [], []
    for _ in range(5):
        known.append(_post_login(client, world.cons_a1.email, "senha-errada")[0])
        unknown.append(_post_login(client, "ninguem@lugar-nenhum.com.br", "senha-errada")[0])
    known_ms, unknown_ms = statistics.median(known) * 1000, statistics.median(unknown) * 1000
    assert known_ms > 20, known_ms  # a real hash was checked
    assert unknown_ms > 0.6 * known_ms, (known_ms, unknown_ms)


# ------------------------------------------------------------------------- e-mails of other agencies' users
def _create_user(client, email):
    page = client.get("/admin/user/new/").text
    return client.post("/admin/user/new/", data={"csrf_token": csrf_from(page), "name": "Nova Pessoa",
                                                  "email": email, "role": "consultant", "active": "y",
                                                  "new_password": "senha-inicial-123"}, follow_redirects=True)


def test_creating_a_user_works(app, client, world, login_as):
    login_as(world.admin_a)
    response = _create_user(client, "nova.pessoa@ag.com.br")
    assert response.status_code == 200
    with app.app_context():
        created = db.session.scalars(select(User).where(User.email == "nova.pessoa@ag.com.br")).one()
        assert created.agency_id == world.a.id and created.role == Role.CONSULTANT


def test_an_e_mail_of_another_agency_gets_the_same_answer_as_one_of_ours(app, client, world, login_as):
    login_as(world.admin_a)
    foreign = _create_user(client, world.cons_b.email.upper())
    ours = _create_user(client, world.cons_a2.email)
    assert foreign.status_code == ours.status_code == 200

    def message(response):
        text = response.get_data(as_text=True)
        return text[text.index('class="alert'):][:400] if 'class="alert' in text else text

    assert "Já existe" not in foreign.text and "outra assessoria" not in foreign.text.lower()
    assert message(foreign).replace(world.cons_b.email.upper(), "X").replace(world.cons_b.email, "X") == \
        message(ours).replace(world.cons_a2.email, "X")
    assert "Este e-mail não pode ser usado como login" in foreign.text
    with app.app_context():
        assert db.session.scalars(select(User).where(User.name == "Nova Pessoa")).all() == []
        assert db.session.get(User, world.cons_b.id).agency_id == world.b.id


def test_a_forged_x_forwarded_for_does_not_carry_a_session_to_another_address(app, client, world, auth):
    auth.login(world.cons_a1)
    thief = _session_copy(app, client)
    thief.environ_base.update(REMOTE_ADDR="127.0.0.2", HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert thief.get("/admin/").status_code == 302
    # The header alone changes nothing for the real user (TRUSTED_PROXIES=0: no proxy is trusted).
    assert client.get("/admin/", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 200
