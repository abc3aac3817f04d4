"""A big list export as a job, measured: ``python -m bench.export_bench`` (``EXPORT_BENCH_ROWS``, default 1,000,000).

In a throwaway directory (``/tmp/export-bench-*``, removed at the end unless ``EXPORT_BENCH_KEEP=1``): a SQLite
database with one agency and ``EXPORT_BENCH_ROWS`` debtors (one set-based ``INSERT … SELECT`` over a recursive
CTE, a few seconds), then

1. **the click**: the admin's GET of ``/admin/debtor/export/csv/`` (bounded count, job recorded, 302 to the job
   page) through the WSGI app, timed; next to it, what the exact ``count(*)`` the old export read first costs;
2. **the job** on a real consumer process (``flask --app app worker -w 1``): rows/s, and the process's peak RSS
   (``VmHWM``) idle with the app loaded (before) and after the export;
3. for reference, the peak RSS of a bare ``python -c 'from app import create_app; create_app()'``.

Prints one line per number (the README's export paragraph quotes them). SQLite only: PostgreSQL streams from a
server-side cursor the same way.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROWS = int(os.environ.get("EXPORT_BENCH_ROWS", "1000000"))


def vm(pid: int, key: str) -> int:
    """A /proc/<pid>/status memory line (VmHWM, VmRSS) in kB."""
    found = re.search(rf"^{key}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    return int(found.group(1)) if found else 0


def fill(app, rows: int) -> tuple[int, str]:
    """One agency, its admin, 5 consultants and ``rows`` debtors; returns (agency id, admin e-mail)."""
    from sqlalchemy import text

    from models import db
    from models.agency import Role
    from tests import factories as f

    with app.app_context():
        db.create_all()
        agency = f.make_agency(name="Assessoria Bench")
        admin = f.make_user(agency, Role.ADMIN)
        consultants = [f.make_user(agency, Role.CONSULTANT).id for _ in range(5)]
        db.session.commit()
        db.session.execute(text(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :rows) "
            "INSERT INTO debtor (agency_id, document, name, birth_date, email, phone, street, number, neighbourhood, "
            "city, uf, cep, consultant_id, created_at) "
            "SELECT :agency, printf('%011d', i), 'Devedor ' || printf('%07d', i), '1980-05-17', "
            "'devedor' || i || '@exemplo.com.br', '11999990000', 'Rua Augusta', CAST(i % 2000 AS TEXT), "
            "'Consolação', CASE i % 3 WHEN 0 THEN 'São Paulo' WHEN 1 THEN 'Campinas' ELSE 'Santos' END, 'SP', "
            "'01305000', CASE i % 6 WHEN 0 THEN NULL ELSE :c0 + (i % 5) END, '2026-01-01 00:00:00' FROM n"),
            {"rows": rows, "agency": agency.id, "c0": min(consultants)})
        db.session.commit()
        return agency.id, admin.email


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="export-bench-"))
    db_url = f"sqlite:///{work / 'bench.db'}"
    env_config = {"DATABASE_URL": db_url, "HUEY_SQLITE_FILE": str(work / "queue.db"),
                  "EXPORT_DIR": str(work / "exports"), "APP_ENV": "development", "SECRET_KEY": "bench",
                  "SERASA_SYNC_TIMES": "", "SERASA_EXCLUSION_RETRY_MINUTES": "0", "LOGIN_RATE_LIMIT": "",
                  "LOGIN_RATE_LIMIT_PER_IP": ""}
    os.environ.update(env_config)
    sys.path.insert(0, str(ROOT))
    from app import create_app
    from models import Job, db
    from models.job import JobState
    from tests.conftest import Auth

    app = create_app({"SQLALCHEMY_DATABASE_URI": db_url, "RUN_QUEUE_AFTER_REQUEST": False})
    worker = None
    try:
        started = time.monotonic()
        _, email = fill(app, ROWS)
        print(f"data: {ROWS:,} debtors in {time.monotonic() - started:.1f} s ({work})")

        with app.app_context():
            from sqlalchemy import text

            started = time.monotonic()
            db.session.execute(text("SELECT count(*) FROM debtor WHERE agency_id = 1")).scalar()
            print(f"exact count(*) the old export read before its first byte: {time.monotonic() - started:.3f} s")
            db.session.remove()

        log = open(work / "worker.log", "wb")  # noqa: SIM115
        worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "worker", "-w", "1"], cwd=ROOT,
                                  env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        deadline = time.monotonic() + 60
        while b"Huey consumer started" not in (work / "worker.log").read_bytes():
            assert worker.poll() is None and time.monotonic() < deadline, (work / "worker.log").read_text()
            time.sleep(0.1)
        time.sleep(1.0)
        idle = vm(worker.pid, "VmHWM")
        print(f"worker idle (app loaded): peak RSS {idle / 1024:.1f} MB")

        client = app.test_client()
        assert Auth(client).login(email).status_code == 302
        started = time.monotonic()
        response = client.get("/admin/debtor/export/csv/")
        clicked = time.monotonic() - started
        assert response.status_code == 302, response.status_code
        job_id = int(re.search(r"id=(\d+)", response.headers["Location"]).group(1))
        print(f"click to job page (302, bounded count + job recorded): {clicked * 1000:.0f} ms")
        started = time.monotonic()
        page = client.get(response.headers["Location"])
        print(f"job page itself: {(time.monotonic() - started) * 1000:.0f} ms (status {page.status_code})")
        # With a search (a contains-LIKE every row must be read to count): the old exact count vs the new click.
        with app.test_request_context("/admin/debtor/export/csv/", query_string="search=Devedor"):
            from flask_login import login_user

            from models import User

            login_user(db.session.scalar(db.select(User).where(User.email == email)))
            view = next(v for v in app.extensions["admin"][0]._views if v.endpoint == "debtor")
            started = time.monotonic()
            view.export_count()
            print(f"with search=Devedor: the old exact count took {(time.monotonic() - started) * 1000:.0f} ms")
            db.session.remove()
        started = time.monotonic()
        searched = client.get("/admin/debtor/export/csv/?search=Devedor")
        print(f"with search=Devedor: click to job page {(time.monotonic() - started) * 1000:.0f} ms "
              f"(status {searched.status_code}; a second job, cancelled at once)")
        with app.app_context():
            from services import jobs as job_layer

            job_layer.cancel(db.session.get(Job, int(re.search(r"id=(\d+)", searched.headers["Location"]).group(1))))
            db.session.remove()

        peak_seen = 0
        while True:
            with app.app_context():
                job = db.session.get(Job, job_id)
                state, summary = job.state, dict(job.summary or {})
                db.session.remove()
            peak_seen = max(peak_seen, vm(worker.pid, "VmRSS"))
            if state not in (JobState.QUEUED, JobState.RUNNING):
                break
            assert worker.poll() is None, (work / "worker.log").read_text()[-3000:]
            time.sleep(0.2)
        after = vm(worker.pid, "VmHWM")
        assert state == JobState.DONE, (state, summary, (work / "worker.log").read_text()[-3000:])
        size = (work / "exports" / summary["file"]).stat().st_size
        print(f"job: {summary['rows']:,} rows, {size / 1e6:.0f} MB of CSV in {summary['seconds']} s "
              f"= {summary['rows'] / max(summary['seconds'], 0.001):,.0f} rows/s")
        print(f"worker peak RSS after the export: {after / 1024:.1f} MB (export added {(after - idle) / 1024:.1f} MB)")

        bare = subprocess.run([sys.executable, "-c", "import resource\nfrom app import create_app\ncreate_app()\n"
                               "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"], cwd=ROOT,
                              env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True, check=True)
        print(f"python + app import alone: peak RSS {int(bare.stdout.split()[-1]) / 1024:.1f} MB")
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
        with app.app_context():
            db.engine.dispose()
        if os.environ.get("EXPORT_BENCH_KEEP") != "1":
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
