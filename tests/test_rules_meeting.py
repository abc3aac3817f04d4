"""Meeting rules and the agency-time helpers stated at their boundaries.

Pure units on unsaved meetings, except the clock's query, which runs on the test database. `make mutation`
(tools/mutation.py) checks that changing a rule in models/meeting.py or models/timeutil.py makes one of these fail.
"""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from models import Creditor, Meeting, db
from models.meeting import (
    EmailKind,
    MeetingEmail,
    MeetingEmailRecipient,
    MeetingNotAllowed,
    MeetingStatus,
    SendStatus,
    past_without_outcome,
    todays_meetings_query,
)
from models.timeutil import local_day_bounds, local_today, to_local, to_utc, utcnow
from tests import factories as f

NOW = datetime(2026, 11, 27, 15, 0)  # naive UTC, 12:00 in São Paulo
START = datetime(2026, 11, 28, 13, 0)


def _meeting(**over) -> Meeting:
    fields = {"subject": "Revisão da carteira", "starts_at": START, "ends_at": START + timedelta(hours=1),
              "place": "Sala 1", "video_link": "https://meet.example.com/abc", "status": MeetingStatus.SCHEDULED,
              "sequence": 0} | over
    return Meeting(**fields)


def _invited(**over) -> Meeting:
    return _meeting(**({"invite_sent_at": NOW, "sent_sequence": 0} | over))


# --- times ---------------------------------------------------------------------------------------------------


def test_a_meeting_may_start_this_very_minute_not_a_minute_before():
    _meeting(starts_at=NOW, ends_at=NOW + timedelta(minutes=30)).check_times(NOW, creating=True)
    with pytest.raises(MeetingNotAllowed, match="^A data e hora de início não pode estar no passado.$"):
        _meeting(starts_at=NOW - timedelta(minutes=1), ends_at=NOW + timedelta(minutes=30)).check_times(
            NOW, creating=True)


def test_an_existing_meeting_in_the_past_can_still_be_edited():
    _meeting(starts_at=NOW - timedelta(days=3), ends_at=NOW - timedelta(days=3, minutes=-30)).check_times(
        NOW, creating=False)


def test_without_an_explicit_now_the_real_clock_is_used():
    past = utcnow() - timedelta(minutes=5)
    with pytest.raises(MeetingNotAllowed, match="no passado"):
        _meeting(starts_at=past, ends_at=past + timedelta(hours=1)).check_times(creating=True)
    # a start after the given "now" but before the real clock: the given "now" rules
    early = datetime(2020, 1, 1, 10, 0)
    _meeting(starts_at=early + timedelta(hours=1), ends_at=early + timedelta(hours=2)).check_times(early, creating=True)


def test_a_meeting_that_ends_when_it_starts_is_refused():
    with pytest.raises(MeetingNotAllowed, match="^O término deve ser depois do início.$"):
        _meeting(starts_at=START, ends_at=START).check_times(NOW, creating=True)
    with pytest.raises(MeetingNotAllowed, match="^O término deve ser depois do início.$"):
        _meeting(starts_at=START, ends_at=START - timedelta(minutes=1)).check_times(NOW, creating=False)
    _meeting(starts_at=START, ends_at=START + timedelta(minutes=1)).check_times(NOW, creating=True)


def test_a_meeting_may_start_the_minute_another_ends():
    first = _meeting(starts_at=START, ends_at=START + timedelta(hours=1))
    second = _meeting(starts_at=first.ends_at, ends_at=first.ends_at + timedelta(hours=1))
    first.check_times(NOW, creating=True)
    second.check_times(NOW, creating=True)  # back-to-back meetings are no conflict


# --- the saved form ------------------------------------------------------------------------------------------


