"""Meetings: the form, scoping, one invite ever, reminders, updates, cancellation, the clock, deletion."""

import email
import re
from datetime import date, datetime, time, timedelta

import pytest
from icalendar import Calendar

from models import Agency, Meeting, MeetingEmail, db
from models.meeting import MeetingStatus, todays_meetings_query
from models.timeutil import local_day_bounds, local_today, to_utc
from tests import factories as f
from tests.conftest import csrf_from, live_session, post_all_at_once

SP = "America/Sao_Paulo"


def _future_local(days=3, at=time(14, 30)) -> datetime:
    return datetime.combine(local_today(SP) + timedelta(days=days), at)


def _meeting_form(token, creditor_id, start: datetime, owner, **overrides):
    data = {
        "csrf_token": token,
        "creditor": creditor_id,
        "subject": "Revisão de acordos",
        "starts_at": start.strftime("%d/%m/%Y %H:%M"),
        "duration": "60",
        "ends_at": "",
        "place": "Sala 3",
        "video_link": "",
        "agenda": "Carteira em atraso",
        "participants": "ana@credor.com.br; bia@credor.com.br",
        "owner": owner,
    }
    data.update(overrides)

    return data


def _get(app, model, id_):
    with app.app_context():
        obj = db.session.get(model, id_)
        db.session.expunge_all()
        return obj


def _send(client, meeting_id, kind, recipients):
    page = client.get(f"/admin/meeting/send/?id={meeting_id}&kind={kind}")
    assert page.status_code == 200, page.status_code
    nonce = re.search(r'name="nonce" type="hidden" value="([^"]*)"', page.text).group(1)
    return client.post(
        f"/admin/meeting/send/?id={meeting_id}&kind={kind}",
        data={"csrf_token": csrf_from(page.text), "nonce": nonce, "recipients": recipients},
    )


def _calendars(smtp):
    found = []
    for received in smtp.messages:
        msg = email.message_from_bytes(received.content)
        for part in msg.walk():
            if part.get_content_type() == "text/calendar":
                found.append((received, Calendar.from_ical(part.get_payload(decode=True))))
    return found


# --- the form -----------------------------------------------------------------------------------------


def test_admin_creates_meeting_typed_the_brazilian_way(app, client, world, login_as, csrf_token):
    login_as(world.admin_a)
    start = _future_local(at=time(14, 30))
    response = client.post(
        "/admin/meeting/new/",
        data=_meeting_form(csrf_token("/admin/meeting/new/"), world.creditor_a.id, start, world.cons_a1.id),
    )
    assert response.status_code == 302
    with app.app_context():
        meeting = db.session.query(Meeting).filter_by(subject="Revisão de acordos").one()
        assert meeting.starts_at == to_utc(start, SP)  # 14:30 in São Paulo is 17:30 UTC
        assert meeting.starts_at - start == timedelta(hours=3)
        assert meeting.ends_at == meeting.starts_at + timedelta(hours=1)
        assert meeting.status == MeetingStatus.SCHEDULED and meeting.agency_id == world.a.id
        assert meeting.owner_id == world.cons_a1.id
        assert meeting.participants == "ana@credor.com.br\nbia@credor.com.br"
        meeting_id = meeting.id
    details = client.get(f"/admin/meeting/details/?id={meeting_id}").text
    assert start.strftime("%d/%m/%Y %H:%M") in details
    edit = client.get(f"/admin/meeting/edit/?id={meeting_id}").text
    assert start.strftime("%d/%m/%Y %H:%M") in edit


def test_required_fields_are_marked(client, world, login_as):
    login_as(world.admin_a)
    page = client.get("/admin/meeting/new/").text
    for label in ("Credor", "Assunto", "Data e hora"):
        assert re.search(label + r"\s*(<[^>]+>\s*)*&#42;", page), label


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"starts_at": "01/01/2020 10:00"}, "não pode estar no passado"),
        ({"starts_at": "31/02/2027 10:00"}, "Data e hora inválidas"),
        ({"starts_at": "amanhã"}, "Data e hora inválidas"),
        ({"subject": ""}, "Informe o assunto."),
        ({"creditor": ""}, "Escolha o credor."),
        ({"video_link": "javascript:alert(1)"}, "Link inválido"),
        ({"participants": "ana@credor.com.br, sem-arroba"}, "sem-arroba"),
    ],
)
def test_invalid_meeting_is_refused_in_portuguese(
    app, client, world, login_as, csrf_token, overrides, message
):
    login_as(world.admin_a)
    data = _meeting_form(
        csrf_token("/admin/meeting/new/"), world.creditor_a.id, _future_local(), world.admin_a.id, **overrides
    )
    response = client.post("/admin/meeting/new/", data=data)
    assert response.status_code == 200
    assert message in response.text
    with app.app_context():
        assert db.session.query(Meeting).filter_by(subject="Revisão de acordos").count() == 0


def test_end_before_start_is_refused(app, client, world, login_as, csrf_token):
    login_as(world.admin_a)
    start = _future_local()
    data = _meeting_form(
        csrf_token("/admin/meeting/new/"),
        world.creditor_a.id,
        start,
        world.admin_a.id,
        ends_at=(start - timedelta(hours=1)).strftime("%d/%m/%Y %H:%M"),
    )
    response = client.post("/admin/meeting/new/", data=data)
    assert "O término deve ser depois do início." in response.text


