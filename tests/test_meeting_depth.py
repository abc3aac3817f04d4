"""Meetings in depth: the manual's path, upcoming first, quick filters, the calendar, meetings that already
happened, the minutes (ata), the agency as sender, and productivity on the dashboard."""

import email
import re
from datetime import datetime, time, timedelta

from icalendar import Calendar

from models import Agency, Creditor, Meeting, User, db
from models.meeting import MeetingStatus
from models.timeutil import local_today, to_local, to_utc, utcnow
from tests import factories as f
from tests.conftest import csrf_from

SP = "America/Sao_Paulo"


def _at(days: int, hour: int = 10) -> datetime:
    """A naive-UTC start ``days`` from today at ``hour`` São Paulo time."""
    return to_utc(datetime.combine(local_today(SP) + timedelta(days=days), time(hour, 0)), SP)


def _meeting(app, owner_id, creditor_id, subject, start, **extra):
    with app.app_context():
        meeting = f.make_meeting(db.session.get(User, owner_id), db.session.get(Creditor, creditor_id),
                                 subject=subject, starts_at=start, **extra)
        db.session.commit()
        return meeting.id


def _subjects(html):
    return re.findall(r'<td class="col-subject">\s*(.*?)\s*</td>', html, re.S)


# --- 1. the manual's path ---------------------------------------------------------------------------


def test_cadastros_negociacoes_has_the_reunioes_button(client, world, login_as, auth):
    for user in (world.admin_a, world.cons_a1):
        login_as(user)
        page = client.get("/admin/negotiation/").text
        assert re.search(r'id="btn-reunioes" href="/admin/meeting/"', page), user.name
        auth.logout()


def test_reunioes_button_disappears_with_meetings_switched_off(app, client, world, login_as):
    with app.app_context():
        db.session.get(Agency, world.a.id).meetings_enabled = False
        db.session.commit()
    login_as(world.admin_a)
    assert "btn-reunioes" not in client.get("/admin/negotiation/").text


def test_the_create_button_is_adicionar_only(client, world, login_as):
    login_as(world.cons_a1)
    page = client.get("/admin/meeting/").text
    assert re.search(r'href="/admin/meeting/new/[^"]*" id="btn-adicionar"><i class="fa fa-plus"></i> Adicionar<', page)
    assert ">Criar<" not in page


# --- 2. upcoming first, quick filters, Responsável ---------------------------------------------------


def test_list_opens_on_today_and_next_days_then_the_past(app, client, world, login_as):
    for subject, days in (("Ontem", -1), ("Mês passado", -30), ("Semana que vem", 7), ("Hoje", 0),
                          ("Depois de amanhã", 2)):
        _meeting(app, world.cons_a1.id, world.creditor_a.id, subject, _at(days, 8 if days == 0 else 10))
    login_as(world.cons_a1)
    subjects = _subjects(client.get("/admin/meeting/").text)
    # world.meeting_a1 is tomorrow.
    assert subjects == ["Hoje", "Reunião de A1", "Depois de amanhã", "Semana que vem", "Ontem", "Mês passado"]


def test_quick_filters(app, client, world, login_as):
    _meeting(app, world.cons_a1.id, world.creditor_a.id, "Hoje cedo", _at(0, 0))
    _meeting(app, world.cons_a1.id, world.creditor_a.id, "Daqui a 6 dias", _at(6, 20))
    _meeting(app, world.cons_a1.id, world.creditor_a.id, "Daqui a 8 dias", _at(8))
    _meeting(app, world.cons_a1.id, world.creditor_a.id, "Passada pendente", _at(-2))
    _meeting(app, world.cons_a1.id, world.creditor_a.id, "Passada produtiva", _at(-3), productive=True,
             status=MeetingStatus.HELD)
    _meeting(app, world.cons_a1.id, world.creditor_a.id, "Passada cancelada", _at(-4),
             status=MeetingStatus.CANCELLED)
    login_as(world.cons_a1)
    page = client.get("/admin/meeting/").text
    urls = dict(re.findall(r'id="qf-(\w+)" href="([^"]+)"', page))
    assert set(urls) == {"todas", "hoje", "7dias", "passadas"}
    assert ">Hoje<" in page and ">Próximos 7 dias<" in page and ">Passadas sem resultado<" in page
    assert _subjects(client.get(urls["hoje"]).text) == ["Hoje cedo"]
    assert _subjects(client.get(urls["7dias"]).text) == ["Hoje cedo", "Reunião de A1", "Daqui a 6 dias"]
    # Earlier today counts as past without a result too; productive, cancelled and future ones do not.
    assert _subjects(client.get(urls["passadas"]).text) == ["Hoje cedo", "Passada pendente"]