def test_a_new_meeting_is_scheduled_and_ends_after_its_duration_unless_an_end_is_typed():
    meeting = _meeting(ends_at=None, status=None)
    meeting.apply_form(before=None, duration=90, now=NOW)
    assert (meeting.status, meeting.ends_at) == (MeetingStatus.SCHEDULED, START + timedelta(minutes=90))
    typed = _meeting(ends_at=START + timedelta(minutes=20), status=None)
    typed.apply_form(before=None, duration=90, now=NOW)
    assert typed.ends_at == START + timedelta(minutes=20)
    with pytest.raises(MeetingNotAllowed, match="^A data e hora de início não pode estar no passado.$"):
        _meeting(starts_at=NOW - timedelta(minutes=1), ends_at=None).apply_form(before=None, duration=60, now=NOW)
    with pytest.raises(MeetingNotAllowed, match="^O término deve ser depois do início.$"):
        _meeting(ends_at=START).apply_form(before=None, duration=60, now=NOW)


def test_a_meeting_recorded_after_it_happened_is_held_and_must_have_started():
    held = _meeting(starts_at=NOW - timedelta(days=2), ends_at=None, status=None)
    held.apply_form(before=None, duration=30, already_happened=True, now=NOW)
    assert (held.status, held.ends_at) == (MeetingStatus.HELD, NOW - timedelta(days=2, minutes=-30))
    message = ('^A data informada ainda não passou: desmarque "Registrar reunião que já aconteceu" para agendar a '
               'reunião.$')
    for start in (NOW, NOW + timedelta(minutes=1)):
        with pytest.raises(MeetingNotAllowed, match=message):
            _meeting(starts_at=start, ends_at=None).apply_form(before=None, duration=60, already_happened=True,
                                                               now=NOW)
    _meeting(starts_at=NOW - timedelta(minutes=1), ends_at=None).apply_form(
        before=None, duration=60, already_happened=True, now=NOW)


def test_the_saved_form_follows_the_given_clock_or_the_real_one():
    early = datetime(2020, 1, 1, 10, 0)
    _meeting(starts_at=early + timedelta(hours=1), ends_at=None).apply_form(before=None, duration=60, now=early)
    with pytest.raises(MeetingNotAllowed, match="no passado"):
        _meeting(starts_at=early + timedelta(hours=1), ends_at=None).apply_form(before=None, duration=60)


def test_an_edit_keeps_the_status_may_be_in_the_past_and_raises_the_sequence_on_calendar_changes():
    meeting = _invited(status=MeetingStatus.HELD, starts_at=NOW - timedelta(days=1),
                       ends_at=NOW - timedelta(days=1, minutes=-60))
    before = meeting.snapshot()
    meeting.apply_form(before=before, duration=60, already_happened=True, now=NOW)
    assert (meeting.status, meeting.sequence) == (MeetingStatus.HELD, 0)
    meeting.place = "Sala 2"
    meeting.apply_form(before=before, duration=60, now=NOW)
    assert meeting.sequence == 1
    upcoming = _invited()
    snapshot = upcoming.snapshot()
    upcoming.ends_at = None  # the end cleared: start + duration again, a calendar change
    upcoming.apply_form(before=snapshot, duration=30, already_happened=True, now=NOW)
    assert (upcoming.ends_at, upcoming.sequence, upcoming.status) == (START + timedelta(minutes=30), 1,
                                                                      MeetingStatus.SCHEDULED)


# --- updates: SEQUENCE ---------------------------------------------------------------------------------------

CALENDAR_CHANGES = {
    "starts_at": START - timedelta(days=1),  # another date, same time
    "ends_at": START + timedelta(hours=2),
    "place": "Sala 2",
    "video_link": "https://meet.example.com/xyz",
}


@pytest.mark.parametrize("field,value", [*CALENDAR_CHANGES.items(),
                                         ("starts_at", START - timedelta(minutes=30))],  # same date, another time
                         ids=["date", "end", "place", "video_link", "time"])
def test_each_calendar_field_on_its_own_makes_the_invite_stale(field, value):
    meeting = _invited()
    before = meeting.snapshot()
    setattr(meeting, field, value)
    meeting.bump_if_changed(before)
    assert meeting.sequence == 1
    assert meeting.needs_update is True