def test_consultant_creates_meeting_owned_by_themselves(app, client, world, login_as, csrf_token):
    login_as(world.cons_a1)
    data = _meeting_form(
        csrf_token("/admin/meeting/new/"), world.creditor_a.id, _future_local(), world.cons_a2.id
    )
    assert client.post("/admin/meeting/new/", data=data).status_code == 200  # not theirs to give
    with app.app_context():
        assert db.session.query(Meeting).filter_by(subject="Revisão de acordos").count() == 0
    page = client.get("/admin/meeting/new/").text
    assert "Consultor A2" not in page and "Admin A" not in page
    client.post("/admin/meeting/new/", data=dict(data, owner=world.cons_a1.id))
    with app.app_context():
        meeting = db.session.query(Meeting).filter_by(subject="Revisão de acordos").one()
        assert meeting.owner_id == world.cons_a1.id


def test_list_shows_vis_alt_del_and_adicionar(client, world, login_as):
    login_as(world.admin_a)
    page = client.get("/admin/meeting/").text
    assert "Adicionar" in page
    for label in ("Vis", "Alt", "Del"):
        assert f"</i> {label}</" in page


def test_notes_and_productive_are_recorded(app, client, world, login_as, csrf_token):
    login_as(world.cons_a1)
    meeting = world.meeting_a1
    page = client.get(f"/admin/meeting/edit/?id={meeting.id}").text
    start_text = re.search(r'name="starts_at"[^>]*value="([^"]+)"', page).group(1)
    response = client.post(
        f"/admin/meeting/edit/?id={meeting.id}",
        data={
            "csrf_token": csrf_from(page),
            "creditor": world.creditor_a.id,
            "subject": meeting.subject,
            "starts_at": start_text,
            "duration": "60",
            "ends_at": "",
            "place": "Sala 1",
            "owner": world.cons_a1.id,
            "status": "realizada",
            "notes": "Credor aceitou o parcelamento.",
            "productive": "1",
        },
    )
    assert response.status_code == 302
    saved = _get(app, Meeting, meeting.id)
    assert (saved.notes, saved.productive, saved.status) == (
        "Credor aceitou o parcelamento.",
        True,
        "realizada",
    )
    details = client.get(f"/admin/meeting/details/?id={meeting.id}").text
    assert "Credor aceitou o parcelamento." in details and "Sim" in details


# --- scoping --------------------------------------------------------------------------------------------


def test_consultant_cannot_touch_another_consultants_meeting(app, client, world, login_as, smtp):
    login_as(world.cons_a1)
    other = world.meeting_a2.id
    assert "Reunião de A2" not in client.get("/admin/meeting/").text
    for url in (
        f"/admin/meeting/details/?id={other}",
        f"/admin/meeting/edit/?id={other}",
        f"/admin/meeting/send/?id={other}&kind=invite",
    ):
        assert client.get(url).status_code == 404, url
    token = csrf_from(client.get("/admin/meeting/").text)
    assert (
        client.post(
            f"/admin/meeting/send/?id={other}&kind=invite",
            data={"csrf_token": token, "recipients": "x@y.com.br"},
        ).status_code
        == 404
    )
    assert client.post("/admin/meeting/delete/", data={"csrf_token": token, "id": other}).status_code == 404
    assert _get(app, Meeting, other) is not None
    assert smtp.messages == []


# --- sending --------------------------------------------------------------------------------------------


def test_invite_goes_to_each_recipient_over_one_connection(app, client, world, login_as, smtp):
    login_as(world.admin_a)
    meeting = world.meeting_a1
    response = _send(client, meeting.id, "invite", "ana@credor.com.br\nbia@credor.com.br; caio@credor.com.br")
    assert response.status_code == 302
    assert len(smtp.messages) == 3
    assert {r.rcpt_tos for r in smtp.messages} == {
        ("ana@credor.com.br",),
        ("bia@credor.com.br",),
        ("caio@credor.com.br",),
    }
    assert smtp.connection_count == 1
    calendars = _calendars(smtp)
    assert len(calendars) == 3
    for received, cal in calendars:
        event = cal.walk("VEVENT")[0]
        assert str(cal["METHOD"]) == "REQUEST"
        assert str(event["UID"]) == meeting.uid and int(event["SEQUENCE"]) == 0
        assert event.decoded("DTSTART").replace(tzinfo=None) == meeting.starts_at
        attendee = event["ATTENDEE"]
        assert str(attendee).lower() == f"mailto:{received.rcpt_tos[0]}"
        assert attendee.params["RSVP"] == "TRUE"
    saved = _get(app, Meeting, meeting.id)
    assert saved.invite_sent_at is not None
    details = client.get(f"/admin/meeting/details/?id={meeting.id}").text
    assert "btn-enviar-convite" not in details and "btn-enviar-lembretes" in details
    assert "ana@credor.com.br" in details  # the send log


def test_send_screen_prefills_participants_and_creditor_contact(client, world, login_as):
    login_as(world.admin_a)
    page = client.get(f"/admin/meeting/send/?id={world.meeting_a1.id}&kind=invite").text
    assert "participante@credor.com.br" in page
    assert world.creditor_a.contact_email in page


