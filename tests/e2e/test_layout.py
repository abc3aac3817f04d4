"""Layout in a real browser at a laptop's and a phone's size: every control reachable, nothing cut or covered.

The pages are discovered from the admin's own views (each view's list, create form, first row's edit form and
details), as the administrator and as a consultant, so a new screen is checked without touching this file.
"""

import re
from datetime import timedelta

import pytest
from flask_admin.model import BaseModelView
from playwright.sync_api import expect

from models import Meeting, User, db
from models.meeting import MeetingStatus
from models.timeutil import utcnow

ADMIN = "admin@demo.com.br"
CONSULTANT = "consultor@demo.com.br"
LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
SIZES = pytest.mark.parametrize("size", [LAPTOP, PHONE], ids=["1366x768", "390x844"])

#: For each visible form control: scroll it to the middle of the screen and ask the browser which element is at
#: its centre. It must be the control itself (or inside it, e.g. select2's text), not something laid over it.
CHECK_CONTROLS = """
() => {
  const describe = (el) => {
    if (!el) { return 'nothing'; }
    const label = el.labels && el.labels.length ? ` "${el.labels[0].innerText.trim()}"` : '';
    return `<${el.tagName.toLowerCase()}${el.id ? ' id=' + el.id : ''}${el.name ? ' name=' + el.name : ''}`
      + `${el.value && el.type === 'radio' ? ' value=' + el.value : ''}${el.className ? ' class="' + el.className + '"' : ''}>${label}`
      + (el.innerText ? ` ${el.innerText.trim().slice(0, 40)}` : '');
  };
  const problems = [];
  const checked = [];
  const selector = 'form input:not([type=hidden]), form select, form textarea, form button, '
                 + 'form .select2-container .select2-choice, form .select2-container .select2-choices';
  for (const el of document.querySelectorAll(selector)) {
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    if (el.classList.contains('select2-hidden-accessible') || style.visibility === 'hidden'
        || box.width < 2 || box.height < 2 || el.getClientRects().length === 0) {
      continue;  // not shown (a collapsed menu, another tab, select2's original <select>)
    }
    el.scrollIntoView({block: 'center', inline: 'center'});
    const r = el.getBoundingClientRect();
    const x = r.left + r.width / 2, y = r.top + r.height / 2;
    const hit = document.elementFromPoint(x, y);
    checked.push(describe(el));
    if (!hit || !(hit === el || el.contains(hit) || (el.labels && [...el.labels].some(l => l.contains(hit))))) {
      problems.push(`${describe(el)} is covered by ${describe(hit)} at (${Math.round(x)}, ${Math.round(y)})`);
    }
    if (r.left < -1 || r.right > window.innerWidth + 1) {
      problems.push(`${describe(el)} sticks out of the screen (${Math.round(r.left)}..${Math.round(r.right)})`);
    }
  }
  window.scrollTo(0, 0);
  return {problems, checked};
}
"""
OVERFLOW = "() => [document.documentElement.scrollWidth, window.innerWidth]"


def _model_views(live_server):
    admin = live_server.app.extensions["admin"][0]
    return [v for v in admin._views if isinstance(v, BaseModelView)]


def _discover_pages(s, live_server) -> dict[str, list[str]]:
    """Ask each of the admin's model views, as this user, for its create form, first edit form and details."""
    pages = {"form": [], "details": []}
    for view in _model_views(live_server):
        listing = s.goto(f"{view.url}/")
        if listing.status != 200:
            continue  # not this user's screen (404/403), already proved by the authorization crawl
        if s.page.request.get(s.url(f"{view.url}/new/"), max_redirects=0).status == 200:
            pages["form"].append(f"{view.url}/new/")
        buttons = s.page.locator("table.model-list tbody tr td.list-buttons-column").first
        for kind in ("edit", "details"):
            link = buttons.locator(f"a[href*='/{kind}/']")
            if link.count():
                href = link.first.get_attribute("href")
                pages["form" if kind == "edit" else "details"].append(href.replace(live_server.url, ""))
    for path in ("/admin/profile/",):  # the one hand-written edit screen that is not a model view
        if s.page.request.get(s.url(path), max_redirects=0).status == 200:
            pages["form"].append(path)
    return pages


def _clock_at_top_right(page, size):
    clock = page.locator("#meeting-clock > a")
    expect(clock).to_be_visible()
    box = clock.bounding_box()
    assert box["y"] < 80 and box["x"] + box["width"] > size["width"] * 0.6, (page.url, box)


@SIZES
@pytest.mark.parametrize("who", [ADMIN, CONSULTANT], ids=["admin", "consultant"])
def test_every_form_control_is_clickable_and_nothing_overflows(new_session, live_server, size, who):
    s = new_session()
    s.page.set_viewport_size(size)
    s.login(who)
    pages = _discover_pages(s, live_server)
    assert any("/meeting/edit/" in p for p in pages["form"]) and any("/meeting/new/" in p for p in pages["form"])
    problems = []
    for path in pages["form"] + pages["details"]:
        assert s.goto(path).status == 200, path
        s.page.wait_for_load_state("load")
        width, viewport = s.page.evaluate(OVERFLOW)
        if width > viewport:
            problems.append(f"{path}: the page is {width}px wide on a {viewport}px screen")
        _clock_at_top_right(s.page, size)
        if path in pages["form"]:
            found = s.page.evaluate(CHECK_CONTROLS)
            assert found["checked"], f"{path}: no form control found"
            problems += [f"{path}: {p}" for p in found["problems"]]
    assert not problems, "\n".join(problems)


