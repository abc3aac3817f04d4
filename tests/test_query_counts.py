"""List pages issue the same number of SQL queries with 5 rows as with 50 (no N+1)."""

from datetime import timedelta

import pytest

from models import AuditLog, db
from models.timeutil import utcnow
from tests import factories as f

LISTS = ["/admin/meeting/", "/admin/creditor/", "/admin/debtor/", "/admin/debt/", "/admin/negotiation/",
         "/admin/finance_negotiation/", "/admin/audit/", "/admin/user/"]
#: Lists with a Serasa column: one more query per page (the latest negativation of the page's debts).
SERASA_COLUMN = {"/admin/debt/": 1, "/admin/negotiation/": 1, "/admin/finance_negotiation/": 1}


def _grow(app, world, rows: int) -> None:
    """Give agency A at least ``rows`` rows on every list, spread over both consultants."""
    from models import Agency, Creditor, User

    with app.app_context():
        agency = db.session.get(Agency, world.a.id)
        consultants = [db.session.get(User, world.cons_a1.id), db.session.get(User, world.cons_a2.id)]
        creditor = db.session.get(Creditor, world.creditor_a.id)
        for i in range(rows):
            owner = consultants[i % 2]
            f.make_creditor(agency)
            f.make_user(agency)
            debtor = f.make_debtor(agency, owner)
            debt = f.make_debt(debtor, creditor)
            f.make_negotiation(debtor, creditor, debts=[debt])
            f.make_meeting(owner, creditor, starts_at=utcnow() + timedelta(hours=i + 1))
            db.session.add(AuditLog(agency_id=agency.id, user_id=owner.id, action="teste"))
        db.session.commit()


def _count(client, queries, url):
    client.get(url)  # warm up
    with queries() as q:
        response = client.get(url)
    assert response.status_code == 200, url
    return q.count


@pytest.mark.parametrize("role", ["admin_a", "sup_a", "cons_a1"])
def test_list_pages_query_count_does_not_grow_with_rows(app, client, world, login_as, queries, role):
    from models.agency import Capability, role_can

    user = login_as(getattr(world, role))
    needs = {"/admin/audit/": Capability.SEE_AUDIT, "/admin/user/": Capability.MANAGE_AGENCY}
    urls = [u for u in LISTS if u not in needs or role_can(user.role, needs[u])]
    _grow(app, world, 5)
    small = {url: _count(client, queries, url + "?page_size=50") for url in urls}
    _grow(app, world, 50)
    large = {url: _count(client, queries, url + "?page_size=50") for url in urls}
    for url in urls:
        assert large[url] == small[url], (url, small[url], large[url])
        # 6, plus the Serasa column's one query (each debt's latest negativation) on debts and negotiations
        assert large[url] <= 6 + SERASA_COLUMN.get(url, 0), (url, large[url])


def test_clock_costs_at_most_one_query(app, client, world, login_as, queries):
    from models import Agency

    login_as(world.admin_a)
    with_clock = _count(client, queries, "/admin/creditor/")
    with app.app_context():
        db.session.get(Agency, world.a.id).meetings_enabled = False
        db.session.commit()
    without_clock = _count(client, queries, "/admin/creditor/")
    assert with_clock - without_clock == 1


def test_list_query_count_does_not_change_with_page_size(app, client, world, login_as, queries):
    login_as(world.admin_a)
    _grow(app, world, 30)
    for url in LISTS:
        counts = {size: _count(client, queries, f"{url}?page_size={size}") for size in (20, 100)}
        assert counts[20] == counts[100], (url, counts)


def test_list_total_is_a_capped_count(app, client, world, login_as, queries, monkeypatch):
    """The total counts at most COUNT_CAP rows past the page (SELECT count(*) FROM (SELECT 1 ... LIMIT n))."""
    from admin_views import flask_admin_compat as base

    login_as(world.admin_a)
    _grow(app, world, 6)
    monkeypatch.setattr(base, "COUNT_CAP", 4)
    client.get("/admin/debtor/")
    with queries() as q:
        capped = client.get("/admin/debtor/").text
    assert "(4+)" in capped
    counts = [s for s in q.statements if "count(" in s.lower() and "FROM debtor" in s]  # not the clock's count
    assert len(counts) == 1 and "LIMIT" in counts[0].upper(), counts
    monkeypatch.setattr(base, "COUNT_CAP", 10_000)
    exact = client.get("/admin/debtor/").text
    assert "(8)" in exact and "+)" not in exact  # agency A: the world's 2 debtors and the 6 grown ones


def test_list_total_rides_with_the_page_ids_and_stays_past_the_last_page(app, client, world, login_as, queries):
    """The capped count is a subquery of the page's ids query (one statement); a page past the last one, which has
    no ids to carry it, still shows the total (its own count)."""
    login_as(world.admin_a)
    _grow(app, world, 6)
    client.get("/admin/debtor/")
    with queries() as q:
        first = client.get("/admin/debtor/").text
    counted = [s for s in q.statements if "count(" in s.lower() and "FROM debtor" in s]
    assert len(counted) == 1 and "ORDER BY" in counted[0] and "debtor.id" in counted[0], counted
    assert "Listar (8)" in first  # the world's 2 debtors of agency A and the 6 grown ones
    with queries() as q:
        past = client.get("/admin/debtor/?page=3").text
    assert "Listar (8)" in past and 'class="action-checkbox"' not in past
    assert len([s for s in q.statements if "count(" in s.lower() and "FROM debtor" in s]) == 2


def test_list_keeps_the_default_order_and_finds_by_search(app, client, world, login_as):
    login_as(world.admin_a)
    _grow(app, world, 5)
    page = client.get("/admin/meeting/?page_size=100").text
    subjects = [m for m in ("Reunião de A1", "Reunião de A2") if m in page]
    assert subjects == ["Reunião de A1", "Reunião de A2"]
    # Upcoming first, soonest first (both tomorrow at the same minute or A2 a little later: A1 comes first).
    assert page.index("Reunião de A1") < page.index("Reunião de A2")
    found = client.get("/admin/meeting/?search=reunião de a1").text  # any case, like Flask-Admin's ILIKE
    assert "Reunião de A1" in found and "Reunião de A2" not in found