@pytest.mark.parametrize(
    "recipients,message",
    [
        ("ana@credor.com.br, errado@", "errado@"),
        ("ana@credor.com.br\r\nBcc: intruso@mal.com", "Bcc:"),
        ("", "Informe ao menos um destinatário."),
        (", ".join(f"p{i}@credor.com.br" for i in range(31)), "30"),
    ],
)
def test_bad_recipient_lists_are_refused_and_nothing_sent(
    app, client, world, login_as, smtp, recipients, message
):
    login_as(world.admin_a)
    response = _send(client, world.meeting_a1.id, "invite", recipients)
    assert response.status_code == 400
    assert message in response.text
    assert smtp.messages == []
    assert _get(app, Meeting, world.meeting_a1.id).invite_sent_at is None


def test_duplicates_are_sent_once(client, world, login_as, smtp):
    login_as(world.admin_a)
    _send(client, world.meeting_a1.id, "invite", "ana@credor.com.br, ANA@credor.com.br; ana@credor.com.br")
    assert len(smtp.messages) == 1


def test_only_one_invite_even_when_the_form_is_resubmitted(app, client, world, login_as, smtp):
    login_as(world.admin_a)
    url = f"/admin/meeting/send/?id={world.meeting_a1.id}&kind=invite"
    page = client.get(url).text
    data = {
        "csrf_token": csrf_from(page),
        "recipients": "ana@credor.com.br",
        "nonce": re.search(r'name="nonce" type="hidden" value="([^"]*)"', page).group(1),
    }
    first = client.post(url, data=data)
    second = client.post(url, data=data)  # double click / back + resubmit
    assert first.status_code == second.status_code == 302
    third = client.post(url, data=dict(data, nonce="outro"))  # a fresh form after the invite
    assert third.status_code == 302
    assert len(smtp.messages) == 1
    with app.app_context():
        assert db.session.query(MeetingEmail).filter_by(kind="invite").count() == 1


def test_database_refuses_a_second_invite_row(app, world):
    from sqlalchemy.exc import IntegrityError

    with app.app_context():
        db.session.add(MeetingEmail(meeting_id=world.meeting_a1.id, kind="invite", status="sent"))
        db.session.commit()
        db.session.add(MeetingEmail(meeting_id=world.meeting_a1.id, kind="invite", status="pending"))
        with pytest.raises(IntegrityError):
            db.session.commit()


def test_reminder_before_invite_is_refused(app, client, world, login_as, smtp):
    login_as(world.admin_a)
    response = client.get(f"/admin/meeting/send/?id={world.meeting_a1.id}&kind=reminder")
    assert response.status_code == 302
    page = client.get(response.location).text
    assert "Envie o convite antes de enviar lembretes." in page
    token = csrf_from(page)
    client.post(
        f"/admin/meeting/send/?id={world.meeting_a1.id}&kind=reminder",
        data={"csrf_token": token, "recipients": "ana@credor.com.br"},
    )
    assert smtp.messages == []


def test_reminders_any_number_after_the_invite(app, client, world, login_as, smtp):
    login_as(world.admin_a)
    _send(client, world.meeting_a1.id, "invite", "ana@credor.com.br, bia@credor.com.br")
    _send(client, world.meeting_a1.id, "reminder", "ana@credor.com.br, bia@credor.com.br")
    _send(client, world.meeting_a1.id, "reminder", "ana@credor.com.br")
    assert len(smtp.messages) == 5
    reminders = [email.message_from_bytes(r.content) for r in smtp.messages[2:]]
    for msg in reminders:
        assert str(email.header.make_header(email.header.decode_header(msg["Subject"]))).startswith(
            "Lembrete:"
        )
        assert not any(p.get_content_type() == "text/calendar" for p in msg.walk())
    saved = _get(app, Meeting, world.meeting_a1.id)
    assert saved.reminders_count == 2 and saved.last_reminder_at is not None


def test_refused_address_gives_partial_result_and_retry(app, client, world, login_as, smtp):
    login_as(world.admin_a)
    smtp.refuse = {"recusado@credor.com.br"}
    response = _send(client, world.meeting_a1.id, "invite", "ana@credor.com.br, recusado@credor.com.br")
    page = client.get(response.location).text
    assert "Falha no envio para recusado@credor.com.br" in page
    assert len(smtp.messages) == 1 and smtp.messages[0].rcpt_tos == ("ana@credor.com.br",)
    assert _get(app, Meeting, world.meeting_a1.id).invite_sent_at is not None
    assert "btn-reenviar-falhas" in page
    smtp.refuse = set()
    retry = client.get(f"/admin/meeting/send/?id={world.meeting_a1.id}&kind=invite_retry").text
    assert "recusado@credor.com.br" in retry and "ana@credor.com.br" not in retry.split("<textarea")[1][:300]
    _send(client, world.meeting_a1.id, "invite_retry", "recusado@credor.com.br")
    assert smtp.messages[-1].rcpt_tos == ("recusado@credor.com.br",)
    assert "btn-reenviar-falhas" not in client.get(f"/admin/meeting/details/?id={world.meeting_a1.id}").text


def test_smtp_down_marks_nothing_sent(app, client, world, login_as, smtp):
    from tests.conftest import free_port

    app.extensions["mail"].port = free_port()  # nothing listens there
    login_as(world.admin_a)
    response = _send(client, world.meeting_a1.id, "invite", "ana@credor.com.br")
    page = client.get(response.location).text
    assert "não foi registrado como enviado" in page
    saved = _get(app, Meeting, world.meeting_a1.id)
    assert saved.invite_sent_at is None
    with app.app_context():
        assert db.session.query(MeetingEmail).filter_by(status="failed").count() == 1
    assert "btn-enviar-convite" in page  # still offered: the invite can be sent once the server is back
    app.extensions["mail"].port = smtp.port
    _send(client, world.meeting_a1.id, "invite", "ana@credor.com.br")
    assert len(smtp.messages) == 1


