"""Lists and exports that do not grow with the data: the consultant copied onto rows, exports beyond the
databases' parameter limits, deep pages capped, and Flask-Admin's internals pinned to the version they mirror."""

import csv
import io
import re
import sqlite3
from importlib import metadata

from sqlalchemy import select

from admin_views import flask_admin_compat
from models import AuditLog, Debt, Debtor, Negativation, db
from tests.conftest import ON_POSTGRES

#: PostgreSQL's bind parameters per statement (a 16-bit count in the wire protocol).
POSTGRES_PARAMETER_LIMIT = 65_535
#: SQLite's limit is a per-connection setting: the test lowers it, so a few thousand rows are "more than it".
SQLITE_TEST_PARAMETER_LIMIT = 999
CONTRACT = re.compile(r"BULK-\d+|CT-A\d")


def test_the_flask_admin_overrides_mirror_the_installed_version():
    """admin_views/flask_admin_compat.py re-implements private Flask-Admin API of one release: another installed
    release fails here, so that an upgrade reviews those overrides (see the module's docstring)."""
    assert metadata.version("flask-admin") == flask_admin_compat.FLASK_ADMIN_VERSION


def _cells(response) -> list[list[str]]:
    with response:  # a streamed response ends its request (and its read transaction) when closed
        body = response.get_data().decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:], newline=""), delimiter=";"))


def _bulk_debts(world, count: int) -> None:
    """``count`` debts of debtor A1 in one INSERT … SELECT (set-based: fast at any count)."""
    columns = ("agency_id, debtor_id, creditor_id, consultant_id, contract_number, amount, due_date, status, "
               "created_at")
    values = (f"{world.a.id}, {world.debtor_a1.id}, {world.creditor_a.id}, {world.cons_a1.id}, 'BULK-' || i, "
              "100 + i % 900, '2025-01-15', 'aberta', '2026-01-01 00:00:00'")
    if ON_POSTGRES:
        sql = f"INSERT INTO debt ({columns}) SELECT {values.replace(chr(39) + '2025', 'DATE ' + chr(39) + '2025')}" \
              f" FROM generate_series(1, {count}) AS i"
        sql = sql.replace("'2026-01-01 00:00:00'", "TIMESTAMP '2026-01-01 00:00:00'")
    else:
        sql = (f"INSERT INTO debt ({columns}) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
               f"WHERE i < {count}) SELECT {values} FROM n")
    db.session.execute(db.text(sql))
    db.session.commit()


def test_an_export_has_every_row_beyond_the_databases_parameter_limit(app, client, world, login_as):
    """Exports used to load every id and then ask ``WHERE id IN (all ids)``: HTTP 500 past the database's
    parameter limit. The streamed export has every row of the list, in the list's order, and the audit says so."""
    with app.app_context():
        if ON_POSTGRES:
            count = POSTGRES_PARAMETER_LIMIT + 500
        else:
            count = SQLITE_TEST_PARAMETER_LIMIT * 3
            raw = db.engine.raw_connection()  # in-memory SQLite: the one connection every request uses
            raw.driver_connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, SQLITE_TEST_PARAMETER_LIMIT)
            raw.close()
        _bulk_debts(world, count)
    app.config["EXPORT_JOB_THRESHOLD"] = count + 10  # streamed by the request (above the threshold: a job's file)
    login_as(world.admin_a)
    response = client.get("/admin/debt/export/csv/")
    assert response.status_code == 200
    assert response.is_streamed
    rows = _cells(response)
    contracts = [row[2] for row in rows[1:]]
    assert len(contracts) == count + 2  # the world's two debts of agency A, and the bulk ones
    assert {f"BULK-{i}" for i in range(1, count + 1)} <= set(contracts)
    assert "CT-B" not in contracts  # another agency's
    with app.app_context():
        details = db.session.scalars(select(AuditLog.details).where(AuditLog.action == "export")).all()
    assert details and details[-1].endswith(f"linhas: {count + 2}")


def test_a_download_starts_with_the_titles_before_the_rows_are_read(app, client, world, login_as, queries):
    """The first bytes of a streamed export leave before the database is asked for its rows: the browser starts
    the download at once, however long the rows take (a cold cache at millions of debts). The rows follow."""
    with app.app_context():
        _bulk_debts(world, 30)
    app.config["EXPORT_JOB_THRESHOLD"] = 1000
    login_as(world.admin_a)
    with queries() as q:
        response = client.get("/admin/debt/export/csv/", buffered=False)
        assert response.status_code == 200 and response.is_streamed
        chunks = response.iter_encoded()
        first = next(chunks).decode("utf-8")
        read_before = [s for s in q.statements if "FROM debt" in s and "count(" not in s.lower()]
        rest = b"".join(chunks).decode("utf-8")
        read_after = [s for s in q.statements if "FROM debt" in s and "count(" not in s.lower()]
    response.close()
    assert first.startswith("\ufeff") and first.endswith("\r\n") and first.count("\r\n") == 1  # titles only
    assert "Contrato" in first
    assert not read_before, read_before
    assert read_after  # the rows' query ran after the titles had left
    rows = list(csv.reader(io.StringIO(first[1:] + rest, newline=""), delimiter=";"))
    assert len(rows) == 1 + 32 and rows[0] == next(csv.reader(io.StringIO(first[1:]), delimiter=";"))


