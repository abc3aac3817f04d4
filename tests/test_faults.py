"""Fault injection: SOA faults x operations and SMTP faults lose nothing, duplicate nothing, tell the user."""

import pytest

from devtools.soa_sandbox import DEFAULT_EMAIL, Fault
from models import Meeting, MeetingEmail, Negativation, db
from models.negativation import NegativationStatus as S
from tests.conftest import csrf_from
from tests.test_meetings import _send
from tests.test_negativation import _active_record, _make_debts, _negativate, _records, _sync_all, serasa  # noqa: F401

SOA_FAULTS = {
    "timeout": lambda soa, op: soa.set_fault(op, Fault(timeout=3.0)),
    "5xx": lambda soa, op: soa.set_fault(op, Fault(status_5xx=True)),
    "non_json": lambda soa, op: soa.set_fault(op, Fault(non_json=True)),
    "drop": lambda soa, op: soa.set_fault(op, Fault(drop=True)),
    "wrong_credentials": lambda soa, op: soa.add_account(DEFAULT_EMAIL, "outra-senha"),
    "no_credit": lambda soa, op: soa.set_balance(DEFAULT_EMAIL, 0),
}


@pytest.mark.parametrize("fault", SOA_FAULTS)
def test_include_fault(app, client, world, login_as, serasa, fault):  # noqa: F811
    ids = _make_debts(app, world, 2)
    login_as(world.admin_a)
    page = client.get("/admin/debt/negativate/?" + "&".join(f"rowid={i}" for i in ids))  # codes cached first
    SOA_FAULTS[fault](serasa, "include")
    response = client.post(
        "/admin/debt/negativate/",
        data={"csrf_token": csrf_from(page.text), "rowid": ids, "restriction_code": "1"}, follow_redirects=True,
    )
    assert response.status_code == 200
    assert "Falhou" in response.text or "Recusada" in response.text  # the user is told, per debt
    records = _records(app)
    assert len(records) == 2  # nothing lost
    at_bureau = serasa.snapshot()["records"]
    assert len(at_bureau) <= 2 and len({r["contract"] for r in at_bureau}) == len(at_bureau)  # no duplicates
    for record in records:
        if fault in ("timeout", "drop", "5xx", "non_json"):
            assert record.status == S.UNCERTAIN  # may or may not be at the bureau: never resent blindly
        else:
            assert record.status == S.ERROR  # nothing was accepted: safe to retry
            assert not at_bureau
    # Once the service is healthy, Atualizar situação and a new attempt converge without duplicates.
    serasa.set_fault("include", None)
    serasa.add_account(DEFAULT_EMAIL, "sandbox123")
    _sync_all(client)
    retry = [r.debt_id for r in _records(app) if r.status == S.ERROR]
    if retry:
        _negativate(client, retry)
    _sync_all(client)
    final = _records(app)
    assert len(final) == 2 and all(r.status in (S.SENT, S.ACTIVE) for r in final)
    assert len(serasa.snapshot()["records"]) == 2


@pytest.mark.parametrize("fault", ["timeout", "5xx", "non_json", "drop", "wrong_credentials"])
def test_consult_fault_keeps_state(app, client, world, login_as, serasa, fault):  # noqa: F811
    ids = _make_debts(app, world, 1)
    login_as(world.admin_a)
    _negativate(client, ids)
    SOA_FAULTS[fault](serasa, "consult")
    response = _sync_all(client)
    assert "1 com falha" in client.get(response.location).text
    [record] = _records(app)
    assert record.status == S.SENT and record.unique_id
    with app.app_context():
        row = db.session.get(Negativation, record.id)
        assert "Falha ao consultar o SOA" in row.events[-1].message


@pytest.mark.parametrize("fault", ["timeout", "5xx", "non_json", "drop", "wrong_credentials"])
def test_exclude_fault_keeps_exclusion_due(app, client, world, login_as, serasa, fault):  # noqa: F811
    login_as(world.admin_a)
    _, record = _active_record(app, client, world, serasa)
    page = client.get(f"/admin/negativation/exclude/?id={record.id}")
    SOA_FAULTS[fault](serasa, "exclude")
    response = client.post(
        f"/admin/negativation/exclude/?id={record.id}",
        data={"csrf_token": csrf_from(page.text), "motive": "acordo", "code": "2"},
    )
    assert "A baixa não foi aceita" in client.get(response.location).text
    [record] = _records(app)
    assert record.status == S.ACTIVE and record.exclusion_error and record.exclusion_due
    serasa.set_fault("exclude", None)
    serasa.add_account(DEFAULT_EMAIL, "sandbox123")
    _sync_all(client)
    [record] = _records(app)
    assert record.status in (S.EXCLUSION_REQUESTED, S.EXCLUDED) and record.exclusion_error is None


@pytest.mark.parametrize("fault", ["timeout", "5xx", "non_json", "drop", "wrong_credentials"])
def test_balance_fault_is_explained(app, client, world, login_as, serasa, fault):  # noqa: F811
    login_as(world.admin_a)
    SOA_FAULTS[fault](serasa, "balance")
    page = client.get("/admin/profile/?tab=serasa").text
    response = client.post(
        "/admin/profile/serasa/",
        data={
            "csrf_token": csrf_from(page),
            "serasa_enabled": "1",
            "soa_email": DEFAULT_EMAIL,
            "soa_password": "",
            "soa_environment": "sandbox",
            "soa_low_balance": "20,00",
            "action": "test",
        },
    )
    assert "Falha no teste de conexão" in response.text


# --- SMTP ----------------------------------------------------------------------------------------------------


def test_smtp_disconnect_mid_batch(app, client, world, login_as, smtp):
    login_as(world.admin_a)
    smtp.disconnect_after = 1
    response = _send(
        client, world.meeting_a1.id, "invite", "a@credor.com.br, b@credor.com.br, c@credor.com.br"
    )
    page = client.get(response.location).text
    assert "Falha no envio para b@credor.com.br" in page and "Falha no envio para c@credor.com.br" in page
    assert [m.rcpt_tos for m in smtp.messages] == [("a@credor.com.br",)]
    with app.app_context():
        [email] = db.session.query(MeetingEmail).all()
        assert email.status == "partial"
        assert sorted(email.failed_addresses) == ["b@credor.com.br", "c@credor.com.br"]
        assert db.session.get(Meeting, world.meeting_a1.id).invite_sent_at is not None
    smtp.disconnect_after = None
    _send(client, world.meeting_a1.id, "invite_retry", "b@credor.com.br\nc@credor.com.br")
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == [
        "a@credor.com.br",
        "b@credor.com.br",
        "c@credor.com.br",
    ]


def test_smtp_refuses_every_recipient(app, client, world, login_as, smtp):
    login_as(world.admin_a)
    _send(client, world.meeting_a1.id, "invite", "a@credor.com.br, b@credor.com.br")  # they hold the invite
    smtp.refuse = {"a@credor.com.br", "b@credor.com.br"}
    response = _send(client, world.meeting_a1.id, "reminder", "a@credor.com.br, b@credor.com.br")
    page = client.get(response.location).text
    assert "não foi registrado como enviado" in page
    with app.app_context():
        meeting = db.session.get(Meeting, world.meeting_a1.id)
        assert meeting.reminders_count == 0
        assert db.session.query(MeetingEmail).filter_by(kind="reminder", status="failed").count() == 1