def _edit(client, meeting_id, world, **changes):
    page = client.get(f"/admin/meeting/edit/?id={meeting_id}").text
    start_text = re.search(r'name="starts_at"[^>]*value="([^"]+)"', page).group(1)
    end_text = re.search(r'name="ends_at"[^>]*value="([^"]+)"', page).group(1)
    data = {
        "csrf_token": csrf_from(page),
        "creditor": world.creditor_a.id,
        "subject": "Reunião de A1",
        "starts_at": start_text,
        "duration": "60",
        "ends_at": end_text,
        "place": "Sala 1",
        "owner": world.cons_a1.id,
        "status": "agendada",
        "notes": "",
        "productive": "",
    }
    data.update(changes)
    return client.post(f"/admin/meeting/edit/?id={meeting_id}", data=data)


def test_changing_time_after_invite_offers_update_with_same_uid(app, client, world, login_as, smtp):
    login_as(world.admin_a)
    meeting = world.meeting_a1
    _send(client, meeting.id, "invite", "ana@credor.com.br")
    new_start = _future_local(days=5, at=time(9, 0))
    response = _edit(client, meeting.id, world, starts_at=new_start.strftime("%d/%m/%Y %H:%M"), ends_at="")
    assert response.status_code == 302
    details = client.get(f"/admin/meeting/details/?id={meeting.id}").text
    assert "btn-enviar-atualizacao" in details
    _send(client, meeting.id, "update", "ana@credor.com.br")
    (_, first), (_, update) = _calendars(smtp)
    e1, e2 = first.walk("VEVENT")[0], update.walk("VEVENT")[0]
    assert str(e1["UID"]) == str(e2["UID"]) == meeting.uid
    assert int(e2["SEQUENCE"]) > int(e1["SEQUENCE"])
    assert e2.decoded("DTSTART").replace(tzinfo=None) == to_utc(new_start, SP)
    assert "btn-enviar-atualizacao" not in client.get(f"/admin/meeting/details/?id={meeting.id}").text


def test_editing_notes_only_does_not_ask_for_an_update(app, client, world, login_as, smtp):
    login_as(world.admin_a)
    _send(client, world.meeting_a1.id, "invite", "ana@credor.com.br")
    _edit(client, world.meeting_a1.id, world, notes="Anotação interna")
    assert _get(app, Meeting, world.meeting_a1.id).sequence == 0


def test_cancelling_after_invite_offers_cancellation(app, client, world, login_as, smtp):
    login_as(world.admin_a)
    meeting = world.meeting_a1
    _send(client, meeting.id, "invite", "ana@credor.com.br")
    _edit(client, meeting.id, world, status="cancelada")
    details = client.get(f"/admin/meeting/details/?id={meeting.id}").text
    assert "btn-enviar-cancelamento" in details and "btn-enviar-lembretes" not in details
    _send(client, meeting.id, "cancel", "ana@credor.com.br")
    _, cancel = _calendars(smtp)[-1]
    event = cancel.walk("VEVENT")[0]
    assert str(cancel["METHOD"]) == "CANCEL" and str(event["UID"]) == meeting.uid
    assert str(event["STATUS"]) == "CANCELLED" and int(event["SEQUENCE"]) >= 1


# --- deletion -------------------------------------------------------------------------------------------


def test_consultant_deletes_own_meeting_without_invite(app, client, world, login_as):
    login_as(world.cons_a1)
    token = csrf_from(client.get("/admin/meeting/").text)
    client.post("/admin/meeting/delete/", data={"csrf_token": token, "id": world.meeting_a1.id})
    assert _get(app, Meeting, world.meeting_a1.id) is None


def test_meeting_with_sent_invite_cannot_be_deleted_before_cancellation(app, client, world, login_as, smtp):
    login_as(world.admin_a)
    _send(client, world.meeting_a1.id, "invite", "ana@credor.com.br")
    token = csrf_from(client.get("/admin/meeting/").text)
    response = client.post("/admin/meeting/delete/", data={"csrf_token": token, "id": world.meeting_a1.id})
    page = client.get(response.location).text
    assert "cancele a reunião e envie o cancelamento" in page
    assert _get(app, Meeting, world.meeting_a1.id) is not None


# --- the clock ------------------------------------------------------------------------------------------


def test_day_bounds_follow_sao_paulo_not_utc():
    start, end = local_day_bounds(date(2026, 11, 27), SP)
    assert start == datetime(2026, 11, 27, 3, 0) and end == datetime(2026, 11, 28, 3, 0)
    # At 01:30 UTC on the 28th it is still the 27th in São Paulo.
    assert local_today(SP, now_utc=datetime(2026, 11, 28, 1, 30)) == date(2026, 11, 27)


