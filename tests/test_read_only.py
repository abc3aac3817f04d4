"""List pages are read-only requests (models/read_only.py): on PostgreSQL their statements run without a
transaction (no BEGIN and ROLLBACK round trips), a write attempted in one fails instead of being made, and the
connection a list used goes back to the pool ready for a transaction again."""

import pytest
from flask import request_finished
from sqlalchemy import event, func, select, text, update

from admin_views.base import ProtectedModelView
from models import Agency, Creditor, db
from models.read_only import READ_ONLY, ReadOnlyRequestWrite, read_only
from tests.conftest import ON_POSTGRES


def _list_urls(app) -> list[str]:
    admin = app.extensions["admin"][0]
    return [f"{view.url}/" for view in admin._views if isinstance(view, ProtectedModelView)]


def _in_transaction(cursor) -> bool:
    """Whether the driver's connection is inside a transaction right after a statement."""
    if ON_POSTGRES:
        from psycopg.pq import TransactionStatus

        return cursor.connection.info.transaction_status != TransactionStatus.IDLE
    return cursor.connection.in_transaction


class Statements:
    """Each statement the engine runs inside the block, with whether it ran inside a transaction."""

    def __init__(self, app):
        with app.app_context():
            self.engine = db.engine
        self.seen: list[tuple[str, bool]] = []

    def _after(self, conn, cursor, statement, *args):
        self.seen.append((statement.split()[0].upper(), _in_transaction(cursor)))

    def __enter__(self):
        event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "after_cursor_execute", self._after)


def test_every_list_page_is_a_read_only_request(app, client, world, login_as):
    """Each screen's list (and its search and sort) runs read-only: the session is marked before its first
    statement, so no list page can write to the database, whatever it grows into."""
    with app.app_context():
        db.session.get(Agency, world.a.id).serasa_enabled = True  # the Serasa screens too
        db.session.commit()
    login_as(world.admin_a)
    marked = []

    def finished(sender, response, **extra):
        marked.append(bool(db.session().info.get(READ_ONLY)))

    urls = _list_urls(app)
    assert {"/admin/meeting/", "/admin/debt/", "/admin/negativation/", "/admin/debtor/"} <= set(urls)
    with request_finished.connected_to(finished, app):
        for url in urls:
            marked.clear()
            response = client.get(url + "?search=Alfa")
            assert response.status_code == 200, url
            assert marked == [True], url
        marked.clear()
        client.get("/admin/creditor/new/")  # a form is not a list: it keeps its transaction
        assert marked == [False]


def test_a_list_page_runs_without_a_transaction_on_postgresql(app, client, world, login_as, csrf_token):
    """PostgreSQL: the list's statements leave the connection idle (autocommit: no BEGIN before them, no ROLLBACK
    after). The save that follows on the same pool runs inside a transaction again. (SQLite's driver opens no
    transaction for a read in either case; its writes run inside one, as here.)"""
    login_as(world.admin_a)
    client.get("/admin/debt/")
    with Statements(app) as page:
        assert client.get("/admin/debt/").status_code == 200
    selects = [in_tx for verb, in_tx in page.seen if verb == "SELECT"]
    assert len(selects) >= 3 and not any(selects), page.seen
    token = csrf_token("/admin/creditor/new/")
    with Statements(app) as save:
        response = client.post("/admin/creditor/new/", data={"csrf_token": token, "name": "Credor Depois da Lista",
                                                             "cnpj": "11.222.333/0001-81"})
    assert response.status_code == 302, response.text
    inserts = [in_tx for verb, in_tx in save.seen if verb == "INSERT"]
    assert inserts and all(inserts), save.seen  # the creditor and its audit entry, in one transaction
    if ON_POSTGRES:
        with Statements(app) as again:
            client.get("/admin/debt/")
        assert not any(in_tx for verb, in_tx in again.seen if verb == "SELECT"), again.seen


@pytest.mark.parametrize("write", ["flush", "update", "text"])
def test_a_write_in_a_read_only_request_fails_and_changes_nothing(app, world, write):
    """Whatever tries to write in a read-only request (an object added or changed, an UPDATE through the session)
    raises, and the database keeps what it had: in autocommit nothing would roll a half-made write back."""
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(Creditor))
        name = db.session.get(Creditor, world.creditor_a.id).name
        db.session.remove()
    with app.test_request_context("/admin/creditor/"):
        session = db.session()
        read_only(session)
        assert session.scalar(select(func.count()).select_from(Creditor)) == before  # reading is fine
        assert session.execute(text("SELECT count(*) FROM creditor")).scalar() == before
        with pytest.raises(ReadOnlyRequestWrite):
            if write == "flush":
                session.add(Creditor(agency_id=world.a.id, name="Gravado Numa Leitura", cnpj="11222333000181"))
                session.get(Creditor, world.creditor_a.id).name = "Renomeado Numa Leitura"
                session.flush()
            elif write == "text":
                session.execute(text("UPDATE creditor SET name = 'Renomeado Numa Leitura' WHERE id = :id"),
                                {"id": world.creditor_a.id})
            else:
                session.execute(update(Creditor).where(Creditor.id == world.creditor_a.id)
                                .values(name="Renomeado Numa Leitura"))
        session.rollback()
        db.session.remove()
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Creditor)) == before
        assert db.session.get(Creditor, world.creditor_a.id).name == name


def test_reading_objects_in_a_read_only_request_is_not_a_write(app, world):
    """Loading rows (and their relations) marks nothing dirty: a read-only session flushes them without complaint."""
    with app.test_request_context("/admin/debt/"):
        session = db.session()
        read_only(session)
        creditor = session.get(Creditor, world.creditor_a.id)
        creditor.name = creditor.name  # the same value: no change
        session.flush()
        db.session.remove()


def test_the_read_only_mark_ends_with_its_request(app, client, world, login_as):
    """A request made inside a caller's application context (a CLI command, a test) shares its session: the list's
    read-only mark ends with the request, and the caller's next write is made, in a transaction."""
    login_as(world.admin_a)
    with app.app_context():
        assert client.get("/admin/creditor/").status_code == 200
        session = db.session()
        assert READ_ONLY not in session.info
        session.add(Creditor(agency_id=world.a.id, name="Gravado Depois da Lista", cnpj="11222333000181"))
        session.commit()
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Creditor)
                                 .where(Creditor.name == "Gravado Depois da Lista")) == 1