def test_filter_by_responsavel_offers_only_the_agencys_people(app, client, world, login_as):
    login_as(world.admin_a)
    page = client.get("/admin/meeting/").text
    groups = re.search(r'id="filter-groups-data"[^>]*>(.*?)</', page, re.S).group(1)
    assert "Consultor A1" in groups and "Consultor A2" in groups and "Consultor B" not in groups
    index = re.search(r'"Respons\\u00e1vel": \[\{"arg": "(\d+)"', groups) or re.search(
        r'"Responsável": \[\{"arg": "(\d+)"', groups)
    listed = _subjects(client.get(f"/admin/meeting/?flt0_{index.group(1)}={world.cons_a2.id}").text)
    assert listed == ["Reunião de A2"]
    # Another agency's user as the value: nothing (the scope stays), never their meetings.
    assert _subjects(client.get(f"/admin/meeting/?flt0_{index.group(1)}={world.cons_b.id}").text) == []


def test_clock_dropdown_shows_the_responsible_person(app, client, world, login_as):
    _meeting(app, world.cons_a2.id, world.creditor_a.id, "Agora há pouco", _at(0, 0))
    login_as(world.admin_a)
    items = client.get("/admin/meeting/today/").text
    assert "Agora há pouco" in items and "Consultor A2" in items


# --- 3. the calendar -------------------------------------------------------------------------------------


def test_week_and_month_views_are_scoped_and_link_to_vis(app, client, world, login_as, auth):
    tomorrow = local_today(SP) + timedelta(days=1)
    login_as(world.cons_a1)
    for view in ("week", "month"):
        page = client.get(f"/admin/meeting_calendar/?view={view}&date={tomorrow.isoformat()}").text
        assert f'href="/admin/meeting/details/?id={world.meeting_a1.id}"' in page
        assert "Reunião de A1" in page
        assert "Reunião de A2" not in page and "Reunião de B" not in page
        assert 'class="cal-item cal-scheduled"' in page
        assert 'id="cal-prev"' in page and 'id="cal-next"' in page
    auth.logout()
    login_as(world.admin_a)
    page = client.get(f"/admin/meeting_calendar/?view=month&date={tomorrow.isoformat()}").text
    assert "Reunião de A1" in page and "Reunião de A2" in page and "Reunião de B" not in page


def test_calendar_navigation_and_colours(app, client, world, login_as):
    _meeting(app, world.cons_a1.id, world.creditor_a.id, "Antiga pendente", _at(-8))
    _meeting(app, world.cons_a1.id, world.creditor_a.id, "Antiga cancelada", _at(-8, 11),
             status=MeetingStatus.CANCELLED)
    _meeting(app, world.cons_a1.id, world.creditor_a.id, "Antiga realizada", _at(-8, 12), productive=True)
    login_as(world.cons_a1)
    week = client.get("/admin/meeting_calendar/").text
    previous = re.search(r'id="cal-prev" href="([^"]+)"', week).group(1).replace("&amp;", "&")
    page = client.get(previous).text
    assert "Antiga" in page or "Antiga" in client.get(
        re.search(r'id="cal-prev" href="([^"]+)"', page).group(1).replace("&amp;", "&")).text
    day = (local_today(SP) - timedelta(days=8)).isoformat()
    page = client.get(f"/admin/meeting_calendar/?view=week&date={day}").text
    assert re.search(r'class="cal-item cal-pending"[^>]*title="[^"]*Antiga pendente', page)
    assert re.search(r'class="cal-item cal-cancelled"[^>]*title="[^"]*Antiga cancelada', page)
    assert re.search(r'class="cal-item cal-held"[^>]*title="[^"]*Antiga realizada', page)
    for label in ("Agendada", "Passada sem resultado", "Realizada", "Cancelada"):
        assert label in page


def test_calendar_refuses_nonsense_politely(client, world, login_as):
    login_as(world.cons_a1)
    for query in ("date=ontem", "date=9999-99-99", "view=ano&date=2026-02-30", "date=1900-01-01"):
        assert client.get(f"/admin/meeting_calendar/?{query}").status_code == 200