def test_clock_counts_a_22h_meeting_as_today(app, client, world, login_as):
    today = local_today(SP)
    with app.app_context():
        db.session.query(Meeting).delete()
        owner = db.session.get(__import__("models").User, world.admin_a.id)
        creditor = db.session.get(__import__("models").Creditor, world.creditor_a.id)
        late = f.make_meeting(
            owner, creditor, subject="Às 22h", starts_at=to_utc(datetime.combine(today, time(22)), SP)
        )
        f.make_meeting(
            owner,
            creditor,
            subject="Amanhã cedo",
            starts_at=to_utc(datetime.combine(today + timedelta(days=1), time(0, 30)), SP),
        )
        f.make_meeting(
            owner,
            creditor,
            subject="Ontem à noite",
            starts_at=to_utc(datetime.combine(today - timedelta(days=1), time(23, 30)), SP),
        )
        db.session.commit()
        assert late.starts_at.date() == today + timedelta(days=1)  # stored in UTC: already tomorrow
        found = db.session.scalars(todays_meetings_query(world.a.id, SP)).all()
        assert [m.subject for m in found] == ["Às 22h"]
    login_as(world.admin_a)
    page = client.get("/admin/").text
    clock = page.split('id="meeting-clock"')[1].split("</li>")[0]
    assert "clock-today" in clock and 'data-today-count="1"' in clock and "1 reunião(ões) hoje" in clock
    listing = client.get("/admin/meeting/today/").text  # what the dropdown loads when opened
    assert "Às 22h" in listing and "22:00" in listing
    assert "Amanhã cedo" not in listing and "Ontem à noite" not in listing


def test_clock_is_neutral_without_meetings_today_and_only_counts_own(app, client, world, login_as):
    today = local_today(SP)
    with app.app_context():
        from models import Creditor, User

        other = db.session.get(User, world.cons_a2.id)
        creditor = db.session.get(Creditor, world.creditor_a.id)
        f.make_meeting(
            other, creditor, subject="Da colega", starts_at=to_utc(datetime.combine(today, time(23, 0)), SP)
        )
        db.session.commit()
    login_as(world.cons_a1)
    clock = client.get("/admin/").text.split('id="meeting-clock"')[1].split("</li>")[0]
    assert "clock-today" not in clock and "Nenhuma reunião hoje." in clock
    listing = client.get("/admin/meeting/today/").text
    assert "Da colega" not in listing and "Nenhuma reunião hoje." in listing


def test_clock_follows_the_users_role_and_the_day(app, client, world, login_as, monkeypatch):
    """The clock's statement is kept per user, role and day: a consultant made admin counts the agency's meetings,
    and at midnight the clock counts the new day's."""
    import admin_views
    from models import Creditor, User

    today = local_today(SP)
    with app.app_context():
        creditor = db.session.get(Creditor, world.creditor_a.id)
        own, colleague = db.session.get(User, world.cons_a1.id), db.session.get(User, world.cons_a2.id)
        f.make_meeting(own, creditor, subject="Minha", starts_at=to_utc(datetime.combine(today, time(23, 0)), SP))
        f.make_meeting(colleague, creditor, subject="Da colega",
                       starts_at=to_utc(datetime.combine(today, time(23, 10)), SP))
        for minute in (10, 20, 30):
            f.make_meeting(own, creditor, subject=f"Amanhã {minute}",
                           starts_at=to_utc(datetime.combine(today + timedelta(days=1), time(9, minute)), SP))
        db.session.commit()

    def clock():
        return client.get("/admin/").text.split('id="meeting-clock"')[1].split("</li>")[0]

    login_as(world.cons_a1)
    assert 'data-today-count="1"' in clock()
    with app.app_context():
        db.session.get(User, world.cons_a1.id).role = "admin"
        db.session.commit()
    assert 'data-today-count="2"' in clock()  # now sees every portfolio: the colleague's meeting too
    tomorrow = today + timedelta(days=1)
    with app.app_context():  # the three made here and the world's own meetings of tomorrow
        expected = len(db.session.scalars(todays_meetings_query(world.a.id, SP, day=tomorrow)).all())
    assert expected >= 3
    monkeypatch.setattr(admin_views, "local_today", lambda tz_name: tomorrow)
    assert f'data-today-count="{expected}"' in clock()


def test_cancelled_meetings_do_not_turn_the_clock_red(app, client, world, login_as):
    today = local_today(SP)
    with app.app_context():
        from models import Creditor, User

        owner = db.session.get(User, world.cons_a1.id)
        creditor = db.session.get(Creditor, world.creditor_a.id)
        f.make_meeting(
            owner,
            creditor,
            status=MeetingStatus.CANCELLED,
            starts_at=to_utc(datetime.combine(today, time(23, 0)), SP),
        )
        db.session.commit()
    login_as(world.cons_a1)
    clock = client.get("/admin/").text.split('id="meeting-clock"')[1].split("</li>")[0]
    assert "clock-today" not in clock and 'data-today-count="0"' in clock


# --- concurrency ------------------------------------------------------------------------------------------


def test_twenty_simultaneous_invite_submissions_send_one_invite(live, smtp):
    """Real threads against a live server on a shared database: the database lets exactly one through."""
    with live.app.app_context():
        agency = f.make_agency()
        admin = f.make_user(agency, "admin")
        meeting = f.make_meeting(admin, f.make_creditor(agency))
        db.session.commit()
        email_, meeting_id = admin.email, meeting.id
    url = f"{live.url}/admin/meeting/send/?id={meeting_id}&kind=invite"
    submissions = []
    for _ in range(20):
        session = live_session(live.url, email_)
        page = session.get(url, timeout=10).text
        nonce = re.search(r'name="nonce" type="hidden" value="([^"]*)"', page).group(1)
        submissions.append((session, {"csrf_token": csrf_from(page), "nonce": nonce,
                                      "recipients": "ana@credor.com.br"}))
    post_all_at_once(url, submissions)
    assert len(smtp.messages) == 1
    with live.app.app_context():
        assert db.session.query(MeetingEmail).filter_by(meeting_id=meeting_id, kind="invite").count() == 1
        assert db.session.get(Meeting, meeting_id).invite_sent_at is not None


