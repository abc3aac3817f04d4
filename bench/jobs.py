"""Benchmark of the job queue: bulk inclusion on Redis with 1 and 2 consumer processes, the time until the request
that starts a batch answers, and a large status sync. Writes its section of bench/RESULTS.md (between markers).

    APP_ENV=development .venv/bin/python -m bench.jobs            # full: 5,000 debts at 500 ms, 50,000 records
    BENCH_JOBS_SCALE=0.2 APP_ENV=development .venv/bin/python -m bench.jobs   # a scaled run (labelled as such)

Needs redis-server (Debian's); starts a private one on a loopback port. Database: a SQLite file in a temporary
directory, or BENCH_JOBS_DATABASE_URL (PostgreSQL).
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import requests
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"
START, END = "<!-- jobs-bench:start -->", "<!-- jobs-bench:end -->"
SCALE = float(os.environ.get("BENCH_JOBS_SCALE", "1"))
#: The sync's own scale (defaults to SCALE): 50,000 records take ~10 minutes on 2 cores with SQLite.
SYNC_SCALE = float(os.environ.get("BENCH_JOBS_SYNC_SCALE", str(SCALE)))
KEY = Fernet.generate_key().decode()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Env:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.redis_port = free_port()
        self.redis = subprocess.Popen([shutil.which("redis-server"), "--port", str(self.redis_port), "--bind",
                                       "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.redis_port)
        self.sandbox_port = free_port()
        self.sandbox = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "soa-sandbox", "--port",
                                         str(self.sandbox_port), "--activation-delay", "0"], cwd=ROOT,
                                        env=dict(os.environ, APP_ENV="development"), stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        wait_port(self.sandbox_port)
        self.sandbox_url = f"http://127.0.0.1:{self.sandbox_port}"
        self.db_url = os.environ.get("BENCH_JOBS_DATABASE_URL") or f"sqlite:///{tmp / 'jobs.db'}"
        self.env = dict(os.environ, APP_ENV="development", SECRET_KEY="bench", CREDENTIALS_KEY=KEY,
                        DATABASE_URL=self.db_url, SOA_URL_SANDBOX=self.sandbox_url,
                        REDIS_URL=f"redis://127.0.0.1:{self.redis_port}/0", SERASA_SYNC_TIMES="",
                        SERASA_EXCLUSION_RETRY_MINUTES="0", SOA_READ_TIMEOUT="30", PYTHONPATH=str(ROOT))
        self.consumers: list[subprocess.Popen] = []

    def app(self):
        from app import create_app

        return create_app({"SQLALCHEMY_DATABASE_URI": self.db_url, "SECRET_KEY": "bench", "CREDENTIALS_KEY": KEY,
                           "SOA_URL_SANDBOX": self.sandbox_url, "REDIS_URL": self.env["REDIS_URL"],
                           "SERASA_SYNC_LIMIT": 10**6, "WTF_CSRF_ENABLED": True})

    def sandbox_settings(self, **settings):
        requests.post(f"{self.sandbox_url}/_sandbox/settings", json=settings, timeout=120).raise_for_status()

    def latency(self, seconds: float):
        requests.post(f"{self.sandbox_url}/_sandbox/faults", json={"*": {"latency": seconds}},
                      timeout=120).raise_for_status()

    def start_consumers(self, count: int):
        for _ in range(count):
            self.consumers.append(subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "app", "worker", "-w", "1"], cwd=ROOT, env=self.env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        time.sleep(2.0)

    def stop_consumers(self):
        for process in self.consumers:
            os.killpg(process.pid, signal.SIGINT)
        for process in self.consumers:
            process.wait(60)
        self.consumers = []

    def close(self):
        self.stop_consumers()
        for process in (self.sandbox,):
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(10)
        self.redis.terminate()
        self.redis.wait(10)


def make_world(app, debts: int):
    from models import db
    from models.agency import Role
    from tests import factories as f

    with app.app_context():
        db.drop_all()
        db.create_all()
        agency = f.make_agency(name="Assessoria Bench", serasa_enabled=True, soa_email="demo@soa.sandbox",
                               soa_environment="sandbox")
        agency.set_soa_password("sandbox123", KEY)
        admin = f.make_user(agency, Role.ADMIN, email="admin@bench.test")
        creditor = f.make_creditor(agency)
        debtors = [f.make_debtor(agency) for _ in range(max(1, debts // 5))]
        db.session.flush()
        ids = []
        for n in range(debts):
            ids.append(f.make_debt(debtors[n % len(debtors)], creditor))
        db.session.commit()
        return agency.id, admin.email, [d.id for d in ids]


def login(client, email):
    from tests.conftest import csrf_from
    from tests.factories import PASSWORD

    token = csrf_from(client.get("/login").text)
    assert client.post("/login", data={"csrf_token": token, "email": email, "password": PASSWORD}).status_code == 302


def post_inclusion(client, ids) -> tuple[float, int]:
    from urllib.parse import urlencode

    from tests.conftest import csrf_from

    page = client.get(f"/admin/debt/negativate/?rowid={ids[0]}")
    token = csrf_from(page.text)
    # The browser's form body, encoded before the clock starts: what is timed is the server's work.
    body = urlencode({"csrf_token": token, "rowid": ids, "restriction_code": "1"}, doseq=True)
    started = time.perf_counter()
    response = client.post("/admin/debt/negativate/", data=body, content_type="application/x-www-form-urlencoded")
    elapsed = time.perf_counter() - started
    assert response.status_code == 302, response.text[:300]
    return elapsed, int(re.search(r"id=(\d+)", response.location).group(1))


def wait_jobs(app, job_ids, timeout=3600) -> float:
    from models import db
    from models.job import ACTIVE_STATES, Job

    deadline = time.monotonic() + timeout
    while True:
        with app.app_context():
            left = db.session.query(Job).filter(Job.id.in_(job_ids),
                                                Job.state.in_([str(s) for s in ACTIVE_STATES])).count()
            db.session.remove()
        if not left:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise RuntimeError("jobs did not finish")
        time.sleep(0.2)


def first_started(app, job_ids):
    from models import db
    from models.job import Job

    with app.app_context():
        rows = db.session.query(Job).filter(Job.id.in_(job_ids)).all()
        return (min(j.started_at for j in rows), max(j.finished_at for j in rows),
                sum(j.done for j in rows), sum(j.failed for j in rows))


def inclusion_run(env: Env, consumers: int, debts: int, jobs_count: int, latency: float) -> dict:
    app = env.app()
    _, email, ids = make_world(app, debts)
    env.sandbox_settings(activation_delay=0, balances={"demo@soa.sandbox": "100000000"})
    env.latency(latency)
    client = app.test_client()
    login(client, email)
    per_job = -(-len(ids) // jobs_count)
    answers, job_ids = [], []
    for n in range(jobs_count):
        answered, job_id = post_inclusion(client, ids[n * per_job:(n + 1) * per_job])
        answers.append(answered)
        job_ids.append(job_id)
    env.start_consumers(consumers)
    wait_jobs(app, job_ids)
    started, finished, done, failed = first_started(app, job_ids)
    env.stop_consumers()
    seconds = (finished - started).total_seconds()
    at_soa = requests.get(f"{env.sandbox_url}/_sandbox/state", timeout=60).json()
    contracts = [r["contract"] for r in at_soa["records"]]
    return {"consumers": consumers, "debts": len(ids), "jobs": jobs_count, "seconds": seconds,
            "per_second": done / seconds if seconds else 0, "done": done, "failed": failed,
            "answers_ms": [a * 1000 for a in answers], "duplicates": len(contracts) - len(set(contracts)),
            "calls": at_soa["calls"].get("include", 0)}


def big_request(env: Env, debts: int) -> float:
    """The request that starts one batch of ``debts``: answered before any consumer touches it."""
    app = env.app()
    _, email, ids = make_world(app, debts)
    client = app.test_client()
    login(client, email)
    answered, job_id = post_inclusion(client, ids)
    from models import db
    from models.job import Job
    from services import jobs

    with app.app_context():
        jobs.cancel(db.session.get(Job, job_id))
    return answered * 1000


def sync_run(env: Env, records: int, latency: float, consumers: int = 1) -> dict:
    """A status sync of ``records`` records in flight (included first at zero latency, then synced)."""
    app = env.app()
    _, email, ids = make_world(app, records)
    env.sandbox_settings(activation_delay=3600, balances={"demo@soa.sandbox": "100000000"})
    env.latency(0)
    client = app.test_client()
    login(client, email)
    from admin_views.debts import MAX_JOB_BULK

    chunk = min(MAX_JOB_BULK, 10000)  # one request may start at most MAX_JOB_BULK debts (50,000 → 5 requests)
    job_ids = [post_inclusion(client, ids[n:n + chunk])[1] for n in range(0, len(ids), chunk)]
    env.start_consumers(2)
    wait_jobs(app, job_ids)
    env.stop_consumers()
    env.sandbox_settings(activation_delay=0)
    env.latency(latency)
    from models import Agency, db
    from services import serasa_jobs

    with app.app_context():
        job_id = serasa_jobs.start_sync(db.session.get(Agency, 1), None).id
    env.start_consumers(consumers)
    wait_jobs(app, [job_id])
    started, finished, done, failed = first_started(app, [job_id])
    env.stop_consumers()
    seconds = (finished - started).total_seconds()
    return {"records": records, "seconds": seconds, "per_second": done / seconds if seconds else 0,
            "done": done, "failed": failed, "latency_ms": latency * 1000}


def request_only(repeats: int = 7) -> None:
    """BENCH_JOBS_ONLY=request: only the request that starts a 5,000-debt inclusion, timed ``repeats`` times.

    What is timed is the server (Werkzeug form parsing, CSRF, scope check, recording the job, the redirect), the
    form body being encoded before the clock starts; no consumer runs, each job is cancelled after its answer.
    """
    tmp = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    env = Env(tmp)
    try:
        app = env.app()
        _, email, ids = make_world(app, int(5000 * SCALE))
        client = app.test_client()
        login(client, email)
        from models import db
        from models.job import Job, JobItem
        from services import jobs

        answers = []
        for _ in range(repeats):
            answered, job_id = post_inclusion(client, ids)
            answers.append(answered * 1000)
            with app.app_context():
                items = db.session.query(JobItem).filter(JobItem.job_id == job_id).count()
                jobs.cancel(db.session.get(Job, job_id))
        answers.sort()
        print(f"{len(ids)} dívidas, {repeats} requisições: mínimo {answers[0]:.0f} ms, mediana "
              f"{answers[len(answers) // 2]:.0f} ms, máximo {answers[-1]:.0f} ms; itens gravados na requisição: "
              f"{items}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {os.cpu_count()} núcleos")
    finally:
        env.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    if os.environ.get("BENCH_JOBS_ONLY") == "request":
        request_only()
        return
    if os.environ.get("BENCH_JOBS_ONLY") == "sync":  # only the status sync of int(50000 * BENCH_JOBS_SYNC_SCALE)
        tmp = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
        env = Env(tmp)
        try:
            sync = sync_run(env, int(50000 * SYNC_SCALE), float(os.environ.get("BENCH_JOBS_SYNC_LATENCY", "0.1")))
        finally:
            env.close()
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"Atualizar situação: {sync['records']} registros, {sync['latency_ms']:.0f} ms de latência por consulta, "
              f"1 consumidor: {sync['seconds']:.1f} s ({sync['per_second']:.0f} registros/s; {sync['done']} "
              f"atualizados, {sync['failed']} falhas); {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
        return
    debts = int(5000 * SCALE)
    sync_records = int(50000 * SYNC_SCALE)
    began = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    env = Env(tmp)
    try:
        concurrency = int(os.environ.get("SOA_MAX_CONCURRENCY", "32"))
        one = inclusion_run(env, 1, debts, 4, 0.5)
        two = inclusion_run(env, 2, debts, 4, 0.5)
        request_ms = big_request(env, debts)
        sync = sync_run(env, sync_records, float(os.environ.get("BENCH_JOBS_SYNC_LATENCY", "0.1")))
    finally:
        env.close()
        shutil.rmtree(tmp, ignore_errors=True)
    total = time.monotonic() - began
    scaled = "" if SCALE == SYNC_SCALE == 1 else (
        f" **Execução reduzida** (`BENCH_JOBS_SCALE={SCALE}`, `BENCH_JOBS_SYNC_SCALE={SYNC_SCALE}`: {debts} dívidas "
        f"(meta do enunciado: 5.000) e {sync_records} registros na atualização (meta: 50.000)); rode sem as "
        "variáveis para os números completos.")
    ratio = two["per_second"] / one["per_second"] if one["per_second"] else 0
    answers = sorted(one["answers_ms"] + two["answers_ms"])
    header = ("| consumidores | dívidas | tempo (1ª tarefa iniciada → última concluída) | dívidas/s | incluídas | "
              "falhas | chamadas de inclusão ao SOA | duplicadas no SOA |\n|---|---|---|---|---|---|---|---|")
    rows = [f"| {r['consumers']} | {r['debts']} | {r['seconds']:.1f} s | {r['per_second']:.1f} | {r['done']} | "
            f"{r['failed']} | {calls} | {r['duplicates']} |"
            for r, calls in ((one, one["calls"]), (two, two["calls"] - one["calls"]))]
    table = "\n".join([header, *rows])
    section = f"""{START}
