"""Benchmark of the portfolio import (Cadastros > Importar carteira), from upload to done, on real processes.

    python -m bench.import_bench            # 100.000 lines; BENCH_IMPORT_ROWS to change; writes its section
                                            # of bench/RESULTS.md (between the import-bench markers)

- the panel is served by gunicorn (2 workers) on 127.0.0.1, over a SQLite file with 20.000 debtors already there;
- a queue consumer runs in its own process (``python -m bench.import_bench --worker``), so its peak memory
  (VmHWM from /proc) is the import's;
- the file (Windows-1252, ``;``, as Excel pt-BR saves a CSV) goes through the screens exactly as a browser sends
  it: upload, mapping, preview (the whole-file validation), Importar; the run ends when the import is *Concluída*;
- meanwhile another client reads the Devedores list page; its median is compared with the same page idle.
"""

from __future__ import annotations

import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
PASSWORD = "bench-import-123"
ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "100000"))
EXISTING = 20_000
MARK_START, MARK_END = "<!-- import-bench:start -->", "<!-- import-bench:end -->"


def say(message: str) -> None:
    print(message, flush=True)


def make_file(path: Path, rows: int, seed: int = 5) -> None:
    """A carteira of ``rows`` lines: every tenth debtor has two debts, 1 % of lines refused (bad CPF or amount)."""
    from validate_docbr import CPF

    from services.portfolio_reader import sample_csv

    rng = random.Random(seed)
    cpf = CPF()
    header = ["Nome", "CPF/CNPJ", "Contrato", "Valor", "Vencimento", "Endereço", "Número", "Bairro", "Cidade", "UF",
              "CEP", "E-mail", "Telefone", "Nascimento"]
    with open(path, "wb") as out:
        out.write(sample_csv([header], ";", "cp1252"))
        batch, document = [], None
        for i in range(rows):
            if i % 10 != 1 or document is None:
                document = cpf.generate(mask=True)
            due = date(2024, 1, 1) + timedelta(days=rng.randint(0, 700))
            amount = f"{rng.randint(100, 900000) / 100:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")
            line = [f"Devedor Importado {i}", document, f"IMP-{i:07d}", amount, due.strftime("%d/%m/%Y"),
                    "Rua da Conceição", str(rng.randint(1, 3000)), "Centro", "São Paulo", "SP", "01035-000",
                    f"d{i}@exemplo.com.br", "(11) 99999-0000", "17/05/1980"]
            if i % 100 == 50:
                line[1] = "123.456.789-00"
            elif i % 100 == 75:
                line[3] = "sem valor"
            batch.append(line)
            if len(batch) == 5000:
                out.write(sample_csv(batch, ";", "cp1252"))
                batch = []
        out.write(sample_csv(batch, ";", "cp1252"))


def prepare_database(url: str) -> None:
    from validate_docbr import CPF
    from werkzeug.security import generate_password_hash

    from app import create_app
    from models import Agency, Creditor, Debtor, User, db
    from models.agency import Role

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        db.drop_all()
        db.create_all()
        agency = Agency(name="Assessoria Importação", cnpj="11222333000181", contact_email="a@bench.com.br",
                        meetings_enabled=True, serasa_enabled=False)
        db.session.add(agency)
        db.session.flush()
        hashed = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
        for name, email, role in (("Admin Importação", "admin@import.bench", Role.ADMIN),
                                  ("Consultor Um", "c1@import.bench", Role.CONSULTANT),
                                  ("Consultor Dois", "c2@import.bench", Role.CONSULTANT)):
            user = User(agency=agency, name=name, email=email, role=role, active=True)
            user.password_hash = hashed
            db.session.add(user)
        db.session.add(Creditor(agency=agency, name="Credor da Carteira", cnpj="45723174000110"))
        db.session.flush()
        cpf = CPF()
        now = datetime.now(UTC).replace(tzinfo=None)
        documents: set[str] = set()
        while len(documents) < EXISTING:
            documents.add(cpf.generate())
        db.session.execute(db.insert(Debtor), [
            {"agency_id": agency.id, "document": document, "name": f"Devedor Antigo {i}", "created_at": now,
             "uf": "SP"} for i, document in enumerate(sorted(documents))])
        db.session.commit()
        db.engine.dispose()