def _meeting_for_form(live_server) -> int:
    with live_server.db():
        admin = db.session.query(User).filter_by(email=ADMIN).one()
        meeting = db.session.query(Meeting).filter(Meeting.agency_id == admin.agency_id,
                                                   Meeting.starts_at > utcnow() + timedelta(hours=2),
                                                   Meeting.invite_sent_at.is_(None)).order_by(Meeting.id).first()
        return meeting.id


@SIZES
def test_every_control_of_the_meeting_form_is_clicked(new_session, live_server, size):
    """Click each radio, each select's options and each select2 option of Alt, then save: what was clicked is kept."""
    meeting_id = _meeting_for_form(live_server)
    s = new_session()
    s.page.set_viewport_size(size)
    page = s.login(ADMIN)
    s.goto(f"/admin/meeting/edit/?id={meeting_id}")
    for radio in page.locator("input[type=radio]").all():
        radio.click()  # a real click: Playwright refuses when another element would receive it
        expect(radio).to_be_checked()
    page.wait_for_load_state("load")
    for select in page.locator("form.admin-form select:not([data-role^=select2])").all():  # native selects
        values = select.locator("option").evaluate_all("options => options.map(o => o.value)")
        assert values, select
        for value in values:
            select.click()
            select.select_option(value)
            expect(select).to_have_value(value)
    # Flask-Admin's select2 (3.x): the open list is a ".select2-drop-active" appended to the body.
    options = page.locator(".select2-drop-active .select2-result-selectable")
    for container in page.locator("form.admin-form .select2-container").all():
        container.click()
        expect(options.first).to_be_visible()
        count = options.count()
        for i in range(count):
            if i:
                container.click()
            option = options.nth(i)
            text = option.inner_text()
            option.click()
            expect(container).not_to_have_class(re.compile(r"select2-dropdown-open"))
            expect(container).to_contain_text(text)
    # Leave a coherent meeting: scheduled, 1 hour, end from the duration; Produtiva Não; then Salvar.
    page.locator("#status").select_option(MeetingStatus.HELD.value)
    page.locator("#duration").select_option("60")
    page.locator("#ends_at").fill("")
    page.locator("#productive-2").click()
    page.get_by_label("Observações").fill("Sem acordo.\nRetomar em janeiro.")
    page.get_by_role("button", name="Salvar", exact=True).click()
    expect(page.locator(".alert-success")).to_be_visible()
    with live_server.db():
        saved = db.session.get(Meeting, meeting_id)
        assert (saved.productive, saved.status) == (False, "realizada")
        assert saved.notes.replace("\r\n", "\n") == "Sem acordo.\nRetomar em janeiro."  # browsers send CRLF
    s.goto(f"/admin/meeting/details/?id={meeting_id}")
    notes = page.locator("table.searchable tr", has_text="Observações").locator(".text-lines")
    assert notes.inner_text() == "Sem acordo.\nRetomar em janeiro."  # the line break is shown


@SIZES
def test_navbar_clock_dropdown_and_adicionar_look_right(new_session, live_server, size, tmp_path):
    """One navbar line, the clock at the top right, a scrolling list of today's meetings, a visible Adicionar."""
    s = new_session()
    s.page.set_viewport_size(size)
    page = s.login(ADMIN)
    s.goto("/admin/meeting/")
    nav = page.locator("nav.navbar").bounding_box()
    assert nav["height"] < 70, f"the navbar wraps: {nav['height']}px high"  # one line, phone included
    _clock_at_top_right(page, size)
    adicionar = page.locator("#btn-adicionar")
    if size is PHONE:
        adicionar.scroll_into_view_if_needed()
    expect(adicionar).to_be_visible()
    colours = adicionar.evaluate("b => [getComputedStyle(b).color, getComputedStyle(b).backgroundColor]")
    assert colours[0] != colours[1] and colours[1] not in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)"), colours
    page.locator("#meeting-clock > a").click()
    menu = page.locator("#meeting-clock .dropdown-menu")
    expect(menu).to_be_visible()
    expect(menu.locator(".dropdown-item").first).to_be_visible()
    box = menu.bounding_box()
    assert box["height"] <= size["height"] * 0.75, box
    assert box["x"] >= 0 and box["x"] + box["width"] <= size["width"], box
    page.screenshot(path=str(tmp_path / "clock.png"))


@SIZES
def test_details_fit_the_screen_and_the_video_link_opens(new_session, live_server, size):
    meeting_id = _meeting_for_form(live_server)
    with live_server.db():
        meeting = db.session.get(Meeting, meeting_id)
        meeting.video_link = "https://videochamada.example.com/sala/reuniao-de-alinhamento-da-carteira-0123456789"
        meeting.agenda = "1. Carteira em atraso\n2. Proposta de parcelamento"
        db.session.commit()
    s = new_session()
    s.page.set_viewport_size(size)
    page = s.login(ADMIN)
    s.goto(f"/admin/meeting/details/?id={meeting_id}")
    width, viewport = page.evaluate(OVERFLOW)
    assert width <= viewport
    link = page.locator("table.searchable a[href^='https://videochamada.example.com/']")
    expect(link).to_be_visible()
    assert link.get_attribute("rel") == "noopener noreferrer" and link.get_attribute("target") == "_blank"
    agenda = page.locator("table.searchable tr", has_text="Pauta").locator(".text-lines")
    assert agenda.inner_text() == "1. Carteira em atraso\n2. Proposta de parcelamento"
    table = page.locator("table.searchable").bounding_box()
    assert table["x"] >= 0 and table["x"] + table["width"] <= size["width"], table