def test_profile_switch_off_hides_meetings_for_consultants_too(app, client, world, login_as):
    with app.app_context():
        db.session.get(Agency, world.a.id).meetings_enabled = False
        db.session.commit()
    login_as(world.cons_a1)
    assert client.get("/admin/meeting/").status_code == 404
    assert "meeting-clock" not in client.get("/admin/").text
    assert client.get("/admin/meeting/today/").status_code == 404
    assert client.get(f"/admin/meeting/send/?id={world.meeting_a1.id}&kind=invite").status_code == 404


def test_unknown_send_kind_is_not_found(client, world, login_as):
    login_as(world.admin_a)
    assert client.get(f"/admin/meeting/send/?id={world.meeting_a1.id}&kind=spam").status_code == 404


# --- who holds the invite (issue 11, defect 7) -------------------------------------------------------------


def _prefilled(client, meeting_id, kind) -> list[str]:
    page = client.get(f"/admin/meeting/send/?id={meeting_id}&kind={kind}")
    assert page.status_code == 200, (kind, page.status_code)
    found = re.search(r'<textarea[^>]*name="recipients"[^>]*>(.*?)</textarea>', page.text, re.S)
    return found.group(1).split()


def _subjects(smtp) -> dict[str, list[str]]:
    """Map each recipient to the subjects of the e-mails they received, in order."""
    got: dict[str, list[str]] = {}
    for received in smtp.messages:
        msg = email.message_from_bytes(received.content)
        subject = str(email.header.make_header(email.header.decode_header(msg["Subject"])))
        for rcpt in received.rcpt_tos:
            got.setdefault(rcpt, []).append(subject.split(":")[0])
    return got


def test_reminders_updates_and_cancellation_go_to_who_holds_the_invite(app, client, world, login_as, smtp):
    login_as(world.admin_a)
    meeting = world.meeting_a1  # default participants: participante@credor.com.br and the creditor's contact
    # The default participant is left out of the invite; ana is typed by hand.
    _send(client, meeting.id, "invite", "ana@credor.com.br")
    assert _prefilled(client, meeting.id, "reminder") == ["ana@credor.com.br"]
    # A reminder typed with one more person: ana gets the reminder, the newcomer gets the invite.
    response = _send(client, meeting.id, "reminder", "ana@credor.com.br\nnovo@credor.com.br")
    page = client.get(response.location).text
    assert "Lembrete enviado para 1 destinatário(s): ana@credor.com.br." in page
    assert "Convite aos novos convidados enviado para 1 destinatário(s): novo@credor.com.br." in page
    assert _subjects(smtp) == {"ana@credor.com.br": ["Convite", "Lembrete"], "novo@credor.com.br": ["Convite"]}
    (_, newcomer_cal) = _calendars(smtp)[-1]
    assert str(newcomer_cal["METHOD"]) == "REQUEST"
    assert str(newcomer_cal.walk("VEVENT")[0]["UID"]) == meeting.uid
    # The clear way to invite one more person: its own button and screen.
    details = client.get(f"/admin/meeting/details/?id={meeting.id}").text
    assert "btn-convidar-mais" in details and "Convidar mais pessoas" in details
    assert _prefilled(client, meeting.id, "invite_add") == []
    _send(client, meeting.id, "invite_add", "caio@credor.com.br")
    holders = ["ana@credor.com.br", "novo@credor.com.br", "caio@credor.com.br"]
    # The time changes: the update goes to exactly who holds the invite, never to the left-out participant.
    _edit(client, meeting.id, world, starts_at=_future_local(days=6, at=time(10, 0)).strftime("%d/%m/%Y %H:%M"),
          ends_at="")
    assert _prefilled(client, meeting.id, "update") == holders
    smtp.clear()
    _send(client, meeting.id, "update", "\n".join(holders))
    assert _subjects(smtp) == {a: ["Atualização"] for a in holders}
    # Cancelled: every holder, including those added by hand, gets the cancellation.
    _edit(client, meeting.id, world, status="cancelada")
    assert _prefilled(client, meeting.id, "cancel") == holders
    smtp.clear()
    _send(client, meeting.id, "cancel", "\n".join(_prefilled(client, meeting.id, "cancel")))
    assert _subjects(smtp) == {a: ["Cancelada"] for a in holders}
    assert "participante@credor.com.br" not in str(smtp.messages)


def test_update_typed_with_a_newcomer_sends_them_the_invite_not_an_update(app, client, world, login_as, smtp):
    login_as(world.admin_a)
    meeting = world.meeting_a1
    _send(client, meeting.id, "invite", "ana@credor.com.br")
    _edit(client, meeting.id, world, place="Sala 7")
    smtp.clear()
    _send(client, meeting.id, "update", "ana@credor.com.br, bia@credor.com.br")
    assert _subjects(smtp) == {"ana@credor.com.br": ["Atualização"], "bia@credor.com.br": ["Convite"]}
    with app.app_context():
        assert db.session.get(Meeting, meeting.id).invite_holders() == ["ana@credor.com.br", "bia@credor.com.br"]


# --- only calendar changes make the invite stale (issue 11, defect 8) --------------------------------------