def test_an_export_is_the_list_searched(app, client, world, login_as):
    """The streamed export keeps the list's search (and its agency scope)."""
    with app.app_context():
        _bulk_debts(world, 30)
    login_as(world.admin_a)
    searched = _cells(client.get("/admin/debt/export/csv/?search=BULK-2"))
    assert sorted(r[2] for r in searched[1:]) == sorted(["BULK-2"] + [f"BULK-2{i}" for i in range(10)])


def test_a_debtor_handed_to_another_consultant_takes_its_debts_and_records(app, client, world, login_as, auth):
    """The consultant is copied onto debts and Serasa records (models/portfolio.py): reassigning the debtor moves
    them in the same save, and a debt moved to another debtor follows that debtor's consultant."""
    with app.app_context():
        debt = db.session.get(Debt, world.debt_a1.id)
        debt.agency.serasa_enabled = True
        db.session.add(Negativation.for_debt(debt, world.admin_a.id, "RC1"))
        db.session.commit()
        assert db.session.scalars(select(Negativation.consultant_id)).all() == [world.cons_a1.id]
    login_as(world.cons_a1)
    assert "CT-A1" in client.get("/admin/debt/").text
    assert "CT-A1" in client.get("/admin/negativation/").text

    with app.app_context():
        db.session.get(Debtor, world.debtor_a1.id).consultant_id = world.cons_a2.id
        db.session.commit()
        assert db.session.get(Debt, world.debt_a1.id).consultant_id == world.cons_a2.id
        assert db.session.scalars(select(Negativation.consultant_id)).all() == [world.cons_a2.id]
    assert "CT-A1" not in client.get("/admin/debt/").text
    assert "CT-A1" not in client.get("/admin/negativation/").text
    auth.logout()
    login_as(world.cons_a2)
    assert "CT-A1" in client.get("/admin/debt/").text
    assert "CT-A1" in client.get("/admin/negativation/").text

    with app.app_context():  # a debt moved to another debtor; then that debtor left without a consultant
        debt = db.session.get(Debt, world.debt_a2.id)
        debt.debtor = db.session.get(Debtor, world.debtor_a1.id)  # now cons_a2's debtor too
        db.session.commit()
        assert debt.consultant_id == world.cons_a2.id
        db.session.get(Debtor, world.debtor_a1.id).consultant = None
        db.session.commit()
        assert {d.consultant_id for d in db.session.scalars(select(Debt).where(
            Debt.debtor_id == world.debtor_a1.id))} == {None}
    assert "CT-A1" not in client.get("/admin/debt/").text


def test_a_deep_page_is_capped_with_a_message(app, client, world, login_as, monkeypatch):
    """No list skips more than MAX_LIST_OFFSET rows (a walk over every skipped row): a deeper page number shows
    the last reachable page and says how to reach the rest."""
    monkeypatch.setattr(flask_admin_compat, "MAX_LIST_OFFSET", 20)
    with app.app_context():
        _bulk_debts(world, 60)
    login_as(world.admin_a)
    deep = client.get("/admin/debt/?page=50&sort=2")  # sorted by contract number
    assert deep.status_code == 200
    assert "A lista mostra até 20 linhas a partir do início" in deep.text
    last = client.get("/admin/debt/?page=1&sort=2")
    assert "A lista mostra" not in last.text
    assert CONTRACT.findall(deep.text) == CONTRACT.findall(last.text) != []


def test_a_list_page_has_one_delete_form_whatever_its_rows(app, client, world, login_as, csrf_token):
    """Each row's delete button posts through the page's one form (one CSRF token per page, not one per row), and
    deleting through it works."""
    from tests import factories as f

    login_as(world.admin_a)
    with app.app_context():
        owner = db.session.get(Debtor, world.debtor_a1.id).consultant
        creditor = db.session.get(Debt, world.debt_a1.id).creditor
        for n in range(15):
            f.make_meeting(owner, creditor, subject=f"Reunião em lote {n}")
        db.session.commit()
    for url, rows in (("/admin/meeting/", 17), ("/admin/creditor/", 1)):
        page = client.get(url).text
        assert page.count('action="' + url + 'delete/"') == 1, url
        assert page.count("data-delete-row=") == rows, url
        assert page.count('name="csrf_token"') <= 3, url  # the delete form, the bulk actions, the logout
    page = client.get("/admin/meeting/").text
    token = re.search(r'id="row-delete-form".*?name="csrf_token" type="hidden" value="([^"]+)"', page, re.S).group(1)
    response = client.post("/admin/meeting/delete/", data={"csrf_token": token, "id": world.meeting_a2.id,
                                                           "url": "/admin/meeting/"})
    assert response.status_code == 302
    assert "Reunião de A2" not in client.get("/admin/meeting/").text


def test_an_export_runs_outside_a_request_with_the_same_cells(app, client, world, login_as):
    """``export_to_file`` (for the job queue) writes what the download gives, for the same user and query."""
    from admin_views.export import export_to_file

    with app.app_context():
        _bulk_debts(world, 40)
    login_as(world.admin_a)
    with client.get("/admin/debt/export/csv/?search=BULK-1") as response:
        downloaded = response.get_data()
    out = io.BytesIO()
    with app.app_context():
        written = export_to_file(app, "debt", "search=BULK-1", world.admin_a.id, out)
    assert written == len(out.getvalue()) and out.getvalue() == downloaded
    assert downloaded.count(b"BULK-1") == 11  # BULK-1, BULK-10 … BULK-19