## 7. Fila de tarefas (Redis, consumidores em processos separados)

Gerado por `python -m bench.jobs` em {datetime.now(UTC):%Y-%m-%d %H:%M} UTC (duração {total:.0f} s; banco
{'PostgreSQL' if env.db_url.startswith('postgresql') else 'SQLite (arquivo)'}; redis-server local em 127.0.0.1
({platform.machine()}, {os.cpu_count()} núcleos compartilhados com outros processos); sandbox do SOA em outro
processo; `SOA_MAX_CONCURRENCY={concurrency}` por tarefa; cada consumidor `flask --app app worker -w 1`).{scaled}

**Inclusão em lote** — {debts} dívidas, 500 ms de latência em cada chamada ao SOA, enviadas em 4 lotes
(4 requisições *Negativar no Serasa*, uma tarefa cada):

{table}

Razão de vazão 2 consumidores / 1 consumidor: **{ratio:.2f}×**. (Uma tarefa roda num consumidor; com vários lotes
— ou várias pessoas — os consumidores se dividem.)

**Tempo até a resposta da requisição que inicia o envio** (valida, confere o escopo, grava a tarefa e responde com
o link; ninguém espera o SOA): lotes de {debts // 4} dívidas: mediana {answers[len(answers) // 2]:.0f} ms, máximo
{answers[-1]:.0f} ms; um lote de {debts} dívidas: **{request_ms:.0f} ms** (meta: < 200 ms).

**Atualizar situação** de {sync['records']} registros em andamento, {sync['latency_ms']:.0f} ms de latência por
consulta, 1 consumidor: {sync['seconds']:.1f} s ({sync['per_second']:.0f} registros/s; {sync['done']} atualizados,
{sync['failed']} falhas), cada resposta gravada ao chegar.
{END}"""
    text = RESULTS.read_text() if RESULTS.exists() else ""
    if START in text:
        text = text[:text.index(START)] + section + text[text.index(END) + len(END):]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    RESULTS.write_text(text)
    print(section)


if __name__ == "__main__":
    main()
