"""Large exports as jobs: a big list's export is never counted whole before the answer, becomes a job that writes
exactly the user's rows (scope, search, filters, order) into a file with a real consumer process, survives a
consumer killed mid-write without ever offering a half file, and is downloaded only by who may, audited, until it
expires. Small lists still stream at once.
"""

import csv
import io
import os
import re
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import insert, select

from app import create_app
from models import AuditLog, Debtor, Job, User, db
from models.agency import Role
from models.job import JobState
from models.timeutil import utcnow
from services import exports, jobs
from tests import factories as f
from tests.conftest import ON_POSTGRES, TEST_DATABASE_URL, Auth, csrf_from, end_consumers, reset_database

ROOT = Path(__file__).resolve().parents[1]
THRESHOLD = 10


def _rows(body: bytes) -> list[list[str]]:
    text = body.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:], newline=""), delimiter=";"))


def _city_filter(app) -> str:
    view = next(v for v in app.extensions["admin"][0]._views if v.endpoint == "debtor")
    key = next(k for k, (_, flt) in view._filter_args.items()
               if flt.column.key == "city" and type(flt).__name__ == "FilterEqual")
    return f"flt1_{key}"


def _add_debtors(agency_id: int, count: int, *, name: str, city: str, consultant_id=None, first: int = 0) -> None:
    """``count`` debtors in one set-based insert (documents unique per agency)."""
    rows = [{"agency_id": agency_id, "document": f"{agency_id:03d}{first + i:08d}", "name": f"{name} {first + i:06d}",
             "city": city, "uf": "SP", "consultant_id": consultant_id, "created_at": utcnow()} for i in range(count)]
    for start in range(0, len(rows), 5000):
        db.session.execute(insert(Debtor), rows[start:start + 5000])


@pytest.fixture
def bed(tmp_path):
    """The app on a database and a SQLite queue that a real consumer process (``bed.consumer()``) shares; export
    files in ``bed.exports``."""
    db_url = TEST_DATABASE_URL if ON_POSTGRES else f"sqlite:///{tmp_path / 'exports.db'}"
    config = {"SQLALCHEMY_DATABASE_URI": db_url, "SECRET_KEY": "exports", "RUN_QUEUE_AFTER_REQUEST": False,
              "HUEY_SQLITE_FILE": str(tmp_path / "queue.db"), "EXPORT_DIR": str(tmp_path / "exports"),
              "EXPORT_JOB_THRESHOLD": THRESHOLD, "JOB_STALE_SECONDS": 2.0, "LOGIN_RATE_LIMIT": "1000 per minute",
              "LOGIN_RATE_LIMIT_PER_IP": "1000 per minute",
              "SQLALCHEMY_ENGINE_OPTIONS": {} if ON_POSTGRES else {"connect_args": {"timeout": 30}}}
    app = create_app(config)
    with app.app_context():
        reset_database()
        db.create_all()
        a, b = f.make_agency(name="Assessoria A"), f.make_agency(name="Assessoria B")
        users = {"admin_a": f.make_user(a, Role.ADMIN), "admin_a2": f.make_user(a, Role.ADMIN),
                 "sup_a": f.make_user(a, Role.SUPERVISOR), "cons_a1": f.make_user(a, Role.CONSULTANT),
                 "admin_b": f.make_user(b, Role.ADMIN)}
        db.session.commit()
        world = SimpleNamespace(a=a.id, b=b.id, **{k: SimpleNamespace(id=u.id, email=u.email) for k, u in users.items()})
    processes = []

    def consumer():
        env = dict(os.environ, APP_ENV="development", SECRET_KEY="exports", DATABASE_URL=db_url,
                   HUEY_SQLITE_FILE=config["HUEY_SQLITE_FILE"], EXPORT_DIR=config["EXPORT_DIR"], JOB_STALE_SECONDS="2",
                   SERASA_SYNC_TIMES="", SERASA_EXCLUSION_RETRY_MINUTES="0", PYTHONPATH=str(ROOT))
        log = open(tmp_path / f"consumer-{len(processes)}.log", "wb")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "worker", "-w", "1"], cwd=ROOT,
                                   env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        process.log = log
        processes.append(process)
        return process

    def client(role: str):
        c = app.test_client()
        assert Auth(c).login(getattr(world, role).email).status_code == 302
        return c

    def logs() -> str:
        return "\n".join(Path(p.log.name).read_text(errors="replace")[-4000:] for p in processes)

    yield SimpleNamespace(app=app, world=world, consumer=consumer, client=client, logs=logs,
                          exports=Path(config["EXPORT_DIR"]))
    end_consumers(app, processes)


