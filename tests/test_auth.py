"""Login, logout, inactive users, no user enumeration, safe redirects."""

from models import AuditLog, User, db
from tests.conftest import csrf_from


def test_login_page_is_portuguese(client):
    page = client.get("/login")
    assert page.status_code == 200
    assert "Acesso ao painel" in page.text and "Senha" in page.text and "Entrar" in page.text


def test_admin_logs_in_and_sees_dashboard(client, world, auth):
    response = auth.login(world.admin_a)
    assert response.status_code == 302 and response.location.endswith("/admin/")
    page = client.get("/admin/")
    assert page.status_code == 200
    assert "Olá, Admin A" in page.text and "Assessoria A" in page.text


def test_wrong_password_and_unknown_user_get_the_same_message(client, world, auth):
    wrong = auth.login(world.admin_a, "senha-errada")
    unknown = auth.login("ninguem@nada.com.br", "senha-errada")
    assert wrong.status_code == unknown.status_code == 401
    assert "E-mail ou senha inválidos." in wrong.text and "E-mail ou senha inválidos." in unknown.text
    assert client.get("/admin/").status_code == 302


def test_inactive_user_is_refused(app, client, world, auth):
    with app.app_context():
        db.session.get(User, world.cons_a1.id).active = False
        db.session.commit()
    response = auth.login(world.cons_a1)
    assert response.status_code == 403
    assert "inativo" in response.text
    assert client.get("/admin/").status_code == 302


def test_deactivated_user_loses_open_session(app, client, world, login_as):
    login_as(world.cons_a1)
    assert client.get("/admin/").status_code == 200
    with app.app_context():
        db.session.get(User, world.cons_a1.id).active = False
        db.session.commit()
    assert client.get("/admin/").status_code == 302


def test_logout_needs_post_with_csrf(client, world, login_as):
    login_as(world.admin_a)
    assert client.post("/logout", data={}).status_code == 400
    assert client.get("/admin/").status_code == 200
    page = client.get("/logout")
    response = client.post("/logout", data={"csrf_token": csrf_from(page.text)})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 302


def test_login_without_csrf_token_is_refused(client, world):
    response = client.post("/login", data={"email": world.admin_a.email, "password": "senha-segura-123"})
    assert response.status_code == 400
    assert client.get("/admin/").status_code == 302


def test_next_only_redirects_inside_the_site(client, world):
    token = csrf_from(client.get("/login").text)
    response = client.post("/login?next=https://evil.example/x", data={
        "csrf_token": token, "email": world.admin_a.email, "password": "senha-segura-123"})
    assert response.location.endswith("/admin/")


def test_next_follows_a_local_path(client, world):
    token = csrf_from(client.get("/login?next=/admin/debt/").text)
    response = client.post("/login?next=/admin/debt/", data={
        "csrf_token": token, "email": world.admin_a.email, "password": "senha-segura-123"})
    assert response.location.endswith("/admin/debt/")


def test_anonymous_is_sent_to_login(client, world):
    response = client.get("/admin/debtor/")
    assert response.status_code == 302 and "/login" in response.location


def test_passwords_are_hashed_and_logins_audited(app, world, login_as):
    login_as(world.admin_a)
    with app.app_context():
        user = db.session.get(User, world.admin_a.id)
        assert "senha-segura-123" not in user.password_hash
        assert db.session.query(AuditLog).filter_by(action="login", user_id=user.id).count() == 1


def test_session_cookie_is_httponly_and_samesite(client, world, auth):
    response = auth.login(world.admin_a)
    session_cookie = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert session_cookie and "HttpOnly" in session_cookie[0] and "SameSite=Lax" in session_cookie[0]
