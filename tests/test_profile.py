"""Perfil: the three tabs, the write-only encrypted SOA password, Testar conexão, admins only."""

import logging
from decimal import Decimal

import pytest

from devtools.soa_sandbox import DEFAULT_EMAIL, DEFAULT_PASSWORD, Fault
from models import Agency, AuditLog, SoaCall, db
from tests.conftest import csrf_from

SECRET = DEFAULT_PASSWORD


def _serasa(client, **fields):
    page = client.get("/admin/profile/?tab=serasa").text
    data = {
        "csrf_token": csrf_from(page),
        "serasa_enabled": "1",
        "soa_email": DEFAULT_EMAIL,
        "soa_password": SECRET,
        "soa_environment": "sandbox",
        "soa_low_balance": "20,00",
        "action": "save",
    }
    data.update(fields)
    return client.post("/admin/profile/serasa/", data=data)


def _agency(app, world):
    with app.app_context():
        agency = db.session.get(Agency, world.a.id)
        db.session.expunge(agency)
        return agency


def test_general_tab_saves_and_validates(app, client, world, login_as):
    login_as(world.admin_a)
    page = client.get("/admin/profile/").text
    bad = client.post(
        "/admin/profile/geral/",
        data={
            "csrf_token": csrf_from(page),
            "name": "Nova",
            "cnpj": "11.222.333/0001-80",
            "timezone": "America/Sao_Paulo",
        },
    )
    assert bad.status_code == 400 and "CNPJ inválido" in bad.text
    assert _agency(app, world).name == "Assessoria A"
    ok = client.post(
        "/admin/profile/geral/",
        data={
            "csrf_token": csrf_from(page),
            "name": "Nova Assessoria",
            "cnpj": "11.222.333/0001-81",
            "contact_email": "agenda@nova.com.br",
            "timezone": "America/Manaus",
        },
    )
    assert ok.status_code == 302
    agency = _agency(app, world)
    assert (agency.name, agency.cnpj, agency.timezone) == (
        "Nova Assessoria",
        "11222333000181",
        "America/Manaus",
    )


def test_meetings_switch(app, client, world, login_as):
    login_as(world.admin_a)
    page = client.get("/admin/profile/?tab=reunioes").text
    client.post("/admin/profile/reunioes/", data={"csrf_token": csrf_from(page), "meetings_enabled": "0"})
    assert not _agency(app, world).meetings_enabled
    assert client.get("/admin/meeting/").status_code == 404
    client.post("/admin/profile/reunioes/", data={"csrf_token": csrf_from(page), "meetings_enabled": "1"})
    assert client.get("/admin/meeting/").status_code == 200


def test_password_is_encrypted_and_never_rendered(app, client, world, login_as, caplog):
    caplog.set_level(logging.DEBUG)
    login_as(world.admin_a)
    response = _serasa(client)
    assert response.status_code == 302
    agency = _agency(app, world)
    assert agency.serasa_enabled and agency.soa_email == DEFAULT_EMAIL
    assert agency.soa_password_encrypted and SECRET not in agency.soa_password_encrypted
    with app.app_context():
        raw = db.session.execute(
            db.text("SELECT soa_password_encrypted FROM agency WHERE id = :i"), {"i": world.a.id}
        ).scalar()
        assert raw and SECRET not in raw
        assert db.session.get(Agency, world.a.id).soa_password(app.config["CREDENTIALS_KEY"]) == SECRET
        audit = " ".join(a.details or "" for a in db.session.query(AuditLog))
        assert SECRET not in audit
    for url in ("/admin/profile/?tab=serasa", "/admin/profile/", "/admin/", "/admin/audit/"):
        assert SECRET not in client.get(url).text
    assert SECRET not in caplog.text


def test_blank_password_keeps_the_saved_one(app, client, world, login_as):
    login_as(world.admin_a)
    _serasa(client)
    before = _agency(app, world).soa_password_encrypted
    _serasa(client, **{"soa_password": "", "soa_environment": "homologacao"})
    agency = _agency(app, world)
    assert agency.soa_password_encrypted == before and agency.soa_environment == "homologacao"


def test_enabling_without_credentials_is_refused(app, client, world, login_as):
    login_as(world.admin_a)
    response = _serasa(client, **{"soa_email": "", "soa_password": ""})
    assert response.status_code == 400
    assert "informe o e-mail e a senha da conta SOA" in response.text
    assert not _agency(app, world).serasa_enabled


def test_test_connection_shows_balance(app, client, world, login_as, soa):
    login_as(world.admin_a)
    _serasa(client)
    response = _serasa(client, **{"soa_password": "", "action": "test"})
    assert response.status_code == 200
    assert "Conexão com o SOA WebServices OK. Saldo disponível: R$ 100,00." in response.text
    assert SECRET not in response.text
    agency = _agency(app, world)
    assert agency.soa_balance == Decimal("100.00") and agency.soa_balance_checked_at is not None
    with app.app_context():
        calls = db.session.query(SoaCall).filter_by(agency_id=world.a.id).all()
        assert [c.operation for c in calls] == ["balance"] and calls[0].result == "ok"
        assert SECRET not in (calls[0].request_body + (calls[0].response_body or ""))
    assert "R$ 100,00" in client.get("/admin/").text


def test_test_connection_with_typed_credentials_does_not_save_them(app, client, world, login_as, soa):
    login_as(world.admin_a)
    response = _serasa(client, action="test")
    assert "Saldo disponível: R$ 100,00" in response.text and "ainda não foram salvas" in response.text
    assert SECRET not in response.text
    assert _agency(app, world).soa_password_encrypted is None


@pytest.mark.parametrize(
    "setup,expected",
    [
        (lambda soa: None, "E-mail ou senha da"),
        (lambda soa: soa.set_fault("balance", Fault(status_5xx=True)), "indisponível"),
        (lambda soa: soa.set_fault("balance", Fault(non_json=True)), "resposta inesperada"),
        (lambda soa: soa.set_fault("balance", Fault(timeout=5.0)), "não respondeu em"),
    ],
)
def test_test_connection_failures_are_explained(app, client, world, login_as, soa, setup, expected):
    login_as(world.admin_a)
    _serasa(client)
    setup(soa)
    password = "senha-errada" if expected == "E-mail ou senha da" else ""
    response = _serasa(client, **{"soa_password": password, "action": "test"})
    assert response.status_code == 200
    text = response.text
    assert "Falha no teste de conexão" in text
    assert expected in text.lower() or expected in text
    assert SECRET not in text and "senha-errada" not in text


def test_low_balance_warns_on_dashboard(app, client, world, login_as, soa):
    login_as(world.admin_a)
    _serasa(client, **{"soa_low_balance": "500,00"})
    _serasa(client, **{"soa_password": "", "action": "test"})
    assert "Saldo baixo no SOA WebServices" in client.get("/admin/").text


def test_consultants_cannot_open_or_post_the_profile(app, client, world, login_as):
    login_as(world.cons_a1)
    assert client.get("/admin/profile/?tab=serasa").status_code == 404
    token = csrf_from(client.get("/admin/").text)
    response = client.post(
        "/admin/profile/serasa/",
        data={
            "csrf_token": token,
            "serasa_enabled": "1",
            "soa_email": "x@y.com",
            "soa_password": "x",
            "soa_environment": "sandbox",
        },
    )
    assert response.status_code == 404
    assert _agency(app, world).soa_email is None


def test_other_agency_profile_is_untouched(app, client, world, login_as):
    login_as(world.admin_b)
    _serasa(client)
    assert _agency(app, world).soa_email is None
