"""The private calendar feed: read by a calendar client (parsed with icalendar), scoped, revocable, rate-limited."""

import email
import hashlib
import re
from datetime import timedelta

from icalendar import Calendar
from sqlalchemy import select

from models import Agency, CalendarFeed, Creditor, Meeting, User, db
from models.meeting import MeetingStatus
from tests import factories as f
from tests.conftest import csrf_from

FEED_PAGE = "/admin/meeting_calendar/assinar/"
URL_RE = re.compile(r'id="feed-url" value="(http://localhost/calendario/([A-Za-z0-9_-]+)\.ics)"')


def _feed_action(client, action, scope=None):
    page = client.get(FEED_PAGE)
    assert page.status_code == 200
    data = {"csrf_token": csrf_from(page.text), "action": action}
    if scope:
        data["scope"] = scope
    return client.post(FEED_PAGE, data=data)


def _enable(client, scope=None, action="enable"):
    response = _feed_action(client, action, scope)
    assert response.status_code == 200, response.status_code
    found = URL_RE.search(response.text)
    assert found, "the page shows the new address once"
    return found.group(1), found.group(2)


def _fetch(app, url):
    """GET the feed as a calendar app does: no cookie, no session."""
    return app.test_client().get(url.replace("http://localhost", ""))


def _events(response):
    assert response.status_code == 200, response.text
    assert response.mimetype == "text/calendar"
    calendar = Calendar.from_ical(response.data)
    return {str(e["UID"]): e for e in calendar.walk("VEVENT")}


def _uid(app, meeting_id):
    with app.app_context():
        return db.session.get(Meeting, meeting_id).uid


def test_consultant_feed_has_only_their_meetings_with_the_invites_uid(app, client, world, login_as, smtp):
    login_as(world.cons_a1)
    url, token = _enable(client)
    assert len(token) >= 43  # secrets.token_urlsafe(32)

    # An invite for the same meeting: the calendar app must see one event, not two.
    page = client.get(f"/admin/meeting/send/?id={world.meeting_a1.id}&kind=invite")
    nonce = re.search(r'name="nonce" type="hidden" value="([^"]*)"', page.text).group(1)
    client.post(f"/admin/meeting/send/?id={world.meeting_a1.id}&kind=invite",
                data={"csrf_token": csrf_from(page.text), "nonce": nonce, "recipients": "ana@credor.com.br"})
    invite = email.message_from_bytes(smtp.messages[0].content)
    ics = next(p for p in invite.walk() if p.get_content_type() == "text/calendar").get_payload(decode=True)
    invite_uid = str(Calendar.from_ical(ics).walk("VEVENT")[0]["UID"])

    events = _events(_fetch(app, url))
    assert set(events) == {invite_uid} == {_uid(app, world.meeting_a1.id)}
    event = events[invite_uid]
    assert str(event["SUMMARY"]) == "Reunião de A1"
    assert str(event["STATUS"]) == "CONFIRMED"
    assert "ATTENDEE" not in event  # read-only: nobody is asked to answer
    assert "Reunião de A2" not in _fetch(app, url).text and "Reunião de B" not in _fetch(app, url).text


def test_cancelled_meetings_are_cancelled_in_the_feed(app, client, world, login_as):
    with app.app_context():
        db.session.get(Meeting, world.meeting_a1.id).status = MeetingStatus.CANCELLED
        db.session.commit()
    login_as(world.cons_a1)
    url, _ = _enable(client)
    events = _events(_fetch(app, url))
    assert str(events[_uid(app, world.meeting_a1.id)]["STATUS"]) == "CANCELLED"