def test_the_subject_alone_does_not_make_the_invite_stale():
    # only date, time, duration or place changes make the invite stale: a new subject sends no update
    meeting = _invited(sequence=2, sent_sequence=2)
    before = meeting.snapshot()
    meeting.subject = "Renegociação"
    meeting.bump_if_changed(before)
    assert meeting.sequence == 2
    assert meeting.needs_update is False


def test_a_status_only_edit_does_not_raise_the_sequence():
    meeting = _invited(sequence=2, sent_sequence=2)
    before = meeting.snapshot()
    meeting.status = MeetingStatus.HELD  # Realizada: nothing changes in the attendees' calendars
    meeting.bump_if_changed(before)
    assert meeting.sequence == 2
    assert meeting.needs_update is False


def test_cancelling_raises_the_sequence_and_reopening_raises_it_again():
    meeting = _invited(sequence=2, sent_sequence=2)
    before = meeting.snapshot()
    meeting.status = MeetingStatus.CANCELLED
    meeting.bump_if_changed(before)
    assert meeting.sequence == 3
    meeting.cancel_sent_at = NOW
    before = meeting.snapshot()
    meeting.status = MeetingStatus.SCHEDULED
    meeting.bump_if_changed(before)
    assert meeting.sequence == 4
    assert meeting.cancel_sent_at is None  # a later cancellation must be sent again


def test_editing_a_cancelled_meeting_keeps_its_cancellation_sent():
    meeting = _invited(sequence=3, sent_sequence=2, status=MeetingStatus.CANCELLED, cancel_sent_at=NOW)
    before = meeting.snapshot()
    meeting.notes = "Credor desmarcou por telefone"
    meeting.bump_if_changed(before)
    assert (meeting.sequence, meeting.cancel_sent_at) == (3, NOW)
    assert meeting.needs_cancel_notice is False  # the cancellation is not sent twice


@pytest.mark.parametrize("field", ["place", "video_link"])
def test_a_blank_typed_over_an_empty_place_is_no_change(field):
    meeting = _invited(**{field: None})
    assert meeting.snapshot()[field] is None
    before = meeting.snapshot()
    setattr(meeting, field, "   ")
    meeting.bump_if_changed(before)
    assert meeting.sequence == 0 and meeting.needs_update is False
    setattr(meeting, field, " Sala 3 ")
    assert meeting.snapshot()[field] == "Sala 3"


def test_sequence_increases_on_every_update():
    meeting = _invited(sequence=None)
    for expected, (field, value) in enumerate(CALENDAR_CHANGES.items(), start=1):
        before = meeting.snapshot()
        setattr(meeting, field, value)
        meeting.bump_if_changed(before)
        assert meeting.sequence == expected
    meeting.sent_sequence = meeting.sequence  # the update went out
    assert meeting.needs_update is False


def test_saving_without_a_calendar_change_keeps_the_sequence():
    meeting = _invited(sequence=3, sent_sequence=3)
    before = meeting.snapshot()
    meeting.notes, meeting.productive, meeting.agenda = "Cliente propôs parcelar", True, "Pauta nova"
    meeting.bump_if_changed(before)
    assert meeting.sequence == 3
    assert meeting.needs_update is False


def test_before_the_invite_changes_raise_no_sequence():
    meeting = _meeting(sequence=0)
    before = meeting.snapshot()
    meeting.place = "Sala 9"
    meeting.bump_if_changed(before)
    assert meeting.sequence == 0
    assert meeting.needs_update is False


def test_snapshot_holds_what_attendees_have_in_their_calendars():
    snap = _meeting().snapshot()
    for field in ("starts_at", "ends_at", "place", "video_link"):
        assert snap[field] == getattr(_meeting(), field)
    assert "subject" not in snap  # the subject is not part of what makes the invite stale


