"""Reuniões > Calendário and the private feed in a real browser: desktop and a 390 px phone."""

import re

import requests
from icalendar import Calendar
from playwright.sync_api import expect

ADMIN = "admin@demo.com.br"
CONSULTANT = "consultor@demo.com.br"


def _no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_calendar_week_and_month_on_desktop(new_session, screenshot):
    session = new_session()
    page = session.login(ADMIN)
    session.goto("/admin/meeting/")
    page.locator("#btn-calendario").click()
    expect(page.locator("#calendar")).to_have_attribute("data-mode", "week")
    expect(page.locator("#calendar-title")).to_contain_text("Semana de")
    expect(page.locator(".cal-head .cal-headcell")).to_have_count(7)
    items = page.locator("#calendar .cal-item")
    expect(items.first).to_be_visible()  # the demo has meetings today
    today = page.locator(".cal-day.cal-today")
    expect(today).to_have_count(1)
    # Coloured by situation, with a legend of the same colours.
    colour = page.locator(".cal-item.cal-scheduled").first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(29, 111, 184)"
    expect(page.locator("#calendar-legend")).to_contain_text("Passada sem resultado")
    screenshot(page, "10-calendario-semana", full_page=True)

    title = page.locator("#calendar-title").inner_text()
    page.locator("#cal-next").click()
    expect(page.locator("#calendar-title")).not_to_have_text(title)
    page.locator("#cal-today").click()
    expect(page.locator("#calendar-title")).to_have_text(title)

    page.locator("#cal-month").click()
    expect(page.locator("#calendar")).to_have_attribute("data-mode", "month")
    expect(page.locator("#calendar-title")).to_contain_text(" de 20")
    assert page.locator("#calendar .cal-week").count() >= 4
    screenshot(page, "11-calendario-mes", full_page=True)

    subject = page.locator(".cal-day.cal-today .cal-item .cal-subject").first.inner_text()
    page.locator(".cal-day.cal-today .cal-item").first.click()
    expect(page).to_have_url(re.compile(r"/admin/meeting/details/\?id=\d+"))
    expect(page.locator("body")).to_contain_text(subject)


def test_calendar_on_a_phone(new_session, screenshot):
    session = new_session()
    page = session.login(CONSULTANT)
    page.set_viewport_size({"width": 390, "height": 844})
    session.goto("/admin/meeting_calendar/")
    expect(page.locator(".cal-head")).to_be_hidden()
    today = page.locator(".cal-day.cal-today")
    expect(today).to_be_visible()
    expect(today.locator(".cal-wd")).to_be_visible()  # the weekday is spelled out on a phone
    item = page.locator("#calendar .cal-item").first
    expect(item).to_be_visible()
    assert item.bounding_box()["width"] > 300  # one day per row: readable and easy to tap
    assert _no_horizontal_scroll(page)
    screenshot(page, "12-calendario-celular", full_page=True)
    page.locator("#cal-month").click()
    expect(page.locator("#calendar")).to_have_attribute("data-mode", "month")
    assert _no_horizontal_scroll(page)
    # A consultant sees only their own meetings: every item is theirs (no colleague names on their calendar).
    for title in page.locator("#calendar .cal-item").evaluate_all("els => els.map(e => e.title)"):
        assert "Beatriz" not in title


def test_feed_is_switched_on_and_read_like_a_calendar_app(new_session, screenshot, live_server):
    session = new_session()
    page = session.login(CONSULTANT)
    session.goto("/admin/meeting_calendar/")
    page.locator("#cal-feed").click()
    expect(page.locator("#feed-state")).to_contain_text("Desligada")
    page.locator("#btn-feed-enable").click()
    url = page.locator("#feed-url").input_value()
    assert re.fullmatch(re.escape(live_server.url) + r"/calendario/[A-Za-z0-9_-]{43,}\.ics", url)
    expect(page.locator("#feed-state")).to_contain_text("Ligada")
    expect(page.locator("#feed-instructions")).to_contain_text("Google Agenda")
    screenshot(page, "13-assinar-calendario", full_page=True)

    response = requests.get(url, timeout=10)  # no cookie: calendar apps have no session
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/calendar")
    events = Calendar.from_ical(response.content).walk("VEVENT")
    assert events and all(str(e["UID"]).endswith("@painel-cobranca") for e in events)

    page.locator("#btn-feed-revoke").click()
    expect(page.locator("#feed-state")).to_contain_text("Desligada")
    assert requests.get(url, timeout=10).status_code == 404


def test_recording_a_meeting_that_already_happened_shows_the_outcome_fields(new_session):
    session = new_session()
    page = session.login(CONSULTANT)
    session.goto("/admin/meeting/new/")
    box = page.get_by_label("Registrar reunião que já aconteceu")
    notes = page.locator("#notes")
    expect(notes).to_be_hidden()
    box.check()
    expect(notes).to_be_visible()
    expect(page.locator("input[name=productive]").first).to_be_visible()
    box.uncheck()
    expect(notes).to_be_hidden()