def worker_main() -> None:
    """The queue consumer, in this process (measured from outside)."""
    from app import create_app
    from services import jobs

    app = create_app({"SQLALCHEMY_DATABASE_URI": os.environ["BENCH_IMPORT_DB"],
                      "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"timeout": 30}}})
    consumer = jobs.consumer(app, workers=1)
    consumer.run()


def peak_rss_mib(pid: int) -> tuple[float, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    found = dict(re.findall(r"(VmHWM|VmRSS):\s+(\d+) kB", status))
    return int(found["VmRSS"]) / 1024, int(found["VmHWM"]) / 1024


def login(base: str) -> requests.Session:
    session = requests.Session()
    token = CSRF_RE.search(session.get(f"{base}/login", timeout=30).text).group(1)
    response = session.post(f"{base}/login", data={"csrf_token": token, "email": "admin@import.bench",
                                                   "password": PASSWORD}, allow_redirects=False, timeout=30)
    assert response.status_code == 302, response.status_code
    return session


def list_times(session: requests.Session, base: str, count: int | None = None, stop=None) -> list[float]:
    times = []
    while (count is None or len(times) < count) and not (stop and stop.is_set()):
        started = time.perf_counter()
        response = session.get(f"{base}/admin/debtor/", timeout=60)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
        if stop:
            time.sleep(0.05)
    return times


def run() -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-import-"))
    db_url = f"sqlite:///{tmp / 'import.db'}"
    env = dict(os.environ, APP_ENV="development", DATABASE_URL=db_url, BENCH_IMPORT_DB=db_url,
               IMPORT_DIR=str(tmp / "imports"), HUEY_SQLITE_FILE=str(tmp / "queue.db"), LOGIN_RATE_LIMIT="",
               LOGIN_RATE_LIMIT_PER_IP="")
    os.environ.update({k: env[k] for k in ("APP_ENV", "IMPORT_DIR", "HUEY_SQLITE_FILE")})
    say(f"== importação de carteira: {ROWS} linhas, {EXISTING} devedores já cadastrados")
    prepare_database(db_url)
    carteira = tmp / "carteira.csv"
    started = time.perf_counter()
    make_file(carteira, ROWS)
    say(f"  arquivo gerado: {carteira.stat().st_size / 1e6:.1f} MB em {time.perf_counter() - started:.1f} s")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    gunicorn = Path(sys.executable).with_name("gunicorn")
    web = subprocess.Popen([str(gunicorn), "-w", "2", "-b", f"127.0.0.1:{port}", "--timeout", "300",
                            "--log-level", "warning", "app:create_app()"], cwd=ROOT, env=env)
    worker = subprocess.Popen([sys.executable, "-m", "bench.import_bench", "--worker"], cwd=ROOT, env=env)
    try:
        _wait_up(base)
        admin, reader = login(base), login(base)
        list_times(reader, base, 5)
        idle = list_times(reader, base, 30)
        rss_before, _ = peak_rss_mib(worker.pid)
        result: dict = {"rows": ROWS, "bytes": carteira.stat().st_size, "idle": idle, "rss_before": rss_before}
        t0 = time.perf_counter()
        token = CSRF_RE.search(admin.get(f"{base}/admin/importar-carteira/", timeout=30).text).group(1)
        with open(carteira, "rb") as handle:
            response = admin.post(f"{base}/admin/importar-carteira/", timeout=300, allow_redirects=False,
                                  data={"csrf_token": token, "creditor": "1"},
                                  files={"file": ("carteira.csv", handle, "text/csv")})
        assert response.status_code == 302, response.text[:500]
        import_id = int(re.search(r"id=(\d+)", response.headers["Location"]).group(1))
        result["upload"] = time.perf_counter() - t0
        page = admin.get(f"{base}/admin/importar-carteira/mapping/?id={import_id}", timeout=60).text
        form = {"csrf_token": CSRF_RE.search(page).group(1), "consultant_mode": "rodizio",
                "consultant_ids": ["2", "3"]}
        for name, value in re.findall(r'<select[^>]*name="(col_\w+)"[^>]*>(.*?)</select>', page, re.S):
            chosen = re.search(r'<option selected value="([^"]*)"|<option value="([^"]*)" selected', value)
            form[name] = next((g for g in chosen.groups() if g is not None), "") if chosen else ""
        response = admin.post(f"{base}/admin/importar-carteira/mapping/?id={import_id}", data=form, timeout=60,
                              allow_redirects=False)
        assert response.status_code == 302, response.text[:2000]
        t1 = time.perf_counter()
        while True:  # the Conferência is a job: its page refreshes until the counts are there
            preview = admin.get(f"{base}/admin/importar-carteira/preview/?id={import_id}", timeout=300).text
            if 'id="count-total"' in preview or time.perf_counter() - t1 > 1800:
                break
            time.sleep(0.5)
        result["preview"] = time.perf_counter() - t1
        result["preview_counts"] = {k: re.search(rf'id="count-{k}">(\d+)<', preview).group(1)
                                    for k in ("total", "valid", "warned", "refused")}
        stop = threading.Event()
        during: list[float] = []
        probe = threading.Thread(target=lambda: during.extend(list_times(reader, base, None, stop)), daemon=True)
        t2 = time.perf_counter()
        response = admin.post(f"{base}/admin/importar-carteira/start/", timeout=60, allow_redirects=False,
                              data={"csrf_token": CSRF_RE.search(preview).group(1), "id": import_id})
        assert response.status_code == 302, response.status_code
        probe.start()
        peak = 0.0
        deadline = time.monotonic() + 3600
        while time.monotonic() < deadline:
            peak = max(peak, peak_rss_mib(worker.pid)[1])
            page = admin.get(f"{base}/admin/importar-carteira/result/?id={import_id}", timeout=60).text
            status = re.search(r'id="import-status">([^<]+)<', page).group(1)
            if status not in ("Importando", "Aguardando conferência"):
                break
            time.sleep(0.5)
        result["import"] = time.perf_counter() - t2
        result["total"] = time.perf_counter() - t0
        stop.set()
        probe.join(120)
        result["status"] = status
        result["counts"] = {k: re.search(rf'id="result-{k}">(\d+)<', page).group(1)
                            for k in ("created", "updated", "unchanged", "refused", "warnings")}
        result["peak_rss"] = max(peak, peak_rss_mib(worker.pid)[1])
        result["during"] = during
        say(f"  upload {result['upload']:.1f} s, conferência {result['preview']:.1f} s, importação "
            f"{result['import']:.1f} s ({ROWS / result['import']:.0f} linhas/s); situação {status}; "
            f"{result['counts']}; pico de memória do consumidor {result['peak_rss']:.0f} MiB "
            f"(antes {rss_before:.0f} MiB); lista: ociosa {statistics.median(idle) * 1000:.0f} ms, durante "
            f"{statistics.median(during or [0]) * 1000:.0f} ms ({len(during)} leituras)")
        return result
    finally:
        for process in (web, worker):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_up(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/login", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError("gunicorn did not start")


def report(result: dict) -> str:
    ms = lambda xs: f"{statistics.median(xs) * 1000:.0f} / {sorted(xs)[int(0.95 * (len(xs) - 1))] * 1000:.0f}"  # noqa: E731
    c, p = result["counts"], result["preview_counts"]
    cores = os.cpu_count()
    lines = [
        MARK_START,
        "## 8. Importação de carteira (`python -m bench.import_bench`)",
        "",
        f"Execução separada, rodada em {datetime.now(UTC):%Y-%m-%d %H:%M} UTC na mesma máquina ({cores} núcleos, "
        f"carga 1 min {os.getloadavg()[0]:.1f}: outros processos dividiam a CPU). Arquivo CSV Windows-1252 `;` de "
        f"**{_n(result['rows'])} linhas** ({result['bytes'] / 1e6:.1f} MB; 1 em cada 10 devedores com 2 dívidas, 2 % "
        "das linhas recusadas) enviado pelas telas como um navegador (upload → colunas → conferência → Importar) a "
        f"um gunicorn com 2 workers; banco SQLite em arquivo com {_n(EXISTING)} devedores já cadastrados; consumidor "
        "da fila num processo próprio. Rodízio entre 2 consultores.",
        "",
        "| medida | valor |",
        "|---|---|",
        f"| envio do arquivo (upload + leitura dos títulos) | {result['upload']:.1f} s |",
        f"| conferência (validação do arquivo inteiro, uma tarefa) | {result['preview']:.1f} s — {p['total']} "
        f"linhas: {p['valid']} válidas, {p['warned']} com aviso, {p['refused']} recusadas |",
        f"| importação (tarefa, do clique em Importar até *Concluída*) | {result['import']:.1f} s — "
        f"**{result['rows'] / result['import']:.0f} linhas/s** |",
        f"| do upload ao fim | {result['total']:.1f} s |",
        f"| resultado | {result['status']}: {c['created']} criadas, {c['updated']} atualizadas, {c['unchanged']} sem "
        f"alteração, {c['refused']} recusadas, {c['warnings']} com aviso |",
        f"| memória do consumidor (RSS) | {result['rss_before']:.0f} MiB parado → pico **{result['peak_rss']:.0f} "
        "MiB** (VmHWM) |",
        f"| lista Devedores, ociosa (mediana / p95) | {ms(result['idle'])} ms ({len(result['idle'])} leituras) |",
        f"| lista Devedores, durante a importação (mediana / p95) | {ms(result['during'] or [0])} ms "
        f"({len(result['during'])} leituras) |",
        "",
        "A importação grava em blocos de 1.000 linhas, cada um numa transação curta; entre eles a lista continua "
        "respondendo (o SQLite serializa as escritas, não as leituras). O arquivo é lido em fluxo: a memória do "
        "consumidor não cresce com o tamanho do arquivo além dos conjuntos de contratos e documentos já vistos.",
        MARK_END,
    ]
    return "\n".join(lines)


def _n(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def write(section: str, path: Path = ROOT / "bench" / "RESULTS.md") -> None:
    text = path.read_text() if path.exists() else ""
    if MARK_START in text and MARK_END in text:
        before, rest = text.split(MARK_START, 1)
        text = before + section + rest.split(MARK_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def main() -> None:
    if "--worker" in sys.argv:
        worker_main()
        return
    result = run()
    section = report(result)
    write(section)
    say(section)


if __name__ == "__main__":
    main()