def _get(client, url: str):
    """GET and close the response (a file download keeps its file open until then)."""
    response = client.get(url)
    response.get_data()
    response.close()
    return response


def _job(app, job_id):
    with app.app_context():
        job = db.session.get(Job, job_id)
        found = SimpleNamespace(state=job.state, done=job.done, total=job.total, attempts=job.attempts,
                                summary=dict(job.summary or {}), file_state=exports.file_state(job))
        db.session.remove()
        return found


def _wait(bed, job_id, predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        job = _job(bed.app, job_id)
        if predicate(job):
            return job
        assert time.monotonic() < deadline, f"job {job_id} stuck: {job}\n{bed.logs()}"
        time.sleep(0.05)


def _request_export(client, query: str) -> int:
    """Exportar on a big list, then "Preparar arquivo" on the confirmation: the job page's id."""
    started = time.monotonic()
    confirm = client.get(f"/admin/debtor/export/csv/?{query}")
    answered = time.monotonic() - started
    assert confirm.status_code == 200 and "Preparar arquivo" in confirm.text, confirm.status_code
    assert answered < 1.0, answered
    response = client.post(f"/admin/debtor/export/csv/?{query}", data={"csrf_token": csrf_from(confirm.text)})
    assert response.status_code == 302, response.status_code
    assert "/admin/jobs/details/" in response.headers["Location"]
    return int(re.search(r"id=(\d+)", response.headers["Location"]).group(1))


def test_a_big_list_export_is_a_job_whose_file_has_exactly_the_users_rows(bed):
    w = bed.world
    with bed.app.app_context():
        _add_debtors(w.a, 25, name="Alvo", city="Campinas", consultant_id=w.cons_a1.id)
        _add_debtors(w.a, 6, name="Alvo", city="Santos", first=100)  # filtered out
        _add_debtors(w.a, 7, name="Outro", city="Campinas", first=200)  # not found by the search
        _add_debtors(w.b, 9, name="Alvo", city="Campinas", first=300)  # the other agency's
        db.session.commit()
        wanted = sorted(db.session.scalars(select(Debtor.name).where(
            Debtor.agency_id == w.a, Debtor.city == "Campinas", Debtor.name.like("Alvo%"))), reverse=True)
    admin = bed.client("admin_a")
    query = f"{_city_filter(bed.app)}=Campinas&search=Alvo&sort=0&desc=1"
    job_id = _request_export(admin, query)
    page = admin.get(f"/admin/jobs/details/?id={job_id}").text
    assert "O arquivo está sendo preparado em segundo plano" in page and "Exportação de lista" in page
    assert 'id="job-download"' not in page
    with bed.app.app_context():
        requested = db.session.scalars(select(AuditLog).where(AuditLog.action == "export.requested")).one()
        assert requested.user_id == w.admin_a.id and requested.agency_id == w.a and requested.target == "debtor"
        assert "busca: Alvo" in requested.details and "Campinas" in requested.details
        assert f"tarefa nº {job_id}" in requested.details

    bed.consumer()
    job = _wait(bed, job_id, lambda j: j.state not in (JobState.QUEUED, JobState.RUNNING))
    assert job.state == JobState.DONE and job.file_state == "pronto", job
    assert (job.done, job.total, job.summary["rows"]) == (25, 25, 25)
    page = admin.get(f"/admin/jobs/details/?id={job_id}").text
    assert "Baixar arquivo (CSV)" in page and "25 linha(s) exportada(s)" in page

    download = _get(admin, f"/admin/jobs/download/?id={job_id}")
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = download.headers["Content-Disposition"]
    assert "attachment" in disposition and "Devedores" in disposition and ".csv" in disposition
    rows = _rows(download.get_data())
    assert rows[0][0] == "Nome"
    assert [r[0] for r in rows[1:]] == wanted  # exactly the user's rows, in the user's order
    assert not list(bed.exports.glob("*.part"))
    # Same file as the streamed export of the same list by the same user (cells, titles, order).
    with bed.app.app_context():
        bed.app.config["EXPORT_JOB_THRESHOLD"] = 1000
    assert _rows(admin.get(f"/admin/debtor/export/csv/?{query}").get_data()) == rows
    with bed.app.app_context():
        done = db.session.scalars(select(AuditLog).where(AuditLog.action == "export",
                                                         AuditLog.details.like("%tarefa%"))).one()
        assert done.user_id == w.admin_a.id and "linhas: 25" in done.details
        downloaded = db.session.scalars(select(AuditLog).where(AuditLog.action == "export.download")).one()
        assert downloaded.user_id == w.admin_a.id and downloaded.agency_id == w.a and "linhas: 25" in downloaded.details

    # Only who sees the job and may export gets the file; the others get the answer of a job that does not exist.
    assert _get(bed.client("admin_a2"), f"/admin/jobs/download/?id={job_id}").status_code == 200
    for role in ("admin_b", "cons_a1", "sup_a"):
        client = bed.client(role)
        assert client.get(f"/admin/jobs/download/?id={job_id}").status_code == 404, role
        assert 'id="job-download"' not in client.get(f"/admin/jobs/details/?id={job_id}").text
    assert admin.get("/admin/jobs/download/?id=987654").status_code == 404
    assert admin.get("/admin/jobs/download/?id=abc").status_code == 404
    with bed.app.app_context():
        assert db.session.query(AuditLog).filter_by(action="export.download").count() == 2

    # Past the retention, the minute's tick deletes the file; the page says it expired and offers nothing.
    with bed.app.app_context():
        jobs.tick(utcnow() + timedelta(days=6))
        assert exports.file_state(db.session.get(Job, job_id)) == "pronto"
        jobs.tick(utcnow() + timedelta(days=7, minutes=1))
    assert not list(bed.exports.iterdir())
    page = admin.get(f"/admin/jobs/details/?id={job_id}").text
    assert "expirou" in page and 'id="job-download"' not in page
    expired = admin.get(f"/admin/jobs/download/?id={job_id}")
    assert expired.status_code == 302 and "expirou" in admin.get(expired.headers["Location"]).text


def test_a_consumer_killed_mid_write_never_offers_a_half_file_and_the_job_rewrites_it(bed):
    w = bed.world
    total = 20_000
    with bed.app.app_context():
        _add_debtors(w.a, total, name="Devedor", city="Campinas")
        db.session.commit()
    admin = bed.client("admin_a")
    job_id = _request_export(admin, "")
    first = bed.consumer()
    _wait(bed, job_id, lambda j: j.done >= exports.PROGRESS_ROWS)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(10)
    killed = _job(bed.app, job_id)
    assert killed.state == JobState.RUNNING and killed.done < total, killed  # killed mid-write
    assert killed.file_state is None and 'id="job-download"' not in admin.get(f"/admin/jobs/details/?id={job_id}").text
    assert admin.get(f"/admin/jobs/download/?id={job_id}").status_code == 404  # the part is nobody's
    assert [p.suffix for p in bed.exports.iterdir()] == [".part"]

    time.sleep(2.5)  # JOB_STALE_SECONDS without a heartbeat: another consumer takes the job over
    bed.consumer()
    job = _wait(bed, job_id, lambda j: j.state not in (JobState.QUEUED, JobState.RUNNING))
    assert job.state == JobState.DONE and job.attempts == 2 and job.summary["rows"] == total
    rows = _rows(_get(admin, f"/admin/jobs/download/?id={job_id}").get_data())
    documents = [r[1] for r in rows[1:]]
    assert len(documents) == total and len(set(documents)) == total  # every row once: rewritten from scratch
    assert [p.suffix for p in bed.exports.iterdir()] == [".csv"]


def test_cancel_stops_the_export_and_leaves_no_file(bed):
    w = bed.world
    with bed.app.app_context():
        _add_debtors(w.a, 20_000, name="Devedor", city="Campinas")
        db.session.commit()
    admin = bed.client("admin_a")
    job_id = _request_export(admin, "")
    bed.consumer()
    _wait(bed, job_id, lambda j: j.done >= exports.PROGRESS_ROWS)
    with bed.app.app_context():
        assert jobs.cancel(db.session.get(Job, job_id))
    job = _wait(bed, job_id, lambda j: j.state not in (JobState.QUEUED, JobState.RUNNING))
    assert job.state == JobState.CANCELLED and job.file_state is None and job.summary.get("cancelled")
    assert not list(bed.exports.iterdir())
    assert admin.get(f"/admin/jobs/download/?id={job_id}").status_code == 404


def test_a_user_who_may_no_longer_export_when_the_job_runs_gets_no_file(bed):
    w = bed.world
    with bed.app.app_context():
        _add_debtors(w.a, 20, name="Devedor", city="Campinas")
        db.session.commit()
    job_id = _request_export(bed.client("admin_a"), "")
    with bed.app.app_context():  # demoted before any consumer ran the job
        user = db.session.get(User, w.admin_a.id)
        user.role = Role.SUPERVISOR
        db.session.commit()
    bed.consumer()
    job = _wait(bed, job_id, lambda j: j.state not in (JobState.QUEUED, JobState.RUNNING))
    assert job.state == JobState.DONE and job.file_state is None
    assert "não pode mais exportar" in job.summary["skipped"]
    assert not bed.exports.exists() or not list(bed.exports.iterdir())


# --- the request: no whole count before the first byte, small lists stream, bad input ----------------------------

def _unbounded_counts(statements) -> list[str]:
    """Counts of the exported list (debtors) without a LIMIT (the page chrome's clock counts today's meetings)."""
    return [s for s in statements if "count(" in s.lower() and "limit" not in s.lower() and "debtor" in s.lower()]


def test_no_export_counts_a_whole_list_before_answering(app, client, world, login_as, queries):
    """The decision stream-or-job reads at most EXPORT_JOB_THRESHOLD + 1 rows: a million-row list answers as fast
    as a small one."""
    login_as(world.admin_a)
    with app.app_context():
        _add_debtors(world.a.id, 30, name="Devedor", city="Campinas", first=500)
        db.session.commit()
    app.config["EXPORT_JOB_THRESHOLD"] = 5
    app.config["RUN_QUEUE_AFTER_REQUEST"] = False  # the request's statements only (the job counts, in the background)
    with queries() as q:
        response = client.get("/admin/debtor/export/csv/", follow_redirects=False)
    assert response.status_code == 200 and "mais de 5 linhas" in response.text  # the confirmation, no job yet
    assert not _unbounded_counts(q.statements), _unbounded_counts(q.statements)
    assert any("count(" in s.lower() for s in q.statements)
    with app.app_context():
        assert db.session.query(Job).count() == 0

    app.config["EXPORT_JOB_THRESHOLD"] = 20_000
    with queries() as q:
        response = client.get("/admin/debtor/export/csv/")
        body = response.get_data()
    assert response.status_code == 200 and len(_rows(body)) - 1 == 32  # streamed at once, as before
    assert not _unbounded_counts(q.statements), _unbounded_counts(q.statements)
    with app.app_context():
        entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "export")
                                   .order_by(AuditLog.id.desc())).first()
        assert "linhas: 32" in entry.details and "tarefa" not in entry.details  # the exact small count