def test_recording_what_happened_does_not_offer_an_update(app, client, world, login_as, smtp):
    login_as(world.admin_a)
    meeting = world.meeting_a1
    _send(client, meeting.id, "invite", "ana@credor.com.br")
    response = _edit(client, meeting.id, world, status="realizada", notes="Credor aceitou o parcelamento.",
                     productive="0")
    assert response.status_code == 302
    page = client.get(response.location).text
    assert "Enviar atualização" not in page
    details = client.get(f"/admin/meeting/details/?id={meeting.id}").text
    assert "btn-enviar-atualizacao" not in details and "desatualizada" not in details
    saved = _get(app, Meeting, meeting.id)
    assert (saved.status, saved.productive, saved.sequence) == ("realizada", False, 0)
    assert client.get(f"/admin/meeting/send/?id={meeting.id}&kind=update").status_code == 302  # nothing to send
    # The place is a calendar field: that change does make the invite stale.
    _edit(client, meeting.id, world, status="realizada", notes="Credor aceitou o parcelamento.", productive="0",
          place="Sala 9")
    assert "btn-enviar-atualizacao" in client.get(f"/admin/meeting/details/?id={meeting.id}").text
    response = _send(client, meeting.id, "update", "ana@credor.com.br")
    page = client.get(response.location).text
    assert "Atualização enviada para 1 destinatário(s)" in page and "Atualização enviado" not in page


@pytest.mark.parametrize("field,value", [("starts_at", "shift"), ("ends_at", "shift"), ("duration", "120"),
                                         ("place", "Sala 5"), ("video_link", "https://meet.example.com/x")])
def test_each_calendar_field_makes_the_invite_stale(app, client, world, login_as, smtp, field, value):
    login_as(world.admin_a)
    meeting = world.meeting_a1
    _send(client, meeting.id, "invite", "ana@credor.com.br")
    changes = {field: value}
    if value == "shift":
        page = client.get(f"/admin/meeting/edit/?id={meeting.id}").text
        current = re.search(rf'name="{field}"[^>]*value="([^"]+)"', page).group(1)
        changes[field] = (datetime.strptime(current, "%d/%m/%Y %H:%M") + timedelta(hours=2)).strftime(
            "%d/%m/%Y %H:%M")
    if field in ("duration", "starts_at"):
        changes["ends_at"] = ""  # the end follows from the duration
    assert _edit(client, meeting.id, world, **changes).status_code == 302
    assert _get(app, Meeting, meeting.id).sequence == 1


# --- exactly once (issue 11, defect 9) ------------------------------------------------------------------------


def _live_meeting_with_invite(live, status=MeetingStatus.SCHEDULED):
    """A meeting whose invite ana and bia hold, changed afterwards (a new version to send)."""
    from models import MeetingEmailRecipient

    with live.app.app_context():
        agency = f.make_agency()
        admin = f.make_user(agency, "admin")
        meeting = f.make_meeting(admin, f.make_creditor(agency), status=status, sequence=1, sent_sequence=0,
                                 invite_sent_at=datetime(2026, 11, 1))
        invite = MeetingEmail(meeting=meeting, kind="invite", status="sent", sequence=0, sent_by_id=admin.id)
        invite.recipients = [MeetingEmailRecipient(address=a, delivered=True)
                             for a in ("ana@credor.com.br", "bia@credor.com.br")]
        db.session.add(invite)
        db.session.commit()
        return admin.email, meeting.id


@pytest.mark.parametrize("kind,status,done", [("update", MeetingStatus.SCHEDULED, "Atualização enviada"),
                                              ("cancel", MeetingStatus.CANCELLED, "Cancelamento enviado")])
def test_twenty_simultaneous_update_or_cancel_posts_send_once(live, smtp, kind, status, done):
    """Twenty users, each with a freshly loaded form, press Enviar at once: one e-mail per recipient."""
    admin_email, meeting_id = _live_meeting_with_invite(live, status)
    url = f"{live.url}/admin/meeting/send/?id={meeting_id}&kind={kind}"
    submissions = []
    for _ in range(20):
        session = live_session(live.url, admin_email)
        page = session.get(url, timeout=10).text
        nonce = re.search(r'name="nonce" type="hidden" value="([^"]*)"', page).group(1)
        recipients = re.search(r'<textarea[^>]*name="recipients"[^>]*>(.*?)</textarea>', page, re.S).group(1)
        assert recipients.split() == ["ana@credor.com.br", "bia@credor.com.br"]
        submissions.append((session, {"csrf_token": csrf_from(page), "nonce": nonce, "recipients": recipients}))
    responses = post_all_at_once(url, submissions)
    assert sorted(r.rcpt_tos for r in smtp.messages) == [("ana@credor.com.br",), ("bia@credor.com.br",)]
    assert all(r.status_code == 200 for r in responses)
    assert sum(done in r.text for r in responses) == 1
    for response in responses:
        if done not in response.text:
            assert "já foi enviad" in response.text or "Não há alteração a enviar" in response.text \
                or "Só é possível enviar o cancelamento" in response.text, response.text[:3000]
    with live.app.app_context():
        assert db.session.query(MeetingEmail).filter_by(meeting_id=meeting_id, kind=kind).count() == 1


def test_database_refuses_a_second_update_of_the_same_version(app, world):
    from sqlalchemy.exc import IntegrityError

    with app.app_context():
        db.session.add(MeetingEmail(meeting_id=world.meeting_a1.id, kind="update", status="sent", sequence=2))
        db.session.add(MeetingEmail(meeting_id=world.meeting_a1.id, kind="update", status="failed", sequence=2))
        db.session.commit()  # a failed send does not count
        db.session.add(MeetingEmail(meeting_id=world.meeting_a1.id, kind="update", status="sent", sequence=3))
        db.session.commit()  # the next version may be sent
        db.session.add(MeetingEmail(meeting_id=world.meeting_a1.id, kind="update", status="pending", sequence=2))
        with pytest.raises(IntegrityError):
            db.session.commit()


