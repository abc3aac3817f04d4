"""The agency's Serasa settings and the roles' capabilities: pure units on unsaved rows (models/agency.py)."""

from datetime import datetime
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet

from models import Agency, User
from models.agency import Capability, Role, SoaConfigurationRefused, role_can, roles_with

KEYS = Fernet.generate_key().decode()


def _agency(**over) -> Agency:
    return Agency(**({"name": "Assessoria", "serasa_enabled": False, "soa_environment": "sandbox",
                      "soa_low_balance": Decimal("20.00")} | over))


def _configure(agency, live=0, **over):
    calls = []

    def live_records():
        calls.append(1)
        return live

    fields = {"enabled": True, "email": "conta@soa.com.br", "password": "segredo", "environment": "homologacao",
              "low_balance": None, "keys": KEYS, "live_records": live_records, "confirmed": False} | over
    return agency.configure_soa(**fields), calls


def test_switching_on_needs_the_e_mail_and_a_password_typed_or_saved():
    for email, password in (("", "segredo"), ("  ", "segredo"), ("conta@soa.com.br", ""), (None, None)):
        agency = _agency()
        with pytest.raises(SoaConfigurationRefused, match="^Para habilitar a integração, informe o e-mail e a senha"):
            _configure(agency, email=email, password=password)
        assert not agency.serasa_enabled and agency.soa_email is None
    saved = _agency(soa_email="conta@soa.com.br")
    saved.set_soa_password("antiga", KEYS)
    result, _ = _configure(saved, password="")
    assert saved.serasa_enabled and saved.soa_password(KEYS) == "antiga" and not result.password_changed


def test_saving_stores_the_settings_and_encrypts_the_password():
    agency = _agency()
    result, calls = _configure(agency, email="  conta@soa.com.br ", low_balance=Decimal("50.00"))
    assert (agency.serasa_enabled, agency.soa_email, agency.soa_environment, agency.soa_low_balance) == (
        True, "conta@soa.com.br", "homologacao", Decimal("50.00"))
    assert agency.soa_password(KEYS) == "segredo" and "segredo" not in agency.soa_password_encrypted
    assert calls == []  # switching on never needs the live records
    assert result.audit_details == ("habilitada=sim; email=conta@soa.com.br; ambiente=homologacao; "
                                    "senha=alterada")


def test_new_credentials_forget_the_balance_read_with_the_old_ones():
    checked = {"soa_balance": Decimal("10.00"), "soa_balance_checked_at": datetime(2026, 11, 27, 12)}
    same = _agency(soa_email="conta@soa.com.br", **checked)
    same.set_soa_password("segredo", KEYS)
    _configure(same, password="")
    assert same.soa_balance == Decimal("10.00")
    for change in ({"email": "outra@soa.com.br", "password": ""}, {"password": "nova"}):
        agency = _agency(soa_email="conta@soa.com.br", **checked)
        agency.set_soa_password("segredo", KEYS)
        _configure(agency, **change)
        assert (agency.soa_balance, agency.soa_balance_checked_at) == (None, None), change


def test_switching_off_with_live_records_needs_confirmation_and_keeps_the_credentials():
    agency = _agency(serasa_enabled=True, soa_email="conta@soa.com.br")
    agency.set_soa_password("segredo", KEYS)
    with pytest.raises(SoaConfigurationRefused, match="^Há 3 negativação") as refused:
        _configure(agency, live=3, enabled=False, password="")
    assert refused.value.needs_confirmation and refused.value.alive == 3 and agency.serasa_enabled
    with pytest.raises(SoaConfigurationRefused, match="^Com negativações vivas, mantenha") as refused:
        _configure(agency, live=3, enabled=False, email="", password="", confirmed=True)
    assert not refused.value.needs_confirmation and refused.value.alive == 3 and agency.soa_email
    result, _ = _configure(agency, live=3, enabled=False, password="", confirmed=True)
    assert not agency.serasa_enabled and agency.soa_password(KEYS) == "segredo"
    assert result.audit_details.endswith("; negativacoes_vivas=3 (confirmado)")


def test_switching_off_without_live_records_needs_nothing_and_may_drop_the_e_mail():
    agency = _agency(serasa_enabled=True, soa_email="conta@soa.com.br")
    result, calls = _configure(agency, live=0, enabled=False, email="", password="")
    assert calls == [1] and not agency.serasa_enabled and agency.soa_email is None and result.alive == 0
    already_off = _agency()
    _, calls = _configure(already_off, live=5, enabled=False, email="", password="")
    assert calls == []  # nothing was on: no record can be alive


# --- roles ---------------------------------------------------------------------------------------------------


def test_a_user_can_what_their_role_can_and_an_unknown_role_nothing():
    assert User(role=Role.ADMIN).can(Capability.NEGATIVATE)
    assert not User(role=Role.SUPERVISOR).can(Capability.NEGATIVATE)
    assert User(role=Role.SUPERVISOR).can(Capability.SEE_ALL_PORTFOLIOS)
    assert not User(role="estagiario").can(Capability.HOLD_PORTFOLIO)
    assert not role_can("estagiario", Capability.SEE_ALL_PORTFOLIOS)
    assert roles_with(Capability.HOLD_PORTFOLIO) == ["consultant"]
    assert sorted(roles_with(Capability.SEE_ALL_PORTFOLIOS)) == ["admin", "supervisor"]
    assert User(role=Role.SUPERVISOR).role_label == "Supervisor"
