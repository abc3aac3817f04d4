"""The job layer with real consumers: Huey consumer processes (killed with SIGKILL for real) and threads, on the
embedded SQLite queue and on Redis (a private redis-server on a loopback port), against the SOA sandbox.

What a user or the law needs: progress counts that match the items, a batch killed mid-way that loses nothing and
duplicates nothing at SOA, Cancelar that stops what was not sent, one status sync per agency at a time, each SOA
answer kept as it arrives, jobs scoped to who may see them, and the schedule in the agency's time zone.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.fernet import Fernet

from app import create_app
from devtools.soa_sandbox import DEFAULT_EMAIL, DEFAULT_PASSWORD, Fault
from models import AuditLog, Negativation, NegativationEvent, SoaCall, db
from models.agency import Role
from models.job import Job, JobItem, JobState
from models.negativation import NegativationStatus as S
from models.timeutil import utcnow
from services import jobs, serasa_jobs
from tests import factories as f
from tests.conftest import (
    ON_POSTGRES,
    TEST_DATABASE_URL,
    csrf_from,
    end_consumers,
    free_port,
    live_session,
    reset_database,
)

ROOT = Path(__file__).resolve().parents[1]
KEY = Fernet.generate_key().decode()


# --- fixtures: a private Redis, a shared database, consumer processes ------------------------------------------

@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A private redis-server on 127.0.0.1 (no persistence), in a temporary directory, for the session."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is required (.ci/run installs Debian's redis-server)"
    workdir = tmp_path_factory.mktemp("redis")
    port = free_port()
    server = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                               "no", "--dir", str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(10)


@pytest.fixture(params=["sqlite", "redis"])
def queue(request, tmp_path, soa):
    """The app on a database and a queue that separate processes share; ``queue.consumer()`` starts a real
    ``flask --app app worker`` process against them."""
    db_url = TEST_DATABASE_URL if ON_POSTGRES else f"sqlite:///{tmp_path / 'jobs.db'}"
    queue_config = {"HUEY_SQLITE_FILE": str(tmp_path / "queue.db")}
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        queue_config = {"REDIS_URL": url, "HUEY_NAME": f"painel-test-{os.getpid()}-{free_port()}"}
    config = {"SQLALCHEMY_DATABASE_URI": db_url, "SECRET_KEY": "jobs", "CREDENTIALS_KEY": KEY,
              "SOA_URL_SANDBOX": soa.url, "RUN_QUEUE_AFTER_REQUEST": False, "JOB_STALE_SECONDS": 2.0,
              "SQLALCHEMY_ENGINE_OPTIONS": {} if ON_POSTGRES else {"connect_args": {"timeout": 30}},
              **queue_config}
    app = create_app(config)
    with app.app_context():
        reset_database()
        db.create_all()
        if request.param == "redis":
            jobs.huey_of(app).flush()
    processes = []

    def consumer(workers=2, concurrency=4, **extra_env):
        env = dict(os.environ, **extra_env, APP_ENV="development", SECRET_KEY="jobs", CREDENTIALS_KEY=KEY, DATABASE_URL=db_url,
                   SOA_URL_SANDBOX=soa.url, JOB_STALE_SECONDS="2", SOA_MAX_CONCURRENCY=str(concurrency),
                   SOA_READ_TIMEOUT="10", SERASA_SYNC_TIMES="", SERASA_EXCLUSION_RETRY_MINUTES="0",
                   PYTHONPATH=str(ROOT), **{k: str(v) for k, v in queue_config.items()})
        log = open(tmp_path / f"consumer-{len(processes)}.log", "wb")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "worker", "-w", str(workers)],
                                   cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        process.log = log
        processes.append(process)
        return process

    def diagnose() -> str:
        """Every consumer's thread stacks (faulthandler on SIGUSR1) and log tail, for a failure's message."""
        for process in processes:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGUSR1)
        time.sleep(0.5)
        return "\n".join(f"--- consumer {n}\n" + Path(p.log.name).read_text(errors="replace")[-6000:]
                         for n, p in enumerate(processes))

    namespace = SimpleNamespace(app=app, consumer=consumer, backend=request.param, tmp=tmp_path, diagnose=diagnose)
    yield namespace
    end_consumers(app, processes)


def _agency_with_debts(app, count):
    with app.app_context():
        agency = f.make_agency(serasa_enabled=True, soa_email=DEFAULT_EMAIL, soa_environment="sandbox")
        agency.set_soa_password(DEFAULT_PASSWORD, KEY)
        admin = f.make_user(agency, Role.ADMIN)
        creditor = f.make_creditor(agency)
        debts = [f.make_debt(f.make_debtor(agency), creditor) for _ in range(count)]
        db.session.commit()
        return SimpleNamespace(id=agency.id, admin_id=admin.id, admin_email=admin.email, debt_ids=[d.id for d in debts])


def _job(app, job_id) -> SimpleNamespace:
    with app.app_context():
        job = db.session.get(Job, job_id)
        snapshot = SimpleNamespace(state=job.state, done=job.done, failed=job.failed, total=job.total,
                                   summary=dict(job.summary or {}), attempts=job.attempts)
        db.session.remove()
        return snapshot


def _wait(app, job_id, predicate, timeout=60.0, diagnose=None):
    deadline = time.monotonic() + timeout
    while True:
        job = _job(app, job_id)
        if predicate(job):
            return job
        if time.monotonic() >= deadline:
            raise AssertionError(f"job {job_id} stuck: {job}\n{diagnose() if diagnose else ''}")
        time.sleep(0.05)


def _wait_started(process, tmp, timeout=30.0):
    deadline = time.monotonic() + timeout
    while b"Huey consumer started" not in Path(process.log.name).read_bytes():
        assert process.poll() is None, Path(process.log.name).read_text()
        assert time.monotonic() < deadline, "the consumer did not start"
        time.sleep(0.05)


def _start_inclusion(app, world):
    with app.app_context():
        from models import Agency, User

        job = serasa_jobs.start_inclusion(db.session.get(Agency, world.id), db.session.get(User, world.admin_id),
                                          world.debt_ids, "1")
        return job.id


# --- kill and resume ---------------------------------------------------------------------------------------

def test_consumer_killed_mid_batch_resumes_without_duplicates_at_soa(queue, soa):
    """SIGKILL in the middle of a 24-debt batch: another consumer finishes it; SOA received each debt once, the
    calls in flight were checked at SOA (incerta) before anything was sent again."""
    world = _agency_with_debts(queue.app, 24)
    soa.set_fault("include", Fault(latency=0.4))
    first = queue.consumer(workers=1, concurrency=4)
    job_id = _start_inclusion(queue.app, world)
    _wait(queue.app, job_id, lambda j: j.done >= 6, diagnose=queue.diagnose)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(10)
    killed = _job(queue.app, job_id)
    assert killed.state == JobState.RUNNING and killed.done < 24

    time.sleep(2.5)  # JOB_STALE_SECONDS without a heartbeat: the job is free to be taken over
    queue.consumer(workers=1, concurrency=4)
    job = _wait(queue.app, job_id, lambda j: j.state != JobState.RUNNING and j.state != JobState.QUEUED,
                diagnose=queue.diagnose)
    assert job.state == JobState.DONE and job.attempts == 2
    assert (job.done, job.failed, job.total) == (24, 0, 24)
    at_soa = soa.snapshot()
    contracts = [r["contract"] for r in at_soa["records"]]
    assert len(contracts) == 24 and len(set(contracts)) == 24  # every debt once at the bureau
    assert at_soa["calls"]["include"] == 24  # not one inclusion sent twice
    with queue.app.app_context():
        records = db.session.query(Negativation).all()
        assert len(records) == 24 and all(r.status in (S.SENT, S.ACTIVE) and r.unique_id for r in records)
        interrupted = db.session.query(NegativationEvent).filter(
            NegativationEvent.to_status == S.UNCERTAIN, NegativationEvent.message.like("Envio interrompido%")).count()
        assert interrupted >= 1  # the calls in flight at the kill were checked at SOA first
        assert at_soa["calls"].get("list", 0) == interrupted
        items = db.session.query(JobItem).filter_by(job_id=job_id).all()
        assert sorted(i.result for i in items) == ["incluida"] * 24
        assert db.session.query(AuditLog).filter_by(action="serasa.include").count() == 1
        assert db.session.query(SoaCall).filter_by(operation="include").count() >= 24 - interrupted


def _interrupted_send(app, addresses, states, idle=timedelta(minutes=10)):
    """A meeting invite as a process killed mid-batch leaves it: *pending*, each recipient's recorded state, and no
    sign of life for ``idle``."""
    from models import MeetingEmail, MeetingEmailRecipient

    with app.app_context():
        agency = f.make_agency()
        admin = f.make_user(agency, Role.ADMIN)
        meeting = f.make_meeting(admin, f.make_creditor(agency), participants="\n".join(addresses))
        email = MeetingEmail(meeting=meeting, kind="invite", status="pending", sequence=meeting.sequence,
                             sent_by_id=admin.id, active_at=utcnow() - idle)
        db.session.add(email)
        for address, state in zip(addresses, states, strict=True):
            db.session.add(MeetingEmailRecipient(email=email, address=address, state=state,
                                                 delivered=state == "sent"))
        db.session.commit()
        return SimpleNamespace(email_id=email.id, meeting_id=meeting.id, admin_id=admin.id)


def _email_state(app, email_id):
    from models import MeetingEmail

    with app.app_context():
        email = db.session.get(MeetingEmail, email_id)
        state = SimpleNamespace(status=email.status, recipients={r.address: r.state for r in email.recipients})
        db.session.remove()
        return state


def test_meeting_send_interrupted_by_a_dead_process_is_finished_by_the_consumer_exactly_once(queue, smtp):
    """The web process died mid-send: two invites went out, the third was in its SMTP transaction, two were never
    tried. A real consumer's tick finishes the send: only the two never tried get it now, the one in flight is
    *Incerto* (never re-sent), the meeting shows the invite as sent and the resumption is audited."""
    addresses = [f"pessoa{n}@credor.com.br" for n in range(1, 6)]
    sent = _interrupted_send(queue.app, addresses, ["sent", "sent", "sending", "pending", "pending"])
    queue.consumer(workers=1, MAIL_SERVER="127.0.0.1", MAIL_PORT=str(smtp.port), MAIL_RESUME_AFTER_SECONDS="300")
    deadline = time.monotonic() + 30
    while _email_state(queue.app, sent.email_id).status == "pending":
        assert time.monotonic() < deadline, f"the send was not resumed\n{queue.diagnose()}"
        time.sleep(0.1)
    state = _email_state(queue.app, sent.email_id)
    assert state.status == "partial"
    assert state.recipients == {addresses[0]: "sent", addresses[1]: "sent", addresses[2]: "uncertain",
                                addresses[3]: "sent", addresses[4]: "sent"}
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == [addresses[3], addresses[4]]  # nobody twice
    with queue.app.app_context():
        from models import Meeting

        assert db.session.get(Meeting, sent.meeting_id).invite_sent_at is not None
        resumed = db.session.query(AuditLog).filter_by(action="meeting.invite").one()
        assert resumed.user_id == sent.admin_id and "retomado" in resumed.details
        assert addresses[3] in resumed.details and addresses[2] in resumed.details.split("falhas=")[1]


def test_a_send_still_alive_is_left_to_its_sender(app, smtp):
    """A send whose process recorded a sign of life recently is still being sent by it: the tick leaves it alone
    (two senders would deliver twice); so does a second tick once another consumer has taken it."""
    from services import meetings

    addresses = ["ana@credor.com.br", "bia@credor.com.br"]
    alive = _interrupted_send(app, addresses, ["sent", "pending"], idle=timedelta(seconds=30))
    with app.app_context():
        assert meetings.resume_interrupted() == []
    assert _email_state(app, alive.email_id).status == "pending" and smtp.messages == []
    with app.app_context():
        later = utcnow() + timedelta(minutes=6)
        assert len(meetings.resume_interrupted(later)) == 1
        assert meetings.resume_interrupted(later + timedelta(minutes=6)) == []
    assert [m.rcpt_tos for m in smtp.messages] == [("bia@credor.com.br",)]


def test_a_send_interrupted_before_recording_its_recipients_is_closed_as_failed(app, smtp):
    from services import meetings

    lost = _interrupted_send(app, [], [])
    with app.app_context():
        meetings.resume_interrupted()
    assert _email_state(app, lost.email_id).status == "failed" and smtp.messages == []


def test_cancel_stops_sending_what_was_not_sent(queue, soa):
    world = _agency_with_debts(queue.app, 30)
    soa.set_fault("include", Fault(latency=0.3))
    queue.consumer(workers=1, concurrency=2)
    job_id = _start_inclusion(queue.app, world)
    _wait(queue.app, job_id, lambda j: j.done >= 2, diagnose=queue.diagnose)
    with queue.app.app_context():
        assert jobs.cancel(db.session.get(Job, job_id))
    job = _wait(queue.app, job_id, lambda j: j.state not in (JobState.RUNNING, JobState.QUEUED),
                diagnose=queue.diagnose)
    assert job.state == JobState.CANCELLED
    sent = soa.snapshot()["calls"]["include"]
    assert 2 <= sent < 30 and job.done == sent  # what was in flight finished and was recorded
    with queue.app.app_context():
        statuses = [r.status for r in db.session.query(Negativation)]
        assert statuses.count(S.SENT) == sent
        assert statuses.count(S.ERROR) == 30 - sent  # never sent: may be resent safely
        assert S.PENDING not in statuses
    assert job.summary["cancelada"] == 30 - sent


def test_two_consumers_never_sync_one_agency_at_once(queue, soa):
    """Two status syncs of one agency on two consumers at the same moment: one consults SOA, the other stops."""
    world = _agency_with_debts(queue.app, 10)
    from services.negativation import include_debts

    with queue.app.app_context():
        from models import Agency, Debt

        agency = db.session.get(Agency, world.id)
        include_debts(agency, db.session.query(Debt).all(), world.admin_id, "1")
        assert db.session.query(Negativation).filter_by(status=S.SENT).count() == 10
    soa.set_fault("consult", Fault(latency=0.5))
    consumers = [queue.consumer(workers=1, concurrency=2) for _ in range(2)]
    for consumer in consumers:  # both listening before the jobs exist, so each takes one at the same moment
        _wait_started(consumer, queue.tmp)
    with queue.app.app_context():
        agency = db.session.get(Agency, world.id)
        first = serasa_jobs.start_sync(agency, None).id
        second = serasa_jobs.start_sync(agency, None).id
    jobs_ = [_wait(queue.app, i, lambda j: j.state == JobState.DONE, diagnose=queue.diagnose)
             for i in (first, second)]
    skipped = [j for j in jobs_ if "skipped" in j.summary]
    ran = [j for j in jobs_ if "skipped" not in j.summary]
    assert len(skipped) == 1 and len(ran) == 1
    assert ran[0].done == 10 and ran[0].summary["counts"]["atualizadas"] == 10
    assert soa.snapshot()["calls"]["consult"] == 10  # each record asked once, not twice


# --- in-process consumer (make run), the web request, progress, scoping ---------------------------------------

def test_the_in_process_consumer_leaves_ctrl_c_and_sigterm_to_the_server(live):
    """`make run` starts the consumer inside the development server: Huey's own handlers would take Ctrl-C and
    SIGTERM for a consumer loop that never runs there, and the demo would not stop."""
    from huey.consumer import Consumer

    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # whatever the shell left (SIG_IGN under nohup)
        handler = signal.getsignal(number)
        assert not isinstance(getattr(handler, "__self__", None), Consumer), (number, handler)


def test_request_answers_at_once_and_the_job_page_shows_progress(live, soa):
    with live.app.app_context():
        agency = f.make_agency(serasa_enabled=True, soa_email=DEFAULT_EMAIL, soa_environment="sandbox")
        agency.set_soa_password(DEFAULT_PASSWORD, live.app.config["CREDENTIALS_KEY"])
        admin = f.make_user(agency, Role.ADMIN)
        creditor = f.make_creditor(agency)
        ids = [f.make_debt(f.make_debtor(agency), creditor).id for _ in range(12)]
        not_due = f.make_debt(f.make_debtor(agency), creditor, due_date=utcnow().date() + timedelta(days=30))
        db.session.commit()
        not_due = not_due.id
        email_ = admin.email
    live.app.config["SOA_MAX_CONCURRENCY"] = 2
    soa.set_fault("include", Fault(latency=0.4))
    session = live_session(live.url, email_)
    wanted = ids + [not_due]
    page = session.get(f"{live.url}/admin/debt/negativate/?" + "&".join(f"rowid={i}" for i in wanted), timeout=10)
    started = time.monotonic()
    response = session.post(f"{live.url}/admin/debt/negativate/", allow_redirects=False, timeout=10,
                            data={"csrf_token": csrf_from(page.text), "rowid": wanted, "restriction_code": "1"})
    answered = time.monotonic() - started
    assert response.status_code == 302 and "/admin/jobs/details/" in response.headers["Location"]
    assert answered < 1.0, answered  # 13 debts at 0.4 s each in pairs take ~2.6 s: the request did not wait
    job_id = int(re.search(r"id=(\d+)", response.headers["Location"]).group(1))
    job_page = session.get(f"{live.url}/admin/jobs/details/?id={job_id}", timeout=10).text
    assert 'id="job-bar"' in job_page and "/static/jobs.js" in job_page and "<script>" not in job_page
    assert "Cancelar" in job_page
    assert 'id="job-notice"' in job_page  # the navbar tells a job of the user is running
    seen, last = [], -1
    while True:
        status = session.get(f"{live.url}/admin/jobs/status/?id={job_id}&after={last}", timeout=10).json()
        seen.extend(status["items"])
        last = max([last] + [i["no"] for i in status["items"]])
        assert status["done"] + status["failed"] >= len(seen)  # counts never lag the results shown
        if not status["active"]:
            break
        time.sleep(0.1)
    assert status["total"] == 13 and status["done"] == 13 and status["percent"] == 100
    assert len(seen) == 13 and len({i["seq"] for i in seen}) == 13  # each result once, as it arrived
    assert sorted(i["label"] for i in seen) == ["Incluída"] * 12 + ["Recusada"]
    refused = next(i for i in seen if i["result"] == "recusada")
    assert "ainda não venceu" in refused["reason"]
    final = session.get(f"{live.url}/admin/jobs/details/?id={job_id}", timeout=10)
    assert "Resultado da negativação" in final.text and "12</strong> incluída(s)" in final.text
    assert 'id="job-notice"' not in final.text
    assert f"/admin/jobs/details/?id={job_id}" in session.get(f"{live.url}/admin/jobs/", timeout=10).text


def test_answers_are_kept_as_they_arrive_not_at_the_end(live, soa):
    """Each SOA answer and its call log are committed as they come: mid-batch, another connection sees them."""
    from services.negativation import include_debts

    with live.app.app_context():
        agency = f.make_agency(serasa_enabled=True, soa_email=DEFAULT_EMAIL, soa_environment="sandbox")
        agency.set_soa_password(DEFAULT_PASSWORD, live.app.config["CREDENTIALS_KEY"])
        admin = f.make_user(agency, Role.ADMIN)
        creditor = f.make_creditor(agency)
        for _ in range(10):
            f.make_debt(f.make_debtor(agency), creditor)
        db.session.commit()
        agency_id, admin_id = agency.id, admin.id
    live.app.config["SOA_MAX_CONCURRENCY"] = 2
    soa.set_fault("include", Fault(latency=0.3))
    finished = threading.Event()

    def run():
        with live.app.app_context():
            from models import Agency, Debt

            debts = db.session.query(Debt).all()
            include_debts(db.session.get(Agency, agency_id), debts, admin_id, "1")
        finished.set()

    worker = threading.Thread(target=run)
    worker.start()
    seen_mid_batch = None
    while not finished.is_set():
        with live.app.app_context():
            sent = db.session.query(Negativation).filter_by(status=S.SENT).count()
            logged = db.session.query(SoaCall).filter_by(operation="include").count()
            db.session.remove()
        if 0 < sent < 10 and not finished.is_set():
            seen_mid_batch = (sent, logged)
            break
        time.sleep(0.05)
    worker.join()
    assert seen_mid_batch is not None, "no answer was visible before the batch ended"
    assert seen_mid_batch[1] >= seen_mid_batch[0]  # the call log was written with the answers


def test_pending_left_by_a_dead_process_is_checked_at_soa(app, world, soa):
    """A record left *pendente* by a process that died during its call: the sync asks SOA (by document and
    contract) and recovers the protocol, instead of leaving it forever unremovable."""
    from integrations.serasa import InclusionRequest
    from services.negativation import records_to_sync, sync_records
    from services.serasa import client_for

    with app.app_context():
        from models import Agency, Debt

        agency = db.session.get(Agency, world.a.id)
        agency.serasa_enabled, agency.soa_email, agency.soa_environment = True, DEFAULT_EMAIL, "sandbox"
        agency.set_soa_password(DEFAULT_PASSWORD, app.config["CREDENTIALS_KEY"])
        debt = db.session.get(Debt, world.debt_a1.id)
        record = Negativation.for_debt(debt, world.admin_a.id, "1")
        db.session.add(record)
        db.session.commit()
        d = debt.debtor
        # The dead process's call reached SOA; its answer never reached the database.
        client_for(agency).include(InclusionRequest(
            document=record.document, name=d.name, birth_date=d.birth_date, street=d.street, number=d.number,
            complement=d.complement or "", neighbourhood=d.neighbourhood, city=d.city, uf=d.uf, cep=d.cep,
            restriction_code="1", contract=record.contract_number, due_date=debt.due_date, amount=record.amount,
            creditor_document=debt.creditor.cnpj, creditor_name=debt.creditor.name))
        db.session.execute(db.update(Negativation).where(Negativation.id == record.id)
                           .values(updated_at=utcnow() - timedelta(minutes=11)))
        db.session.commit()
        records = records_to_sync(agency, 200)
        assert [r.id for r in records] == [record.id]
        sync_records(agency, records, None)
        db.session.commit()
        db.session.refresh(record)
        assert record.status in (S.SENT, S.ACTIVE)  # the sandbox activates at once
        assert record.unique_id == soa.snapshot()["records"][0]["unique_id"]
        assert soa.snapshot()["calls"]["include"] == 1  # checked, never sent again


def test_status_sync_runs_concurrently(app, world, soa):
    from services.negativation import include_debts, records_to_sync, sync_records

    with app.app_context():
        from models import Agency, Debt

        agency = db.session.get(Agency, world.a.id)
        agency.serasa_enabled, agency.soa_email, agency.soa_environment = True, DEFAULT_EMAIL, "sandbox"
        agency.set_soa_password(DEFAULT_PASSWORD, app.config["CREDENTIALS_KEY"])
        creditor = db.session.get(Debt, world.debt_a1.id).creditor
        debts = [f.make_debt(f.make_debtor(agency), creditor) for _ in range(8)]
        db.session.commit()
        include_debts(agency, debts, None, "1")
        soa.set_fault("consult", Fault(latency=0.3))
        records = records_to_sync(agency, 200)
        started = time.monotonic()
        summary = sync_records(agency, records, None)
        elapsed = time.monotonic() - started
    assert summary["atualizadas"] == 8
    assert elapsed < 8 * 0.3 / 2, elapsed  # one at a time it takes 2.4 s


def test_consultants_see_only_their_own_jobs(app, client, world, login_as, auth):
    app.config["RUN_QUEUE_AFTER_REQUEST"] = False  # the jobs stay queued: no consumer in this test
    with app.app_context():
        from models import Agency, User

        a, b = db.session.get(Agency, world.a.id), db.session.get(Agency, world.b.id)
        mine = jobs.start(serasa_jobs.SYNC, a, db.session.get(User, world.cons_a1.id), total=3).id
        colleague = jobs.start(serasa_jobs.SYNC, a, db.session.get(User, world.cons_a2.id), total=3).id
        admins = jobs.start(serasa_jobs.SYNC, a, db.session.get(User, world.admin_a.id), total=3).id
        other = jobs.start(serasa_jobs.SYNC, b, db.session.get(User, world.admin_b.id), total=3).id
    login_as(world.cons_a1)
    listing = client.get("/admin/jobs/").text
    assert f"?id={mine}&" in listing and f"?id={colleague}&" not in listing and f"?id={admins}&" not in listing
    assert client.get(f"/admin/jobs/details/?id={mine}").status_code == 200
    for hidden in (colleague, admins, other):
        assert client.get(f"/admin/jobs/details/?id={hidden}").status_code == 404
        assert client.get(f"/admin/jobs/status/?id={hidden}").status_code == 404
    with client.session_transaction() as browser:
        browser["jobs_running"] = True  # what starting a job from a screen notes in the session
    notice = client.get("/admin/debtor/").text
    assert 'id="job-notice"' in notice and f"Tarefa nº {mine} " in notice and f"nº {colleague} " not in notice
    token = csrf_from(client.get(f"/admin/jobs/details/?id={mine}").text)
    assert client.post("/admin/jobs/cancel/", data={"csrf_token": token, "id": colleague}).status_code == 404
    assert client.post("/admin/jobs/cancel/", data={"id": mine}).status_code == 302  # no CSRF: nothing changes
    with app.app_context():
        assert not db.session.get(Job, mine).cancel_requested
    client.post("/admin/jobs/cancel/", data={"csrf_token": token, "id": mine})
    with app.app_context():
        assert db.session.get(Job, mine).state == JobState.CANCELLED
        assert not db.session.get(Job, colleague).cancel_requested
    auth.logout()
    login_as(world.admin_a)
    listing = client.get("/admin/jobs/").text
    assert all(f"?id={i}&" in listing for i in (mine, colleague, admins)) and f"?id={other}&" not in listing
    assert client.get(f"/admin/jobs/details/?id={other}").status_code == 404
    assert client.get("/admin/jobs/details/?id=abc").status_code == 404


# --- the schedule ------------------------------------------------------------------------------------------

def test_schedule_follows_each_agency_time_zone_and_starts_once_per_slot(app, world):
    app.config.update(SERASA_SYNC_TIMES="07:00, 19:00", SERASA_EXCLUSION_RETRY_MINUTES=30,
                      RUN_QUEUE_AFTER_REQUEST=False)
    with app.app_context():
        from models import Agency

        sp, manaus = db.session.get(Agency, world.a.id), db.session.get(Agency, world.b.id)
        for agency, tz in ((sp, "America/Sao_Paulo"), (manaus, "America/Manaus")):
            agency.serasa_enabled, agency.soa_email, agency.timezone = True, DEFAULT_EMAIL, tz
            agency.set_soa_password(DEFAULT_PASSWORD, app.config["CREDENTIALS_KEY"])
        db.session.commit()
        ten_utc = datetime(2026, 12, 1, 10, 0)  # 07:00 in São Paulo (UTC-3), 06:00 in Manaus (UTC-4)
        assert serasa_jobs.due_slots(sp, ten_utc) == [("all", "2026-12-01 07:00")]
        assert serasa_jobs.due_slots(manaus, ten_utc) == [("exclusions", "2026-12-01 06:00 baixas")]
        assert serasa_jobs.due_slots(manaus, ten_utc + timedelta(hours=1)) == [("all", "2026-12-01 07:00")]
        assert serasa_jobs.due_slots(sp, ten_utc + timedelta(minutes=7)) == []
        now = datetime.now(UTC).replace(tzinfo=None, second=0, microsecond=0)
        app.config["SERASA_SYNC_TIMES"] = serasa_jobs.to_local(now, "America/Sao_Paulo").strftime("%H:%M")
        app.config["SERASA_EXCLUSION_RETRY_MINUTES"] = 0
        first = serasa_jobs.schedule(now)
        again = serasa_jobs.schedule(now)  # a second consumer's tick in the same minute
        assert [j.agency_id for j in first] == [sp.id] and again == []
        job = db.session.get(Job, first[0].id)
        assert job.kind == serasa_jobs.SYNC and job.created_by_id is None and job.state == JobState.QUEUED


def test_a_batch_makes_no_query_per_record(app, world, soa, queries):
    """Claiming, sending and syncing a batch load nothing record by record (the measured CPU per debt came from
    such lazy loads): no SELECT of a record's history or debt per record."""
    from services.negativation import include_debts, records_to_sync, sync_records

    with app.app_context():
        from sqlalchemy.orm import joinedload

        from models import Agency, Debt

        agency = db.session.get(Agency, world.a.id)
        agency.serasa_enabled, agency.soa_email, agency.soa_environment = True, DEFAULT_EMAIL, "sandbox"
        agency.set_soa_password(DEFAULT_PASSWORD, app.config["CREDENTIALS_KEY"])
        creditor = db.session.get(Debt, world.debt_a1.id).creditor
        for _ in range(12):
            f.make_debt(f.make_debtor(agency), creditor)
        db.session.commit()
        ids = [d.id for d in db.session.query(Debt).filter(Debt.agency_id == agency.id, Debt.id != world.debt_a2.id)]
        db.session.expunge_all()
        agency = db.session.get(Agency, world.a.id)
        debts = (db.session.query(Debt).options(joinedload(Debt.debtor), joinedload(Debt.creditor))
                 .filter(Debt.id.in_(ids)).all())
        with queries() as q:
            report = include_debts(agency, debts, None, "1")
        assert report.count("incluida") == 13
        selects = [s for s in q.statements if s.lstrip().upper().startswith("SELECT")]
        assert len(selects) <= 4, selects  # open records, the pending records' ids..., not one per debt
        db.session.expunge_all()
        agency = db.session.get(Agency, world.a.id)
        records = records_to_sync(agency, 200)
        assert len(records) == 13
        with queries() as q:
            summary = sync_records(agency, records, None)
        assert summary["atualizadas"] == 13
        per_record = [s for s in q.statements if "FROM negativation_event" in s or "FROM debt" in s]
        assert per_record == []