# --- 5. a meeting that already happened ---------------------------------------------------------------


def _create(client, world, start: datetime, **extra):
    page = client.get("/admin/meeting/new/").text
    data = {"csrf_token": csrf_from(page), "creditor": world.creditor_a.id, "subject": "Reunião de ontem",
            "starts_at": start.strftime("%d/%m/%Y %H:%M"), "duration": "60", "ends_at": "", "place": "Sala 2",
            "owner": world.cons_a1.id} | extra
    return client.post("/admin/meeting/new/", data=data)


def test_past_start_needs_the_explicit_confirmation(app, client, world, login_as):
    login_as(world.cons_a1)
    yesterday = datetime.combine(local_today(SP) - timedelta(days=1), time(15, 0))
    page = client.get("/admin/meeting/new/").text
    assert "Registrar reunião que já aconteceu" in page
    assert 'name="notes"' in page and 'name="productive"' in page
    refused = _create(client, world, yesterday)
    assert refused.status_code == 200 and "não pode estar no passado" in refused.text
    with app.app_context():
        assert db.session.query(Meeting).filter_by(subject="Reunião de ontem").count() == 0

    saved = _create(client, world, yesterday, already_happened="y", notes="Credor aceitou a proposta.",
                    productive="1")
    assert saved.status_code == 302
    with app.app_context():
        meeting = db.session.query(Meeting).filter_by(subject="Reunião de ontem").one()
        assert (meeting.status, meeting.notes, meeting.productive) == (MeetingStatus.HELD,
                                                                       "Credor aceitou a proposta.", True)
        meeting_id = meeting.id
    details = client.get(f"/admin/meeting/details/?id={meeting_id}").text
    assert "btn-enviar-convite" not in details
    sent = client.get(f"/admin/meeting/send/?id={meeting_id}&kind=invite", follow_redirects=True)
    assert "Só é possível convidar para reuniões agendadas" in sent.text
    # Set back to Agendada by mistake: it has still already happened, so no invite.
    with app.app_context():
        db.session.get(Meeting, meeting_id).status = MeetingStatus.SCHEDULED
        db.session.commit()
    assert "btn-enviar-convite" not in client.get(f"/admin/meeting/details/?id={meeting_id}").text
    sent = client.get(f"/admin/meeting/send/?id={meeting_id}&kind=invite", follow_redirects=True)
    assert "A reunião já começou: não há convite a enviar" in sent.text


def test_confirmation_with_a_future_date_is_refused(app, client, world, login_as):
    login_as(world.cons_a1)
    tomorrow = datetime.combine(local_today(SP) + timedelta(days=1), time(15, 0))
    response = _create(client, world, tomorrow, already_happened="y")
    assert response.status_code == 200 and "ainda não passou" in response.text
    with app.app_context():
        assert db.session.query(Meeting).filter_by(subject="Reunião de ontem").count() == 0


# --- 6 and 7. the agency sends; the minutes -------------------------------------------------------------


def _send_invite(client, meeting_id, recipients):
    page = client.get(f"/admin/meeting/send/?id={meeting_id}&kind=invite")
    nonce = re.search(r'name="nonce" type="hidden" value="([^"]*)"', page.text).group(1)
    return client.post(f"/admin/meeting/send/?id={meeting_id}&kind=invite",
                       data={"csrf_token": csrf_from(page.text), "nonce": nonce, "recipients": recipients})


def test_the_sender_is_the_agency_and_the_organizer_matches(app, client, world, login_as, smtp):
    with app.app_context():
        db.session.get(Agency, world.a.id).name = "Assessoria Ação & Cobrança"
        db.session.commit()
    login_as(world.cons_a1)
    _send_invite(client, world.meeting_a1.id, "ana@credor.com.br")
    message = email.message_from_bytes(smtp.messages[0].content, policy=email.policy.default)
    sender = message["From"].addresses[0]
    assert (sender.display_name, sender.addr_spec) == ("Assessoria Ação & Cobrança", "nao-responda@painel.test")
    assert message["Reply-To"].addresses[0].addr_spec == world.cons_a1.email
    ics = next(p for p in message.walk() if p.get_content_type() == "text/calendar").get_payload(decode=True)
    organizer = Calendar.from_ical(ics).walk("VEVENT")[0]["ORGANIZER"]
    assert str(organizer) == "mailto:nao-responda@painel.test"
    assert organizer.params["CN"] == "Assessoria Ação & Cobrança"


