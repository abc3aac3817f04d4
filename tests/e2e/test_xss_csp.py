"""Stored XSS and the Content-Security-Policy in a real browser.

A consultant's meeting subject written to break out of a JavaScript string must stay text when an administrator
clicks Del and then Cancel: the only dialog is the confirmation, showing the subject as typed, and nothing
changes. Normal pages (filters, bulk actions, select2 pickers, the delete confirmation, the clock's dropdown)
work under ``script-src 'self'`` and the browser reports no CSP violation.
"""

import re
from datetime import timedelta

from playwright.sync_api import expect

from models import Creditor, Meeting, User, db
from models.timeutil import utcnow

ADMIN = "admin@demo.com.br"
CONSULTANT = "consultor@demo.com.br"
#: In the old onclick="return faHelpers.safeConfirm('…{{ subject|e }}…')" this ran alert() before the
#: confirmation, and could as well have posted any form as the administrator.
HOSTILE_SUBJECT = "Pauta x'+alert('XSS')+(window.__pwned=1)+' \"><img src=x onerror=alert(2)>"

RECORD_VIOLATIONS = """
document.addEventListener('securitypolicyviolation', function (e) {
  window.__cspViolation(e.violatedDirective + ' ' + (e.blockedURI || '') + ' ' + (e.sample || ''));
});
"""


def _watch_csp(session) -> list[str]:
    violations: list[str] = []
    session.context.expose_binding("__cspViolation", lambda source, text: violations.append(text))
    session.context.add_init_script(RECORD_VIOLATIONS)
    return violations


def _hostile_meeting(live_server) -> tuple[int, int, str]:
    with live_server.db():
        consultant = db.session.query(User).filter_by(email=CONSULTANT).one()
        creditor = db.session.query(Creditor).filter_by(agency_id=consultant.agency_id).order_by(Creditor.id).first()
        start = utcnow().replace(second=0, microsecond=0) + timedelta(days=3)
        meeting = Meeting(agency_id=consultant.agency_id, owner_id=consultant.id, creditor_id=creditor.id,
                          subject=HOSTILE_SUBJECT, starts_at=start, ends_at=start + timedelta(hours=1),
                          place=HOSTILE_SUBJECT, agenda=HOSTILE_SUBJECT)
        db.session.add(meeting)
        db.session.commit()
        return meeting.id, consultant.id, consultant.role


def test_del_then_cancel_on_a_hostile_subject_runs_no_script_and_changes_nothing(new_session, live_server):
    meeting_id, consultant_id, role = _hostile_meeting(live_server)
    s = new_session()
    violations = _watch_csp(s)
    page = s.login(ADMIN)
    s.goto("/admin/meeting/?page_size=100")
    row = page.locator("table.model-list tbody tr", has=page.locator(f"a[href*='details/?id={meeting_id}&']"))
    expect(row).to_have_count(1)

    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append((dialog.type, dialog.message)), dialog.dismiss()))
    row.get_by_role("button", name=re.compile("Del")).click()
    page.wait_for_timeout(300)
    assert dialogs == [("confirm", f"Confirma a exclusão da reunião “{HOSTILE_SUBJECT}”?")], dialogs
    assert page.evaluate("window.__pwned") is None
    expect(row).to_have_count(1)
    assert not violations, violations
    with live_server.db():
        assert db.session.get(Meeting, meeting_id).subject == HOSTILE_SUBJECT
        assert db.session.get(User, consultant_id).role == role


def test_pages_work_without_inline_scripts_and_report_no_csp_violation(new_session, live_server):
    _hostile_meeting(live_server)
    s = new_session()
    violations = _watch_csp(s)
    page = s.login(ADMIN)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append((dialog.type, dialog.message)), dialog.dismiss()))

    # Filters: the "Adicionar filtro" menu adds a filter row (Flask-Admin's bs4_filters.js).
    s.goto("/admin/meeting/")
    filters = page.locator(".field-filters")
    filters.locator("xpath=preceding-sibling::a").click()
    filters.locator("a.filter").first.click()
    expect(page.locator("#filter_form .filters tr")).to_have_count(1)

    # Bulk action with nothing selected: Flask-Admin's own alert, run from the static actions.js.
    page.locator("a.dropdown-toggle", has_text=re.compile("Com selecionado|With selected")).click()
    page.locator("[data-model-action='delete']").click()
    page.wait_for_timeout(200)
    assert [kind for kind, _ in dialogs] == ["alert"], dialogs

    # The clock's dropdown opens (and loads today's meetings when there are some).
    page.locator("#clockToggle").click()
    expect(page.locator("#meeting-clock .dropdown-menu")).to_be_visible()
    if page.locator("#clock-items").count():
        expect(page.locator("#clock-items")).not_to_have_text("Carregando…")

    # select2 pickers on the meeting form.
    s.goto("/admin/meeting/new/")
    expect(page.locator(".select2-container").first).to_be_visible()
    page.locator(".select2-container").first.click()
    expect(page.locator(".select2-results li, .select2-results__option").first).to_be_visible()

    # Javascript-only links (the "Lista" tab) do nothing and are not refused by the CSP.
    s.goto("/admin/meeting/")
    page.locator(".nav-tabs a.nav-link.active").first.click()
    page.wait_for_timeout(200)

    for path in ("/admin/", "/admin/debtor/", "/admin/debt/", "/admin/negativation/", "/admin/user/",
                 "/admin/profile/?tab=serasa", "/admin/audit/"):
        assert s.goto(path).status == 200, path
    assert not violations, violations