def test_a_cancelled_meeting_needs_a_cancellation_not_an_update():
    meeting = _invited(sequence=2, sent_sequence=1, status=MeetingStatus.CANCELLED)
    assert meeting.needs_update is False
    assert meeting.needs_cancel_notice is True
    meeting.cancel_sent_at = NOW
    assert meeting.needs_cancel_notice is False
    assert _meeting(status=MeetingStatus.CANCELLED).needs_cancel_notice is False  # never invited: nothing to say
    assert _invited().needs_cancel_notice is False


# --- who holds the invite ----------------------------------------------------------------------------------


def _send(kind, status, **delivered):
    return MeetingEmail(kind=kind, status=status, recipients=[
        MeetingEmailRecipient(address=address.replace("_", "@", 1).replace("_", "."), delivered=ok)
        for address, ok in delivered.items()])


def test_the_invite_is_held_by_whoever_an_invite_was_delivered_to_in_first_send_order():
    meeting = _meeting(emails=[
        _send(EmailKind.INVITE, SendStatus.PARTIAL, ana_credor_com=True, bia_credor_com=False),
        _send(EmailKind.UPDATE, SendStatus.SENT, ze_credor_com=True),  # an update invites no one new
        _send(EmailKind.INVITE_RETRY, SendStatus.SENT, bia_credor_com=True, Ana_Credor_com=True),
        _send(EmailKind.REMINDER, SendStatus.SENT, lu_credor_com=True),
        _send(EmailKind.INVITE_ADD, SendStatus.PENDING, rui_credor_com=True),  # still going out: not yet
        _send(EmailKind.INVITE_ADD, SendStatus.FAILED, caio_credor_com=False),
        _send(EmailKind.INVITE_ADD, SendStatus.SENT, dani_credor_com=True),
    ])
    assert meeting.invite_holders() == ["ana@credor.com", "bia@credor.com", "dani@credor.com"]
    assert _meeting().invite_holders() == []


# --- what can be sent when -----------------------------------------------------------------------------------


def test_invite_only_once_and_only_for_a_scheduled_meeting():
    _meeting().check_can_invite(NOW)
    assert _meeting().can_invite(NOW)
    with pytest.raises(MeetingNotAllowed, match="^O convite desta reunião já foi enviado.$"):
        _invited().check_can_invite(NOW)
    assert not _invited().can_invite(NOW)
    for status in (MeetingStatus.HELD, MeetingStatus.CANCELLED):
        with pytest.raises(MeetingNotAllowed, match="^Só é possível convidar para reuniões agendadas.$"):
            _meeting(status=status).check_can_invite(NOW)
        assert not _meeting(status=status).can_invite(NOW)


def test_no_invite_once_the_meeting_has_started_even_if_set_back_to_scheduled():
    starting_now = _meeting(starts_at=NOW, ends_at=NOW + timedelta(hours=1))
    starting_now.check_can_invite(NOW)  # starting this very minute: still invitable, like creating it
    assert starting_now.can_invite(NOW)
    started = _meeting(starts_at=NOW - timedelta(minutes=1), ends_at=NOW + timedelta(hours=1))
    with pytest.raises(MeetingNotAllowed, match="^A reunião já começou: não há convite a enviar. "
                                                "Registre o resultado em Alt.$"):
        started.check_can_invite(NOW)
    assert not started.can_invite(NOW)


def test_reminders_only_after_the_invite_and_never_for_a_cancelled_meeting():
    with pytest.raises(MeetingNotAllowed, match="^Envie o convite antes de enviar lembretes.$"):
        _meeting().check_can_remind()
    with pytest.raises(MeetingNotAllowed, match="^A reunião foi cancelada: não há lembrete a enviar.$"):
        _invited(status=MeetingStatus.CANCELLED).check_can_remind()
    _invited().check_can_remind()
    _invited(status=MeetingStatus.HELD).check_can_remind()