# --- what Vis and Alt show (issue 11, defect 12) -------------------------------------------------------------


def test_details_keep_line_breaks_and_link_only_http_video_links(app, client, world, login_as):
    with app.app_context():
        meeting = db.session.get(Meeting, world.meeting_a1.id)
        meeting.agenda = "1. Carteira em atraso\n2. Proposta <b>nova</b>"
        meeting.notes = "Credor aceitou.\nRetornar em 10 dias."
        meeting.video_link = "https://meet.example.com/abc?x=1&y=2"
        db.session.commit()
    login_as(world.admin_a)
    page = client.get(f"/admin/meeting/details/?id={world.meeting_a1.id}").text
    assert '<div class="text-lines">1. Carteira em atraso\n2. Proposta &lt;b&gt;nova&lt;/b&gt;</div>' in page
    assert '<div class="text-lines">Credor aceitou.\nRetornar em 10 dias.</div>' in page
    assert ('<a href="https://meet.example.com/abc?x=1&amp;y=2" target="_blank" rel="noopener noreferrer">'
            in page)
    with app.app_context():
        db.session.get(Meeting, world.meeting_a1.id).video_link = "javascript:alert(1)"  # saved before validation
        db.session.commit()
    page = client.get(f"/admin/meeting/details/?id={world.meeting_a1.id}").text
    assert 'href="javascript:alert' not in page and "javascript:alert(1)" in page


def test_participants_are_not_spell_checked_and_adicionar_is_a_button(client, world, login_as):
    login_as(world.admin_a)
    edit = client.get(f"/admin/meeting/edit/?id={world.meeting_a1.id}").text
    assert re.search(r'<textarea[^>]*id="participants"[^>]*spellcheck="false"', edit)
    listing = client.get("/admin/meeting/").text
    button = re.search(r'<a class="([^"]*)"[^>]*id="btn-adicionar"', listing).group(1).split()
    assert "btn-success" in button and "nav-link" not in button


class _ProcessDied(BaseException):
    """Stands for the process being killed: nothing of the sender's code runs after it."""


def test_batch_interrupted_mid_send_is_resumed_exactly_once(app, client, world, login_as, smtp):
    """A send killed in the middle of its batch, then resumed: each recipient gets the message at most once; the
    one whose SMTP transaction may have happened is marked *Incerto* and shown, never re-sent silently."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from models import MeetingEmailRecipient, User
    from services import meetings as sending

    addresses = [f"pessoa{n}@credor.com.br" for n in range(1, 6)]
    in_flight = addresses[2]
    armed = {"sending": False}

    def after_flush(session, _context):
        for obj in session.dirty:
            if isinstance(obj, MeetingEmailRecipient) and obj.address == in_flight and obj.state == "sending":
                armed["sending"] = True

    def after_commit(_session):
        if armed["sending"]:
            armed["sending"] = False
            raise _ProcessDied  # killed after recording "sending", before (or during) that SMTP transaction

    event.listen(Session, "after_flush", after_flush)
    event.listen(Session, "after_commit", after_commit)
    try:
        with app.app_context(), pytest.raises(_ProcessDied):
            sending.send(db.session.get(Meeting, world.meeting_a1.id), "invite", addresses,
                         db.session.get(User, world.admin_a.id), "chave-lote-interrompido")
    finally:
        event.remove(Session, "after_flush", after_flush)
        event.remove(Session, "after_commit", after_commit)
    assert [m.rcpt_tos for m in smtp.messages] == [(addresses[0],), (addresses[1],)]
    with app.app_context():
        email = db.session.scalar(db.select(MeetingEmail).where(MeetingEmail.meeting_id == world.meeting_a1.id))
        assert email.status == "pending"
        outcome = sending.resume(email)
        assert outcome is not None
        assert sorted(outcome.sent) == sorted([addresses[0], addresses[1], addresses[3], addresses[4]])
        assert "Incerto" in outcome.failed[in_flight]
        assert sending.resume(db.session.get(MeetingEmail, email.id)) is None  # finished: nothing more to send
        states = {r.address: r.state for r in db.session.get(MeetingEmail, email.id).recipients}
        assert states[in_flight] == "uncertain" and db.session.get(MeetingEmail, email.id).status == "partial"
    received = [m.rcpt_tos[0] for m in smtp.messages]
    assert sorted(received) == sorted([addresses[0], addresses[1], addresses[3], addresses[4]])  # each once
    login_as(world.admin_a)
    page = client.get(f"/admin/meeting/details/?id={world.meeting_a1.id}").text
    assert in_flight in page and "Incerto: o envio foi interrompido" in page


def test_the_meetings_list_creates_with_adicionar_not_flask_admins_criar_tab(client, world, login_as):
    """The manual's Reuniões screen has an "Adicionar" button; the other lists keep Flask-Admin's "Criar" tab."""
    login_as(world.admin_a)
    meetings = client.get("/admin/meeting/").text
    assert 'id="btn-adicionar"' in meetings and ">Criar</a>" not in meetings
    assert ">Criar</a>" in client.get("/admin/debtor/").text