def test_the_quick_queue_path_also_serves_the_file(app, client, world, login_as):
    """On the screens' test queue (in this thread, one in-memory connection) the job writes the same file."""
    app.config["EXPORT_DIR"] = str(Path(app.config["HUEY_SQLITE_FILE"]).parent / "exports")
    app.config["EXPORT_JOB_THRESHOLD"] = 0
    login_as(world.admin_a)
    confirm = client.get("/admin/creditor/export/csv/")
    response = client.post("/admin/creditor/export/csv/", data={"csrf_token": csrf_from(confirm.text)},
                           follow_redirects=True)
    assert "Baixar arquivo (CSV)" in response.text
    job_id = int(re.search(r"/admin/jobs/download/\?id=(\d+)", response.text).group(1))
    rows = _rows(_get(client, f"/admin/jobs/download/?id={job_id}").get_data())
    assert [r[0] for r in rows[1:]] == ["Credor Alfa"]  # not agency B's "Credor Beta"


def test_bad_export_type_or_a_forged_request_starts_nothing(app, client, world, login_as):
    app.config["EXPORT_JOB_THRESHOLD"] = 1
    login_as(world.admin_a)
    assert client.get("/admin/debtor/export/xlsx/").status_code == 404
    assert client.get("/admin/debtor/export/..%2F..%2Fjobs/").status_code == 404
    # A link (GET) only shows the confirmation; a POST without the page's CSRF token (another site's form) is refused.
    assert "Preparar arquivo" in client.get("/admin/debtor/export/csv/?search=Devedor").text
    for token in ({}, {"csrf_token": "forjado"}):
        response = client.post("/admin/debtor/export/csv/?search=Devedor", data=token)
        assert response.status_code == 302 and "/admin/debtor/" in response.headers["Location"]
        assert "search=Devedor" in response.headers["Location"]
    with app.app_context():
        assert db.session.query(Job).count() == 0
        assert db.session.query(AuditLog).filter(AuditLog.action.like("export%")).count() == 0
