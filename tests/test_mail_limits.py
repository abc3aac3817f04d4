"""The panel is not a mail relay: per-user and per-agency limits on meeting e-mails, every send audited."""

from sqlalchemy import func, select

from models import AuditLog, MeetingEmail, db
from tests.conftest import Auth
from tests.test_meetings import _send


def _addresses(n: int, start: int = 0) -> str:
    return "\n".join(f"pessoa{i}@credor.com.br" for i in range(start, start + n))


def test_a_user_cannot_send_more_than_the_hourly_limit(app, client, world, login_as, smtp):
    app.config.update(MAIL_LIMIT_PER_USER_HOUR=5, MAIL_LIMIT_PER_AGENCY_DAY=0)
    login_as(world.cons_a1)
    assert _send(client, world.meeting_a1.id, "invite", _addresses(3)).status_code == 302
    assert _send(client, world.meeting_a1.id, "reminder", _addresses(2)).status_code == 302  # who holds the invite
    assert len(smtp.messages) == 5
    refused = _send(client, world.meeting_a1.id, "reminder", _addresses(1))
    assert refused.status_code == 429
    assert "Limite de envios atingido: cada usuário pode enviar até 5 e-mails de reunião por hora" in refused.text
    assert "Nada foi enviado" in refused.text
    assert len(smtp.messages) == 5
    with app.app_context():
        assert db.session.scalar(select(func.count(MeetingEmail.id))) == 2
        entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "meeting.send_limit")).one()
        assert entry.user_id == world.cons_a1.id
    # Another user of the agency still can.
    colleague = app.test_client()
    Auth(colleague).login(world.cons_a2)
    assert _send(colleague, world.meeting_a2.id, "invite", _addresses(1)).status_code == 302
    assert len(smtp.messages) == 6


def test_an_agency_cannot_send_more_than_the_daily_limit(app, world, smtp):
    app.config.update(MAIL_LIMIT_PER_USER_HOUR=0, MAIL_LIMIT_PER_AGENCY_DAY=4)
    first, second, other_agency = app.test_client(), app.test_client(), app.test_client()
    Auth(first).login(world.cons_a1)
    Auth(second).login(world.cons_a2)
    Auth(other_agency).login(world.cons_b)
    assert _send(first, world.meeting_a1.id, "invite", _addresses(3)).status_code == 302
    refused = _send(second, world.meeting_a2.id, "invite", _addresses(2))
    assert refused.status_code == 429
    assert "Limite de envios da assessoria atingido: até 4 e-mails de reunião em 24 horas" in refused.text
    assert _send(second, world.meeting_a2.id, "invite", _addresses(1)).status_code == 302
    assert _send(other_agency, world.meeting_b.id, "invite", _addresses(4)).status_code == 302
    assert len(smtp.messages) == 8


def test_every_send_is_in_the_admins_audit_log(app, client, world, login_as, smtp):
    login_as(world.cons_a1)
    _send(client, world.meeting_a1.id, "invite", "ana@credor.com.br\nbia@credor.com.br")
    _send(client, world.meeting_a1.id, "reminder", "ana@credor.com.br\nbia@credor.com.br")
    admin = app.test_client()
    Auth(admin).login(world.admin_a)
    client = admin
    listing = client.get("/admin/audit/").text
    assert "Reunião: envio de convite" in listing and "Reunião: envio de lembrete" in listing
    assert "Consultor A1" in listing
    with app.app_context():
        reminder = db.session.scalars(select(AuditLog).where(AuditLog.action == "meeting.reminder")).one()
    details = client.get(f"/admin/audit/details/?id={reminder.id}").text
    assert "ana@credor.com.br" in details and "bia@credor.com.br" in details
