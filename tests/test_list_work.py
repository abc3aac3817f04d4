"""A list page does its per-row work once per page: a page of 20 rows builds as many forms, routes as many URLs
and calls as many template macros as a page of 2 (what made the first pages many times slower than their HTML)."""

import re
from contextlib import contextmanager
from datetime import timedelta

import pytest
from jinja2.runtime import Macro
from werkzeug.routing.map import MapAdapter
from wtforms.form import BaseForm

from models import Agency, AuditLog, Creditor, Debt, Meeting, Negativation, User, db
from models.negativation import NegativationStatus
from models.timeutil import local_today, utcnow
from tests import factories as f

MAIN_LISTS = ["/admin/meeting/", "/admin/debt/", "/admin/debtor/", "/admin/negotiation/", "/admin/negativation/"]
LISTS = ["/admin/meeting/", "/admin/debt/", "/admin/debtor/", "/admin/negotiation/", "/admin/finance_negotiation/",
         "/admin/negativation/", "/admin/creditor/", "/admin/user/", "/admin/audit/"]


def _grow(app, world, rows: int) -> None:
    """Give agency A ``rows`` more rows on every list, each debt negativated (the Serasa column shows its badge,
    a link, on every row) and half of them with a removal deadline running."""
    with app.app_context():
        agency = db.session.get(Agency, world.a.id)
        agency.serasa_enabled = True
        owner = db.session.get(User, world.cons_a1.id)
        creditor = db.session.get(Creditor, world.creditor_a.id)
        today = local_today(agency.timezone)
        for i in range(rows):
            f.make_creditor(agency)
            f.make_user(agency)
            debtor = f.make_debtor(agency, owner)
            debt = f.make_debt(debtor, creditor)
            f.make_negotiation(debtor, creditor, debts=[debt])
            f.make_meeting(owner, creditor, starts_at=utcnow() + timedelta(hours=i + 1))
            db.session.add(AuditLog(agency_id=agency.id, user_id=owner.id, action="teste"))
            db.session.add(Negativation(
                agency_id=agency.id, debt_id=debt.id, debtor_id=debtor.id, creditor_id=creditor.id,
                document=debtor.document, contract_number=debt.contract_number, amount=debt.amount,
                due_date=debt.due_date, expires_on=debt.due_date + timedelta(days=5 * 365),
                status=NegativationStatus.ACTIVE,
                removal_deadline=today + timedelta(days=3) if i % 2 else None))
        db.session.commit()


@contextmanager
def _counting(monkeypatch):
    """Count, while the block runs, the forms built, the URLs routed and the template macros called (each still
    does its work: the originals are called)."""
    counts = {"forms": 0, "urls": 0, "macros": 0}

    def spy(owner, name, key):
        original = getattr(owner, name)

        def counted(*args, **kwargs):
            counts[key] += 1
            return original(*args, **kwargs)
        monkeypatch.setattr(owner, name, counted)

    spy(BaseForm, "__init__", "forms")
    spy(MapAdapter, "build", "urls")
    spy(Macro, "_invoke", "macros")
    try:
        yield counts
    finally:
        monkeypatch.undo()


def _work(client, monkeypatch, url):
    client.get(url)  # warm up (templates compiled, caches filled)
    with _counting(monkeypatch) as counts:
        response = client.get(url)
    assert response.status_code == 200, url
    return counts, response.text.count('<tr>') + response.text.count('<tr ')


@pytest.mark.parametrize("role", ["admin_a", "cons_a1"])
def test_list_page_work_does_not_grow_with_rows(app, client, world, login_as, monkeypatch, role):
    login_as(getattr(world, role))
    _grow(app, world, 2)
    urls = [u for u in LISTS if client.get(u).status_code == 200]
    assert "/admin/meeting/" in urls and "/admin/debt/" in urls and "/admin/negativation/" in urls
    small = {url: _work(client, monkeypatch, url) for url in urls}
    _grow(app, world, 25)
    large = {url: _work(client, monkeypatch, url) for url in urls}
    for url in urls:
        (small_work, small_rows), (large_work, large_rows) = small[url], large[url]
        if url in MAIN_LISTS or role == "admin_a":
            assert large_rows > small_rows, (url, small_rows, large_rows)  # the page did get longer
        assert large_work == small_work, (url, small_work, large_work)


def test_list_rows_keep_their_buttons_and_values(app, client, world, login_as):
    """The rows rendered once per page still carry each row's own id in every button, and its own values."""
    login_as(world.admin_a)
    _grow(app, world, 3)
    with app.app_context():
        meetings = db.session.query(Meeting).filter_by(agency_id=world.a.id).all()
        debts = db.session.query(Debt).filter_by(agency_id=world.a.id).all()
    page = client.get("/admin/meeting/").text
    for meeting in meetings:
        assert f"/admin/meeting/details/?id={meeting.id}&amp;url=" in page
        assert f"/admin/meeting/edit/?id={meeting.id}&amp;url=" in page
        assert f'data-delete-row="{meeting.id}"' in page
        assert f"Confirma a exclusão da reunião “{meeting.subject}”?" in page
    page = client.get("/admin/debt/").text
    for debt in debts:
        assert f'<input type="checkbox" name="rowid" class="action-checkbox" value="{debt.id}"' in page
        assert f"/admin/debt/details/?id={debt.id}&amp;url=" in page
        assert f"/admin/debt/edit/?id={debt.id}&amp;url=" in page
        assert f'data-delete-row="{debt.id}"' in page
        assert f"/admin/debt/negativate/?rowid={debt.id}" in page
        assert re.search(rf'<td class="col-contract_number">\s*{re.escape(debt.contract_number)}\s*</td>', page)
    with app.app_context():
        records = db.session.query(Negativation).filter_by(agency_id=world.a.id).all()
    for record in records:  # the Serasa column: each debt's badge links to its own record
        assert f'serasa-status" href="/admin/negativation/details/?id={record.id}">' in page


def _menu(page: str) -> str:
    return page[page.index('id="admin-navbar-collapse"'):page.index('id="current-user"')]


def test_the_menu_follows_the_user_and_the_agency_on_every_request(app, client, auth, world, login_as):
    """The menu's HTML is reused, but which items it shows is decided per request: by the role, by the agency's
    settings as they are now, and the active item by the screen."""
    login_as(world.admin_a)
    admin_menu = _menu(client.get("/admin/debt/").text)
    assert 'href="/admin/user/"' in admin_menu and 'href="/admin/meeting/"' in admin_menu
    assert '<a class="dropdown-item active  " href="/admin/debt/"' in admin_menu
    assert '<a class="dropdown-item active  " href="/admin/debtor/"' in _menu(client.get("/admin/debtor/").text)
    auth.logout()
    login_as(world.cons_a1)
    consultant_menu = _menu(client.get("/admin/debt/").text)
    assert 'href="/admin/user/"' not in consultant_menu and 'href="/admin/meeting/"' in consultant_menu
    with app.app_context():
        db.session.get(Agency, world.a.id).meetings_enabled = False
        db.session.commit()
    assert 'href="/admin/meeting/"' not in _menu(client.get("/admin/debt/").text)
    auth.logout()
    login_as(world.admin_a)
    menu = _menu(client.get("/admin/debt/").text)
    assert 'href="/admin/meeting/"' not in menu and 'href="/admin/user/"' in menu