def test_failed_addresses_are_calendar_sends_that_failed_and_never_reached_since():
    meeting = _invited(emails=[
        _send(EmailKind.INVITE, SendStatus.PARTIAL, ana_credor_com=True, bia_credor_com=False, caio_credor_com=False),
        _send(EmailKind.REMINDER, SendStatus.PARTIAL, lu_credor_com=False),  # a reminder carries no calendar entry
        _send(EmailKind.INVITE_ADD, SendStatus.PENDING, rui_credor_com=False),  # still going out
        _send(EmailKind.UPDATE, SendStatus.PARTIAL, ze_credor_com=False, ana_credor_com=True),
        _send(EmailKind.INVITE_RETRY, SendStatus.SENT, Bia_credor_com=True),  # reached since, any case
    ])
    assert meeting.failed_addresses() == ["caio@credor.com", "ze@credor.com"]
    assert _invited().failed_addresses() == []


SEND_REFUSALS = {
    EmailKind.REMINDER: "^Envie o convite antes de enviar lembretes.$",
    EmailKind.UPDATE: "^Não há alteração a enviar: os convidados já têm a versão atual.$",
    EmailKind.CANCEL: "^Só é possível enviar o cancelamento de uma reunião cancelada após o convite.$",
    EmailKind.INVITE_RETRY: "^Não há destinatários com falha para reenviar.$",
    EmailKind.INVITE_ADD: "^Só é possível convidar mais pessoas para uma reunião agendada cujo convite já foi "
                          "enviado.$",
}


def _failed_invite(**over) -> Meeting:
    return _invited(emails=[_send(EmailKind.INVITE, SendStatus.PARTIAL, ana_credor_com=True, bia_credor_com=False)],
                    **over)


def test_each_send_is_allowed_exactly_when_its_rule_says():
    allowed = {
        EmailKind.INVITE: _meeting(),
        EmailKind.REMINDER: _invited(),
        EmailKind.UPDATE: _invited(sequence=1),
        EmailKind.CANCEL: _invited(status=MeetingStatus.CANCELLED, sequence=1),
        EmailKind.INVITE_RETRY: _failed_invite(),
        EmailKind.INVITE_ADD: _invited(),
    }
    refused = {
        EmailKind.INVITE: (_invited(), "^O convite desta reunião já foi enviado.$"),
        EmailKind.REMINDER: (_meeting(), SEND_REFUSALS[EmailKind.REMINDER]),
        EmailKind.UPDATE: (_invited(), SEND_REFUSALS[EmailKind.UPDATE]),
        EmailKind.CANCEL: (_invited(), SEND_REFUSALS[EmailKind.CANCEL]),
        EmailKind.INVITE_RETRY: (_invited(), SEND_REFUSALS[EmailKind.INVITE_RETRY]),
        EmailKind.INVITE_ADD: (_meeting(), SEND_REFUSALS[EmailKind.INVITE_ADD]),
    }
    for kind, meeting in allowed.items():
        meeting.check_can_send(kind, NOW)
        assert meeting.can_send(kind, NOW), kind
    for kind, (meeting, message) in refused.items():
        with pytest.raises(MeetingNotAllowed, match=message):
            meeting.check_can_send(kind, NOW)
        assert not meeting.can_send(kind, NOW), kind
    # newcomers only while the meeting is scheduled; a cancelled meeting's update is its cancellation
    for status in (MeetingStatus.HELD, MeetingStatus.CANCELLED):
        with pytest.raises(MeetingNotAllowed, match=SEND_REFUSALS[EmailKind.INVITE_ADD]):
            _invited(status=status).check_can_send(EmailKind.INVITE_ADD, NOW)
    with pytest.raises(MeetingNotAllowed, match=SEND_REFUSALS[EmailKind.UPDATE]):
        _invited(status=MeetingStatus.CANCELLED, sequence=1).check_can_send(EmailKind.UPDATE, NOW)
    with pytest.raises(MeetingNotAllowed, match=SEND_REFUSALS[EmailKind.REMINDER].replace(
            "Envie o convite antes de enviar lembretes.", "A reunião foi cancelada: não há lembrete a enviar.")):
        _invited(status=MeetingStatus.CANCELLED).check_can_send(EmailKind.REMINDER, NOW)