def test_admin_chooses_all_or_theirs_and_never_another_agency(app, client, world, login_as):
    with app.app_context():
        own = f.make_meeting(db.session.get(User, world.admin_a.id), db.session.get(Creditor, world.creditor_a.id),
                             subject="Do admin")
        db.session.commit()
        own_uid = own.uid
    login_as(world.admin_a)
    url, _ = _enable(client, scope="all")
    events = _events(_fetch(app, url))
    assert set(events) == {own_uid, _uid(app, world.meeting_a1.id), _uid(app, world.meeting_a2.id)}
    assert _uid(app, world.meeting_b.id) not in events

    page = client.get(FEED_PAGE)
    client.post(FEED_PAGE, data={"csrf_token": csrf_from(page.text), "action": "scope", "scope": "mine"})
    assert set(_events(_fetch(app, url))) == {own_uid}


def test_consultant_cannot_widen_their_feed(app, client, world, login_as):
    login_as(world.cons_a1)
    url, _ = _enable(client, scope="all")
    assert set(_events(_fetch(app, url))) == {_uid(app, world.meeting_a1.id)}


def test_only_a_hash_of_the_token_is_stored(app, client, world, login_as):
    login_as(world.cons_a1)
    _, token = _enable(client)
    with app.app_context():
        feed = db.session.scalar(select(CalendarFeed))
        stored = [str(getattr(feed, c.key)) for c in feed.__mapper__.column_attrs]
    assert all(token not in value for value in stored)
    assert feed.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in client.get(FEED_PAGE).text  # shown once, on the response that generated it


def test_revoked_and_regenerated_tokens_get_404(app, client, world, login_as):
    login_as(world.cons_a1)
    old_url, _ = _enable(client)
    new_url, _ = _enable(client, action="regenerate")
    assert new_url != old_url
    assert _fetch(app, old_url).status_code == 404
    assert _fetch(app, new_url).status_code == 200
    assert _feed_action(client, "revoke").status_code == 302
    assert _fetch(app, new_url).status_code == 404
    with app.app_context():
        assert db.session.scalar(select(CalendarFeed)) is None


def test_unknown_token_inactive_user_and_meetings_off_get_404(app, client, world, login_as):
    assert _fetch(app, "/calendario/" + "x" * 43 + ".ics").status_code == 404
    login_as(world.cons_a1)
    url, _ = _enable(client)
    with app.app_context():
        db.session.get(User, world.cons_a1.id).active = False
        db.session.commit()
    assert _fetch(app, url).status_code == 404
    with app.app_context():
        db.session.get(User, world.cons_a1.id).active = True
        db.session.get(Agency, world.a.id).meetings_enabled = False
        db.session.commit()
    assert _fetch(app, url).status_code == 404


def test_feed_is_rate_limited(app, client, world, login_as):
    app.config["FEED_RATE_LIMIT"] = "3 per minute"
    login_as(world.cons_a1)
    url, _ = _enable(client)
    statuses = [_fetch(app, url).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert "Muitas requisições" in _fetch(app, url).text


def test_feed_changes_need_csrf_and_login(app, client, world, login_as):
    assert client.post(FEED_PAGE, data={"action": "enable"}).status_code == 302  # to the login page
    login_as(world.cons_a1)
    assert client.post(FEED_PAGE, data={"action": "enable"}).status_code == 400
    with app.app_context():
        assert db.session.scalar(select(CalendarFeed)) is None


def test_feed_page_explains_google_outlook_and_apple(client, world, login_as):
    login_as(world.cons_a1)
    page = client.get(FEED_PAGE).text
    for name in ("Google Agenda", "Outlook", "Calendário da Apple", "Do URL", "Assinar da Web",
                 "Nova Assinatura de Calendário"):
        assert name in page


def test_past_events_beyond_the_window_are_left_out(app, client, world, login_as):
    with app.app_context():
        old = db.session.get(Meeting, world.meeting_a1.id)
        old.starts_at -= timedelta(days=400)
        old.ends_at -= timedelta(days=400)
        db.session.commit()
    login_as(world.cons_a1)
    url, _ = _enable(client)
    assert _events(_fetch(app, url)) == {}