def test_minutes_show_details_invited_log_and_outcome(app, client, world, login_as, smtp):
    login_as(world.cons_a1)
    smtp.refuse = {"recusado@credor.com.br"}
    _send_invite(client, world.meeting_a1.id, "ana@credor.com.br, recusado@credor.com.br")
    with app.app_context():
        meeting = db.session.get(Meeting, world.meeting_a1.id)
        meeting.notes = "Acordo em 10 parcelas."
        meeting.productive = True
        db.session.commit()
    page = client.get(f"/admin/meeting/ata/?id={world.meeting_a1.id}")
    assert page.status_code == 200
    html = page.text
    assert "Ata de reunião" in html and "Reunião de A1" in html and "Credor Alfa" in html
    invited = re.search(r'id="minutes-invited">(.*?)</ul>', html, re.S).group(1)
    assert "ana@credor.com.br" in invited and "recusado@credor.com.br" not in invited
    log = re.search(r'id="minutes-send-log">(.*?)</table>', html, re.S).group(1)
    assert "Convite" in log and "recusado@credor.com.br — falhou" in log and "ana@credor.com.br — entregue" in log
    assert "Acordo em 10 parcelas." in html and "<td>Sim</td>" in html
    assert 'href="/static/css/minutes.css"' in html  # print stylesheet
    assert f'href="/admin/meeting/ata/?id={world.meeting_a1.id}"' in client.get(
        f"/admin/meeting/details/?id={world.meeting_a1.id}").text


def test_minutes_of_someone_elses_meeting_are_404(client, world, login_as):
    login_as(world.cons_a1)
    assert client.get(f"/admin/meeting/ata/?id={world.meeting_a2.id}").status_code == 404
    assert client.get(f"/admin/meeting/ata/?id={world.meeting_b.id}").status_code == 404


# --- 8. productivity on the dashboard -----------------------------------------------------------------------


def _bars(svg):
    return [(int(t), int(p)) for t, p in re.findall(r'<g class="bar" data-month="[^"]+" data-total="(\d+)" '
                                                    r'data-productive="(\d+)"', svg)]


def test_dashboard_chart_of_meetings_per_month_and_productive_share(app, client, world, login_as, auth):
    now = utcnow()
    _meeting(app, world.cons_a1.id, world.creditor_a.id, "Produtiva", now - timedelta(hours=2), productive=True)
    _meeting(app, world.cons_a1.id, world.creditor_a.id, "Improdutiva", now - timedelta(hours=3), productive=False)
    _meeting(app, world.cons_a1.id, world.creditor_a.id, "Cancelada", now - timedelta(hours=4),
             status=MeetingStatus.CANCELLED)
    _meeting(app, world.cons_a2.id, world.creditor_a.id, "De A2", now - timedelta(hours=5), productive=True)
    with app.app_context():
        # tomorrow's meetings of the world may fall next month on the last day: count this month's only
        this_month = local_today(SP).month
        # and, in the first hours of a month, the meetings made a few hours ago fall in the month before
        shown = [m for m in db.session.query(Meeting).filter(Meeting.agency_id == world.a.id)
                 if m.status != MeetingStatus.CANCELLED and to_local(m.starts_at, SP).month == this_month]
        in_month = {m.subject for m in shown}
        productive = sum(1 for m in shown if m.productive)
    login_as(world.admin_a)
    page = client.get("/admin/").text
    overall = re.search(r'<svg class="productivity-chart[^"]*" id="productivity-overall".*?</svg>', page, re.S).group(0)
    bars = _bars(overall)
    assert len(bars) == 6 and bars[-1] == (len(in_month), productive)
    assert sum(p for _, p in bars) == 2  # the two productive meetings, this month's or last's
    assert f"{round(100 * productive / len(in_month))}%" in overall
    people = re.search(r'id="productivity-people">(.*)', page, re.S).group(1)
    assert "Consultor A1" in people and "Consultor A2" in people and "Consultor B" not in people
    auth.logout()
    login_as(world.cons_a2)
    page = client.get("/admin/").text
    assert 'id="productivity-people"' not in page
    own = re.search(r'id="productivity-overall".*?</svg>', page, re.S).group(0)
    assert sum(p for _, p in _bars(own)) == 1  # A2's own productive meeting only