def test_an_unknown_send_is_refused():
    for meeting in (_meeting(), _failed_invite()):
        with pytest.raises(MeetingNotAllowed, match="^Tipo de envio desconhecido.$"):
            meeting.check_can_send("telegrama", NOW)
        assert not meeting.can_send("telegrama", NOW)


def test_the_invite_button_follows_the_given_clock():
    started = _meeting(starts_at=NOW - timedelta(minutes=1), ends_at=NOW + timedelta(hours=1))
    assert not started.can_send(EmailKind.INVITE, NOW) and _meeting().can_send(EmailKind.INVITE, NOW)
    with pytest.raises(MeetingNotAllowed, match="^A reunião já começou"):
        started.check_can_send(EmailKind.INVITE, NOW)
    later = _meeting(starts_at=utcnow() + timedelta(days=1), ends_at=utcnow() + timedelta(days=1, hours=1))
    assert later.can_send(EmailKind.INVITE) and not _meeting().can_send(EmailKind.INVITE)  # real clock by default


def test_default_recipients_split_on_newlines_commas_and_semicolons_then_the_creditor():
    meeting = _meeting(participants="a@x.com.br\n b@x.com.br; c@x.com.br,d@x.com.br\n\n",
                       creditor=Creditor(name="C", contact_email="credor@c.com.br"))
    assert meeting.default_recipients() == ["a@x.com.br", "b@x.com.br", "c@x.com.br", "d@x.com.br",
                                            "credor@c.com.br"]
    assert _meeting(participants=None, creditor=Creditor(name="C", contact_email=None)).default_recipients() == []
    assert _meeting(participants="a@x.com.br").default_recipients() == ["a@x.com.br"]  # no creditor


# --- the agency's day (timeutil) and the clock's query ---------------------------------------------------------


@pytest.fixture(autouse=True)
def server_clock_not_in_utc(monkeypatch):
    """Run on a server whose own clock is in Tokyo: the agency's zone and UTC must never come from it."""
    import time

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_agency_wall_time_both_ways():
    assert to_local(datetime(2026, 11, 27, 2, 30)) == datetime(2026, 11, 26, 23, 30,
                                                               tzinfo=ZoneInfo("America/Sao_Paulo"))
    assert to_local(datetime(2026, 11, 27, 2, 30), "America/Manaus").hour == 22
    assert to_utc(datetime(2026, 11, 26, 23, 30)) == datetime(2026, 11, 27, 2, 30)
    assert to_utc(datetime(2026, 11, 26, 22, 30), "America/Manaus") == datetime(2026, 11, 27, 2, 30)
    aware = datetime(2026, 11, 27, 10, 0, tzinfo=ZoneInfo("Europe/Lisbon"))
    assert to_utc(aware, "America/Manaus") == datetime(2026, 11, 27, 10, 0)  # an aware time keeps its own zone


def test_utcnow_is_naive_utc():
    now = utcnow()
    assert now.tzinfo is None
    assert abs(now - datetime.now(UTC).replace(tzinfo=None)) < timedelta(seconds=5)


def test_today_is_the_agencys_date_not_the_utc_date():
    assert local_today(now_utc=datetime(2026, 11, 28, 2, 59)) == date(2026, 11, 27)
    assert local_today(now_utc=datetime(2026, 11, 28, 3, 0)) == date(2026, 11, 28)
    assert local_today("America/Manaus", datetime(2026, 11, 28, 3, 59)) == date(2026, 11, 27)
    assert local_today("UTC") in {datetime.now(UTC).date(), utcnow().date()}
    assert local_today("Pacific/Kiritimati", datetime(2026, 11, 27, 10, 0)) == date(2026, 11, 28)


def test_day_bounds_are_local_midnights_in_utc():
    assert local_day_bounds(date(2026, 11, 27)) == (datetime(2026, 11, 27, 3, 0), datetime(2026, 11, 28, 3, 0))
    assert local_day_bounds(date(2026, 11, 27), "America/Manaus") == (
        datetime(2026, 11, 27, 4, 0), datetime(2026, 11, 28, 4, 0))
    # a 23-hour day (a zone with daylight saving): the end is the next local midnight, not start + 24 h
    assert local_day_bounds(date(2026, 3, 8), "America/New_York") == (
        datetime(2026, 3, 8, 5, 0), datetime(2026, 3, 9, 4, 0))


@pytest.fixture
def clock_world(app):
    with app.app_context():
        agency, other = f.make_agency(), f.make_agency()
        owner, colleague = f.make_user(agency), f.make_user(agency)
        creditor = f.make_creditor(agency)
        day_start, day_end = local_day_bounds(date(2026, 11, 27))

        def meeting(subject, start, who=owner, **over):
            return f.make_meeting(who, creditor, subject=subject, starts_at=start,
                                  ends_at=start + timedelta(minutes=30), **over).subject

        meeting("meia-noite", day_start)
        meeting("último minuto", day_end - timedelta(minutes=1))
        meeting("do colega", day_start + timedelta(hours=12), who=colleague)
        meeting("amanhã à meia-noite", day_end)
        meeting("ontem às 23:59", day_start - timedelta(minutes=1))
        meeting("cancelada", day_start + timedelta(hours=10), status=MeetingStatus.CANCELLED)
        meeting("hoje", local_day_bounds(local_today())[0] + timedelta(hours=1))
        f.make_meeting(f.make_user(other), f.make_creditor(other), subject="de outra assessoria",
                       starts_at=day_start + timedelta(hours=9), ends_at=day_start + timedelta(hours=10))
        db.session.commit()
        return agency.id, owner.id


def test_the_clock_shows_the_agencys_day_from_midnight_to_midnight(app, clock_world):
    agency_id, owner_id = clock_world
    with app.app_context():
        day = date(2026, 11, 27)
        subjects = [m.subject for m in db.session.scalars(todays_meetings_query(agency_id, "America/Sao_Paulo",
                                                                                day=day))]
        assert subjects == ["meia-noite", "do colega", "último minuto"]
        own = [m.subject for m in db.session.scalars(todays_meetings_query(agency_id, "America/Sao_Paulo",
                                                                           owner_id=owner_id, day=day))]
        assert own == ["meia-noite", "último minuto"]
        # the same agency seen from Manaus (one hour behind): its day starts and ends an hour later in UTC
        manaus = [m.subject for m in db.session.scalars(todays_meetings_query(agency_id, "America/Manaus",
                                                                              day=day))]
        assert manaus == ["do colega", "último minuto", "amanhã à meia-noite"]
        # without a day: today in the agency's zone
        today = [m.subject for m in db.session.scalars(todays_meetings_query(agency_id, "America/Sao_Paulo"))]
        assert today == ["hoje"]


def test_past_without_outcome_is_started_not_cancelled_and_unanswered(app):
    with app.app_context():
        agency = f.make_agency()
        owner, creditor = f.make_user(agency), f.make_creditor(agency)

        def meeting(subject, start, **over):
            f.make_meeting(owner, creditor, subject=subject, starts_at=start, ends_at=start + timedelta(hours=1),
                           **over)

        meeting("começou há um minuto", NOW - timedelta(minutes=1))
        meeting("começa agora", NOW)
        meeting("cancelada", NOW - timedelta(days=1), status=MeetingStatus.CANCELLED)
        meeting("produtiva", NOW - timedelta(days=1), productive=True)
        meeting("improdutiva", NOW - timedelta(days=1), productive=False)
        meeting("realizada sem resposta", NOW - timedelta(days=2), status=MeetingStatus.HELD)
        db.session.commit()
        found = db.session.scalars(db.select(Meeting.subject).where(past_without_outcome(NOW))
                                   .order_by(Meeting.starts_at)).all()
        assert found == ["realizada sem resposta", "começou há um minuto"]
