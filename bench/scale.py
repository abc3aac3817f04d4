"""Lists and exports at 1× and 10× data, on SQLite and PostgreSQL (``make bench-scale``; section 6 of RESULTS.md).

    make bench-scale                                        # SQLite 1× and 10× (files in BENCH_DATA_DIR)
    BENCH_DATA_DIR=/work/benchdata BENCH_SCALE_REUSE=1 make bench-scale          # measure again, same files
    BENCH_SQLITE=0 BENCH_PG_URL=postgresql+psycopg://…/painel_bench BENCH_SCALE_REUSE=1 make bench-scale
    python -m bench.scale report a.pickle b.pickle         # one section from runs made apart (SQLite, PostgreSQL)
    python -m bench.scale multiply postgresql+psycopg://…/painel_bench_10 10  # a copy of the 1× database, ×10

Data: the 1× set is bench/datagen.py's (row by row, realistic, on the schema ``flask db upgrade`` builds); the 10×
set is a copy of the 1× file multiplied with set-based SQL (one ``INSERT … SELECT`` per table for all 9 copies, ids
and foreign keys shifted, unique texts suffixed; indexes dropped during the copy and rebuilt once), minutes instead
of the hour a row-by-row 10× would take. Before measuring, every data file (and the PostgreSQL database) is
migrated with ``flask db upgrade`` (timed): a migration newer than the data — e.g. a search index — is filled once,
as in production. A database made by an older bench with ``create_all()`` (no ``alembic_version``) is adopted first:
missing tables and nullable columns added, stamped ``BENCH_ADOPT_REVISION``.

Measurement is made robust to a loaded machine: each data set is served by its own worker process (Flask test
client, the time measured inside the worker), and the requests are **interleaved** — for every operation the 1× and
the 10× worker answer alternately, rep after rep, so load hits both sides alike; the first-page table interleaves
ours, stock Flask-Admin and the hand-written page at every scale. Every operation a user can trigger — first page,
the deepest page the list offers, each sortable column, the search, a filter — as admin and as consultant, median
of ``BENCH_SCALE_REPS`` (≥ 7) after a warm-up; an operation above 1.5× is measured again at once with
``BENCH_SCALE_CONFIRM_REPS`` (41) interleaved requests, and the report shows both. The load average is recorded
before and after each section.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
#: The scales measured side by side: ``BENCH_SCALES=1,10`` (default), or ``BENCH_SCALE=10`` for 1 and 10.
SCALES = sorted(float(s) for s in os.environ.get("BENCH_SCALES", f"1,{os.environ.get('BENCH_SCALE', '10')}").split(","))
REPS = max(7, int(os.environ.get("BENCH_SCALE_REPS", "7")))
#: The first-page table: stock Flask-Admin's page counts every row (seconds at 10×), so REPS rounds by default.
FIRST_REPS = max(7, int(os.environ.get("BENCH_FIRST_REPS", str(REPS))))
#: The scale generated row by row; bigger scales are copies of it.
BASE = float(os.environ.get("BENCH_SCALE_BASE", "1"))
#: Where the SQLite data files live (several GB at 10×: outside the worktree is fine).
DATA_DIR = Path(os.environ.get("BENCH_DATA_DIR", ROOT / "instance"))
PG_URL = os.environ.get("BENCH_PG_URL", "")
PG_SCALES = [float(s) for s in os.environ.get("BENCH_PG_SCALES", "1").split(",")]
#: ``BENCH_PG_URLS=1=postgresql+psycopg://…/painel_bench_1,10=…/painel_bench_10``: one existing database per scale
#: (made by this module with ``BENCH_PG_URL``/``BENCH_PG_SCALES``, or copied and multiplied), measured interleaved.
PG_URLS = {float(scale): url for scale, url in (item.split("=", 1) for item in
                                                 os.environ.get("BENCH_PG_URLS", "").split(",") if item)}
OUT = Path(os.environ.get("BENCH_OUT", ROOT / "bench" / "RESULTS.md"))
PICKLE = Path(os.environ.get("BENCH_SCALE_PICKLE", DATA_DIR / "bench_scale_runs.pickle"))
ADOPT_REVISION = os.environ.get("BENCH_ADOPT_REVISION", "0011_mail_once")
MARK_BEGIN = "<!-- scale:begin (bench/scale.py) -->"
MARK_END = "<!-- scale:end -->"
RATIO_TARGET = 1.5
#: An operation above RATIO_TARGET in the list table is measured again at once with this many interleaved requests
#: (a median of 7 or 15 single requests on a shared machine crosses 1.5× now and then: a different operation each
#: run); the report shows both measurements and counts the repeated one.
CONFIRM_REPS = max(REPS, int(os.environ.get("BENCH_SCALE_CONFIRM_REPS", "41")))
HAND_TARGET = 4.0
STOCK_TARGET = 0.3
EXPORT_MB_TARGET = 150
FIRST_BYTE_TARGET = 1.0
BIG_TABLES = ("meeting", "debtor", "debt", "negotiation", "negativation", "negativation_event")


def load() -> tuple[float, float, float]:
    return os.getloadavg()


def fmt_load(values) -> str:
    return " / ".join(f"{v:.1f}".replace(".", ",") for v in values)


# --------------------------------------------------------------------------------------------- data


def sqlite_path(scale: float) -> Path:
    return (DATA_DIR / f"bench_scale_{scale:g}.db").resolve()


def sqlite_url(scale: float) -> str:
    return "sqlite:///" + str(sqlite_path(scale))


#: Big tables, in insertion order: (table, {column: SQL expression of the copy number K}).
def _copies(dialect: str) -> list[tuple[str, dict[str, str]]]:
    def pad(expr: str, width: int) -> str:
        if dialect == "postgresql":
            return f"lpad(({expr})::text, {width}, '0')"
        return f"substr('{'0' * width}' || ({expr}), -{width})"

    def suffix(column: str) -> str:
        return f"{column} || '-' || K" if dialect != "postgresql" else f"{column} || '-' || CAST(K AS text)"

    return [
        ("debtor", {"id": "id + K * :debtor", "document": pad("id + K * :debtor", 11)}),
        ("debt", {"id": "id + K * :debt", "debtor_id": "debtor_id + K * :debtor",
                  "contract_number": suffix("contract_number")}),
        ("negotiation", {"id": "id + K * :negotiation", "debtor_id": "debtor_id + K * :debtor"}),
        ("negotiation_debt", {"negotiation_id": "negotiation_id + K * :negotiation",
                              "debt_id": "debt_id + K * :debt"}),
        ("meeting", {"id": "id + K * :meeting", "uid": suffix("uid")}),
        # the copy's document is its (copied) debtor's, as in the 1× set
        ("negativation", {"id": "id + K * :negativation", "debt_id": "debt_id + K * :debt",
                          "debtor_id": "debtor_id + K * :debtor", "document": pad("debtor_id + K * :debtor", 11),
                          "unique_id": suffix("unique_id")}),
        ("negativation_event", {"id": "id + K * :negativation_event",
                                "negativation_id": "negativation_id + K * :negativation"}),
    ]


def multiply_sqlite(path: Path, factor: int, log=print) -> None:
    """Make the SQLite file ``factor`` times bigger: per table one INSERT … SELECT of all the copies, with the
    table's indexes dropped before and rebuilt once after (as a bulk load would)."""
    con = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-4000000", "temp_store=MEMORY",
                   "locking_mode=EXCLUSIVE"):
        con.execute(f"PRAGMA {pragma}")
    tables = [t for t, _ in _copies("sqlite")]
    size = {t: con.execute(f"SELECT max(id) FROM {t}").fetchone()[0] or 0 for t in tables if t != "negotiation_debt"}
    marks = ",".join("?" * len(tables))
    indexes = con.execute(f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                          f"AND tbl_name IN ({marks})", tables).fetchall()
    con.execute("BEGIN")
    for name, _ in indexes:
        con.execute(f'DROP INDEX "{name}"')
    for table, changed in _copies("sqlite"):
        started = time.perf_counter()
        columns = [row[1] for row in con.execute(f'PRAGMA table_info("{table}")')]
        select = ", ".join(changed.get(c, f't."{c}"') for c in columns).replace("K", "ks.k")
        for name, value in sorted(size.items(), key=lambda item: -len(item[0])):  # negativation_event first
            select = select.replace(f":{name}", str(value))
        where = f"t.id <= {size[table]}" if table in size else f"t.negotiation_id <= {size['negotiation']}"
        con.execute(f"WITH RECURSIVE ks(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM ks WHERE k < {factor - 1}) "
                    f"INSERT INTO {table} ({', '.join(columns)}) SELECT {select} FROM ks CROSS JOIN {table} AS t "
                    f"WHERE {where} ORDER BY ks.k, t.rowid")
        log(f"    {factor - 1} cópias: {table} ({time.perf_counter() - started:.1f} s)")
    started = time.perf_counter()
    for _, sql in indexes:
        con.execute(sql)
    log(f"    {len(indexes)} índices refeitos ({time.perf_counter() - started:.1f} s)")
    con.execute("COMMIT")
    con.close()


def multiply_postgres(url: str, factor: int, log=print) -> None:
    """PostgreSQL: one INSERT … SELECT per table and copy (indexes kept), then VACUUM ANALYZE."""
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = {t: [c["name"] for c in _columns(conn, t)] for t, _ in _copies("postgresql")}
        size = {t: conn.execute(text(f"SELECT max(id) FROM {t}")).scalar() or 0
                for t in tables if t != "negotiation_debt"}
        for k in range(1, factor):
            for table, changed in _copies("postgresql"):
                started = time.perf_counter()
                select = ", ".join(changed.get(c, c) for c in tables[table]).replace("K", ":k")
                where = f" WHERE id <= {size[table]}" if table in size else \
                    f" WHERE negotiation_id <= {size['negotiation']}"
                conn.execute(text(f"INSERT INTO {table} ({', '.join(tables[table])}) SELECT {select} FROM {table}"
                                  f"{where}"), {"k": k, **size})
                log(f"    cópia {k}: {table} ({time.perf_counter() - started:.1f} s)")
        for table in size:
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM "
                              f"{table}))"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def multiply(url: str, factor: int, log=print) -> None:
    """Make the data at ``url`` ``factor`` times bigger (``BENCH_SCALE=10 make bench`` uses it too)."""
    from sqlalchemy import make_url

    if make_url(url).get_backend_name() == "sqlite":
        multiply_sqlite(Path(make_url(url).database), factor, log)
    else:
        multiply_postgres(url, factor, log)


def _columns(conn, table: str):
    from sqlalchemy import inspect

    return inspect(conn).get_columns(table)


def counts(url: str) -> dict:
    engine = create_engine(url)
    with engine.connect() as conn:
        found = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                 for t in ("meeting", "debtor", "debt", "negotiation", "negativation")}
    engine.dispose()
    return found


def reuse(url: str) -> dict:
    """The data already in ``url`` (``BENCH_SCALE_REUSE=1``: measure again without generating)."""
    engine = create_engine(url)
    with engine.connect() as conn:
        agencies = []
        for (agency_id,) in conn.execute(text("SELECT id FROM agency ORDER BY id")):
            users = conn.execute(text("SELECT email, role FROM \"user\" WHERE agency_id = :a ORDER BY id"),
                                 {"a": agency_id}).all()
            agencies.append({"id": agency_id, "admin": next(e for e, r in users if r == "admin"),
                             "consultants": [e for e, r in users if r != "admin"]})
    engine.dispose()
    return {"agencies": agencies, "counts": counts(url), "seconds": None}


def prepare_sqlite(scale: float, log=print) -> dict:
    """The SQLite file of ``scale``: reused, generated row by row (the base) or the base copied and multiplied."""
    path, url = sqlite_path(scale), sqlite_url(scale)
    if os.environ.get("BENCH_SCALE_REUSE") == "1" and path.exists():
        return reuse(url)
    from bench.datagen import Sizes, generate

    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if scale <= BASE:
        info = generate(url, Sizes().scaled(scale), log=log)
        how = "linha a linha (`bench/datagen.py`)"
    else:
        base = sqlite_path(BASE)
        if not base.exists():
            prepare_sqlite(BASE, log)
        info = reuse(sqlite_url(BASE))
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        shutil.copyfile(base, path)
        multiply_sqlite(path, round(scale / BASE), log)
        how = f"cópia do {BASE:g}× multiplicada por SQL"
    info["counts"] = counts(url)
    info["seconds"] = time.perf_counter() - started
    info["how"] = how
    log(f"  {path.name}: {info['counts']} — {how} em {info['seconds']:.0f} s")
    return info


def migrate(url: str, log=print) -> dict:
    """``flask db upgrade`` on existing data (timed); a create_all() database is adopted first (see the module)."""
    from alembic.migration import MigrationContext
    from flask_migrate import stamp, upgrade
    from sqlalchemy import inspect

    from app import create_app
    from models import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    directory = str(ROOT / "migrations")
    adopted = []
    with app.app_context():
        tables = set(inspect(db.engine).get_table_names())
        if "alembic_version" not in tables and "meeting" in tables:
            db.create_all()  # only the missing tables
            inspector = inspect(db.engine)
            with db.engine.begin() as conn:
                for table in db.metadata.sorted_tables:
                    have = {c["name"] for c in inspector.get_columns(table.name)}
                    for column in table.columns:
                        if column.name not in have and column.nullable and column.server_default is None:
                            kind = column.type.compile(dialect=conn.dialect)
                            conn.execute(text(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}'))
                            adopted.append(f"{table.name}.{column.name}")
            adopted += sorted(set(inspect(db.engine).get_table_names()) - tables)
            stamp(directory=directory, revision=ADOPT_REVISION)
        with db.engine.connect() as conn:
            before = MigrationContext.configure(conn).get_current_revision()
        started = time.perf_counter()
        upgrade(directory=directory)
        seconds = time.perf_counter() - started
        with db.engine.connect() as conn:
            after = MigrationContext.configure(conn).get_current_revision()
        db.engine.dispose()
    result = {"from": before, "to": after, "seconds": seconds, "adopted": adopted}
    log(f"  migração {before} → {after}: {seconds:.1f} s" + (f" (adotado: {', '.join(adopted)})" if adopted else ""))
    return result


# --------------------------------------------------------------------------------------------- lists


#: The deepest page a list shows (``MAX_LIST_OFFSET`` rows skipped; pages count from 0 in the URL).
DEEP_PAGE, DEEP_INDEX = "página mais funda (500)", 499


def list_variants(app, screen: str, terms: dict) -> list[tuple[str, str]]:
    """Every list operation of a screen: (label, query string)."""
    from requests.utils import quote

    from bench.run import FILTERS, filter_arg, find_view

    view = find_view(app, screen)
    # Page 500 is past the end of a consultant's negotiations and negativations at 1× (under 5.000 rows: an empty
    # page at 1×, 20 rows at 10×): "a última página do 1×" is the deepest page with rows at 1× for each role
    # (page=LAST, resolved per role), the same rows skipped at both scales.
    variants = [("1ª página", ""), ("última página do 1×", "page=LAST"), (DEEP_PAGE, f"page={DEEP_INDEX}")]
    for index, (column, label) in enumerate(view._list_columns):
        if column in view._sortable_columns:
            variants.append((f"ordem: {label}", f"sort={index}"))
            variants.append((f"ordem: {label} (desc)", f"sort={index}&desc=1"))
    for term in terms[screen] if isinstance(terms[screen], list) else [terms[screen]]:
        variants.append((f"busca: {term['kind']}", "search=" + quote(term["term"])))
    variants.append(("busca sem resultado", "search=zzzqqq"))
    column, value = FILTERS[screen]
    variants.append((f"filtro {column} = {value}", filter_arg(view, column, value)))
    return variants


def fixed_terms(app) -> dict:
    """Search terms from the 1× rows (present at every scale): a contract, a CPF, common words."""
    from sqlalchemy import func, select

    from models import Debt, Debtor, Negativation, db
    from models.documents import format_document

    with app.app_context():
        debtor = db.session.scalars(select(Debtor).join(Negativation, Negativation.debtor_id == Debtor.id)
                                    .where(Debtor.id < 1000).order_by(Debtor.id)).first()
        contract = db.session.scalar(select(Debt.contract_number).where(Debt.debtor_id == debtor.id).limit(1))
        # A contract from the middle of the 1× rows too: the generator numbers contracts from CT-00000001, so the
        # first ones are mostly zeros (trigrams in almost every row), which real portfolios' numbers are not.
        last = db.session.scalar(select(func.max(Debt.id)))
        middle = db.session.scalar(select(Debt.contract_number).where(Debt.id >= int(last * 0.7225))
                                   .order_by(Debt.id).limit(1))
        return {
            "meeting": {"term": "renegocia", "kind": "palavra comum (assunto)"},
            "debt": [{"term": contract, "kind": "nº de contrato"},
                     {"term": middle, "kind": "nº de contrato do meio da faixa"}],
            "debtor": [{"term": format_document(debtor.document), "kind": "CPF formatado"},
                       {"term": debtor.document, "kind": "CPF sem pontuação"}],
            "negotiation": [{"term": "barbosa", "kind": "sobrenome comum (devedor)"},
                            {"term": debtor.document, "kind": "CPF sem pontuação (devedor)"}],
            "negativation": {"term": debtor.document, "kind": "CPF"},
        }


def worker_main(url: str, agency_id: int, admin: str, consultant: str) -> None:
    """A data set's own process: answers ``["get", client, path]`` with the seconds the request took (measured here,
    so the pipe is not timed) and ``["variants"]`` with every list operation; one JSON line each."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything the app prints goes to stderr, not into the protocol
    from bench.run import SCREENS, login, panel_app

    app = panel_app(url)
    clients = {}
    for role, email in (("admin", admin), ("consultor", consultant)):
        clients[role] = app.test_client()
        login(clients[role], email)

    def baseline(kind: str):
        if kind not in clients:
            if kind == "fábrica":
                from bench.stock import create_stock_app

                clients[kind] = create_stock_app(url).test_client()
            else:
                from bench.handwritten import create_handwritten_app

                clients[kind] = create_handwritten_app(url, agency_id).test_client()
        return clients[kind]

    for line in sys.stdin:
        command = json.loads(line)
        try:
            if command[0] == "last":  # the last page with rows of a list for a role (its count, capped)
                _, role, screen = command
                found = re.search(r"Listar \(([\d.]+)", clients[role].get(f"/admin/{screen}/").text)
                rows = min(int(found.group(1).replace(".", "")), 10_000) if found else 0
                answer = max((rows - 1) // 20, 0)
            elif command[0] == "variants":
                terms = fixed_terms(app)
                answer = [[screen, label, query] for screen in SCREENS
                          for label, query in list_variants(app, screen, terms)]
            else:
                _, kind, path = command
                client = baseline(kind) if kind in ("fábrica", "à mão") else clients[kind]
                started, cpu = time.perf_counter(), time.process_time()
                response = client.get(path)
                answer = [time.perf_counter() - started, time.process_time() - cpu]
                if response.status_code != 200:
                    raise RuntimeError(f"{path}: {response.status_code}")
            out.write(json.dumps({"ok": answer}) + "\n")
        except Exception as error:  # noqa: BLE001 -- reported to the parent, which stops
            out.write(json.dumps({"error": f"{type(error).__name__}: {error}"}) + "\n")


class Worker:
    def __init__(self, url: str, info: dict):
        agency = info["agencies"][0]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.scale", "worker", url, str(agency["id"]), agency["admin"],
             agency["consultants"][0]], cwd=ROOT, env=dict(os.environ, APP_ENV="development"),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def ask(self, *command):
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"worker ended ({self.process.wait()})")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer["ok"]

    def close(self):
        self.process.stdin.close()
        self.process.wait(60)


def interleaved(calls: list, reps: int) -> list[tuple[float, float]]:
    """Warm each call once, then ``reps`` rounds alternating their order; the median (wall ms, CPU ms) of each call.

    The CPU time is the worker process's own (``time.process_time``; SQLite runs inside it): unlike the wall time it
    hardly moves with the machine's load, so it tells real growth from a busy machine (not PostgreSQL's server time).
    """
    for call in calls:
        call()
    times = [[] for _ in calls]
    for rep in range(reps):
        order = list(range(len(calls)))
        order = order[rep % len(order):] + order[:rep % len(order)]
        for i in order:
            times[i].append(calls[i]())
    return [(statistics.median(w for w, _ in t) * 1000, statistics.median(c for _, c in t) * 1000) for t in times]


def bench_lists(workers: dict, reps: int, log=print) -> dict:
    """Every list operation, as admin and consultant, on every scale of ``workers`` ({scale: Worker}), interleaved."""
    scales = sorted(workers)
    variants = workers[scales[0]].ask("variants")
    rows, cpu, loads, lasts, paths = {}, {}, [], {}, {}

    def measured(role, path, times):
        return interleaved([lambda w=workers[s]: w.ask("get", role, path) for s in scales], times)

    for screen, label, query in variants:
        path = f"/admin/{screen}/" + (f"?{query}" if query else "")
        for role in ("admin", "consultor"):
            loads.append(load()[0])
            if (screen, role) not in lasts:
                lasts[(screen, role)] = workers[scales[0]].ask("last", role, screen)
            here = paths[(screen, label, role)] = path.replace("page=LAST", f"page={lasts[(screen, role)]}")
            medians = measured(role, here, reps)
            rows[(screen, label, role)] = {s: m[0] for s, m in zip(scales, medians, strict=True)}
            cpu[(screen, label, role)] = {s: m[1] for s, m in zip(scales, medians, strict=True)}
        log(f"  {screen:13s} {label:40s} " + "  ".join(
            f"{r} " + " → ".join(f"{rows[(screen, label, r)][s]:7.1f}" for s in scales)
            for r in ("admin", "consultor")))
    confirm = {}
    low, high = scales[0], scales[-1]
    for key, times in rows.items():
        screen, label, role = key
        past_end = label == DEEP_PAGE and lasts.get((screen, role), DEEP_INDEX) < DEEP_INDEX
        if high == low or past_end or max(times[high] / times[low], cpu[key][high] / cpu[key][low]) <= RATIO_TARGET:
            continue
        medians = measured(role, paths[key], CONFIRM_REPS)
        confirm[key] = {s: m for s, m in zip(scales, medians, strict=True)}
        log(f"  repetida ({CONFIRM_REPS}×): {screen} / {label} / {role}: "
            + " → ".join(f"{confirm[key][s][0]:.1f}" for s in scales))
    return {"scales": scales, "rows": rows, "cpu": cpu, "loads": loads, "last": lasts, "confirm": confirm,
            "confirm_reps": CONFIRM_REPS}


def bench_first_pages(workers: dict, reps: int, log=print) -> dict:
    """Our first page (admin) next to stock Flask-Admin and the hand-written page, at every scale, interleaved."""
    from bench.run import SCREENS

    scales = sorted(workers)
    kinds = {"nosso": ("admin", "/admin/{}/"), "fábrica": ("fábrica", "/stock/{}/"), "à mão": ("à mão", "/hand/{}/")}
    rows, cpu, loads = {}, {}, []
    for screen in SCREENS:
        loads.append(load()[0])
        keys = [(s, k) for s in scales for k in kinds]
        calls = [lambda w=workers[s], k=k, n=screen: w.ask("get", kinds[k][0], kinds[k][1].format(n))
                 for s, k in keys]
        medians = interleaved(calls, reps)
        rows[screen] = {key: m[0] for key, m in zip(keys, medians, strict=True)}
        cpu[screen] = {key: m[1] for key, m in zip(keys, medians, strict=True)}
        log(f"  {screen:13s} " + "  ".join(f"{k} {s:g}× {v:7.1f}" for (s, k), v in rows[screen].items()))
    return {"scales": scales, "rows": rows, "cpu": cpu, "loads": loads}


# --------------------------------------------------------------------------------------------- export


def export_child(url: str, email: str) -> None:
    """Run in a child process: the admin's export of every debt, as it happens (JSON on stdout).

    *The click*: ``GET /admin/debt/export/csv/`` counts at most ``EXPORT_JOB_THRESHOLD`` + 1 rows and, above it,
    answers the confirmation page (timed). *The job*: what the job's consumer runs (``export_to_file``, the same
    rows, scope and cells as the download), written into a sink that counts bytes: the first byte's time, the
    total, rows, and the process's peak RSS (``ru_maxrss``) before and after.
    """
    from admin_views.export import export_to_file
    from bench.run import login, panel_app
    from models import User, db

    app = panel_app(url)
    with app.app_context():
        user_id = db.session.execute(db.select(User.id).where(User.email == email)).scalar_one()

    class Sink:
        size = 0
        first = None  # the first byte: the BOM and the titles, written before the rows are asked for
        first_rows = None  # the first chunk of rows (about STREAM_CHUNK bytes: the first batches read)

        def write(self, chunk: bytes) -> None:
            if self.first is None:
                self.first = time.perf_counter() - started
            elif self.first_rows is None:
                self.first_rows = time.perf_counter() - started
            self.size += len(chunk)

    sink, stats = Sink(), {}
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    export_to_file(app, "debt", "", user_id, sink, stats=stats)
    total = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    client = app.test_client()  # after the job: checking the password would weigh on the job's memory figure
    login(client, email)
    started = time.perf_counter()
    click = client.get("/admin/debt/export/csv/")
    click_s = time.perf_counter() - started
    confirm = click.status_code == 200 and 'id="export-confirm"' in click.text
    print(json.dumps({"status": click.status_code, "click_s": click_s, "confirm": confirm, "rows": stats["rows"],
                      "bytes": sink.size, "first_byte_s": sink.first,
                      "first_rows_s": sink.first_rows, "seconds": total, "peak_mb": peak / 1024,
                      "before_mb": base / 1024}))


def bench_export(url: str, info: dict, log=print) -> dict:
    env = dict(os.environ, APP_ENV="development")
    done = subprocess.run([sys.executable, "-m", "bench.scale", "export", url, info["agencies"][0]["admin"]],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        return {"error": done.stderr[-2000:]}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    log(f"  exportação: {result}")
    return result


# --------------------------------------------------------------------------------------------- report


def _fmt(ms: float) -> str:
    return f"{ms:.1f}"


def _seconds(value: float | None) -> str:
    """Seconds to the report's precision ("–": a run from before the figure was measured)."""
    return "–" if value is None else f"{value:.2f}"


def _bold(value: float, limit: float) -> str:
    return f"**{value:.2f}**" if value > limit else f"{value:.2f}"


def _section_load(runs: dict, database: str, section: str) -> str:
    before, after = runs["meta"].get((database, section), ((), ()))
    loads = runs[section][database].get("loads") or [0]
    code = runs["meta"].get((database, section, "code"))
    reps = runs["meta"].get((database, section, "reps"))
    return ((f"Código medido: {code}. " if code else "")
            + (f"Mediana de {reps} repetições. " if reps else "")
            + f"Load average (1/5/15 min) antes {fmt_load(before)}, depois {fmt_load(after)}; 1 min ao longo da "
            + f"seção: {min(loads):.1f} a {max(loads):.1f}, mediana {statistics.median(loads):.1f}".replace(".", ","))


def report(runs: dict) -> str:
    """runs: {"data": {(db, scale): info}, "lists": {db: …}, "first": {db: …}, "export": {(db, scale): …},
    "meta": {"code": …, (db, section): (load before, load after)}}"""
    lines = [MARK_BEGIN, "", "## 6. Escala: listas e exportações de 1× a 10× (SQLite e PostgreSQL)", "",
             f"Gerado por `bench/scale.py` em {datetime.now(UTC):%Y-%m-%d %H:%M} UTC ({os.cpu_count()} núcleos"
             "; a carga da máquina está em cada seção). Mediana de "
             f"{REPS} repetições (ou as que a seção diz) após 1 de aquecimento, em ms, **intercaladas**: cada conjunto "
             "de dados é servido por "
             "um processo próprio e, para cada operação, as requisições alternam entre 1× e 10× (e, na tabela da "
             "1ª página, entre a nossa, a de fábrica e a escrita à mão), de modo que a carga da máquina pesa igual "
             "nos dois lados da razão. 1× = 100 mil reuniões, 200 mil devedores, 300 mil dívidas, 50 mil "
             "negociações e 50 mil negativações; 10× = 1 milhão, 2 milhões, 3 milhões, 500 mil e 500 mil.", ""]
    for (database, scale), info in sorted(runs["data"].items()):
        count = ", ".join(f"{v:,} {k}".replace(",", ".") for k, v in info["counts"].items())
        made = (f"gerado {info.get('how', '')} em {info['seconds']:.0f} s" if info.get("seconds") is not None
                else "dados já gerados (reaproveitados)")
        mig = info.get("migrate") or {}
        if mig:
            made += (f"; `flask db upgrade` {mig['from']} → {mig['to']} em {mig['seconds']:.1f} s"
                     + (f" (banco de `create_all()` adotado: acrescentados {', '.join(mig['adopted'])})"
                        if mig.get("adopted") else ""))
        lines.append(f"- **{database} {scale:g}×**: {count}; {made}.")
    lines.append("")
    for database, run in sorted(runs.get("lists", {}).items()):
        scales, rows = run["scales"], run["rows"]
        low, high = scales[0], scales[-1]
        lines += [f"### Listas, {database}: " + " ↔ ".join(f"{s:g}×" for s in scales), "",
                  _section_load(runs, database, "lists") + ".", ""]
        cpu = run.get("cpu", {})
        if high > low:
            lines += [f"| tela | operação | admin {low:g}× | admin {high:g}× | razão | razão CPU | "
                      f"consultor {low:g}× | consultor {high:g}× | razão | razão CPU |",
                      "|---|---|---|---|---|---|---|---|---|---|"]
        else:
            lines += [f"| tela | operação | admin {low:g}× | consultor {low:g}× |", "|---|---|---|---|"]
        misses, cpu_misses, past_end, repeated = [], [], [], []
        confirm = run.get("confirm", {})
        for screen, label, role in rows:
            if role != "admin":
                continue
            cells = []
            for r in ("admin", "consultor"):
                x = rows[(screen, label, r)][low]
                if high == low:
                    cells.append(_fmt(x))
                    continue
                y = rows[(screen, label, r)][high]
                ratio = y / x if x else float("nan")
                c = cpu.get((screen, label, r), {})
                cpu_ratio = c[high] / c[low] if c.get(low) else float("nan")
                if label == DEEP_PAGE and run.get("last", {}).get((screen, r), DEEP_INDEX) < DEEP_INDEX:
                    # an empty page at 1×, 20 rows at 10×: not the same work (see "última página do 1×")
                    past_end.append(f"{screen} / {r} (última página a 1×: {run['last'][(screen, r)] + 1})")
                    cells += [_fmt(x), _fmt(y), f"({ratio:.2f}: passa do fim a {low:g}×)", f"({cpu_ratio:.2f})"]
                    continue
                shown = [_fmt(x), _fmt(y), _bold(ratio, RATIO_TARGET), _bold(cpu_ratio, RATIO_TARGET)]
                again = confirm.get((screen, label, r))
                if again is not None:  # measured again at once, with CONFIRM_REPS requests: that one counts
                    (x2, c_low), (y2, c_high) = again[low], again[high]
                    repeated.append(f"{screen} / {label} / {r}: {ratio:.2f}× (CPU {cpu_ratio:.2f}×) na tabela; "
                                    f"repetida, **{y2 / x2:.2f}×** ({_fmt(x2)} → {_fmt(y2)} ms; CPU "
                                    f"{c_high / c_low:.2f}×)")
                    shown[2:] = [f"{s} → {_bold(v, RATIO_TARGET)}" for s, v in zip(shown[2:],
                                                                                 (y2 / x2, c_high / c_low),
                                                                                 strict=True)]
                    x, y, ratio, c, cpu_ratio = x2, y2, y2 / x2, {low: c_low, high: c_high}, c_high / c_low
                if ratio > RATIO_TARGET:
                    misses.append(f"{screen} / {label} / {r}: **{ratio:.2f}×** ({_fmt(x)} → {_fmt(y)} ms; CPU "
                                  f"{cpu_ratio:.2f}×)")
                if cpu_ratio > RATIO_TARGET:
                    cpu_misses.append(f"{screen} / {label} / {r}: CPU **{cpu_ratio:.2f}×** ({_fmt(c[low])} → "
                                      f"{_fmt(c[high])} ms de CPU; tempo {ratio:.2f}×)")
                cells += shown
            lines.append(f"| {screen} | {label} | " + " | ".join(cells) + " |")
        lines.append("")
        if high > low:
            total = 2 * sum(1 for key in rows if key[2] == "admin") - len(past_end)
            lines.append(f"Meta ≤ {RATIO_TARGET}× de {low:g}× a {high:g}× (tempo de relógio): " + (
                f"**{len(misses)} de {total} operações acima**:" if misses else f"**passa** nas {total} operações."))
            lines += [""] + [f"- {m}" for m in misses] + [""]
            if repeated:
                again_reps = run.get("confirm_reps", CONFIRM_REPS)
                lines += [f"Acima de {RATIO_TARGET}× na tabela e medidas de novo logo em seguida, com {again_reps} "
                          "requisições alternadas (a tabela mostra as duas razões; a meta conta a repetida):",
                          ""] + [f"- {m}" for m in repeated] + [""]
            if past_end:
                lines += [f"Fora da conta, a {DEEP_PAGE} onde ela passa do fim a {low:g}× (uma página vazia a "
                          f"{low:g}×, 20 linhas a {high:g}×: trabalhos diferentes; a “última página do {low:g}×” "
                          "compara as mesmas linhas puladas): " + "; ".join(past_end) + ".", ""]
            if cpu:
                lines.append("Pelo tempo de CPU do processo (insensível à carga; o SQLite roda dentro dele): " + (
                    f"**{len(cpu_misses)} de {total} acima**:" if cpu_misses else f"**passa** nas {total}."))
                lines += [""] + [f"- {m}" for m in cpu_misses] + [""]
    for database, run in sorted(runs.get("first", {}).items()):
        lines += [f"### Primeira página contra a de fábrica e a escrita à mão ({database}, admin)", "",
                  _section_load(runs, database, "first") + ".", "",
                  "| tela | escala | nosso ms | fábrica ms | à mão ms | nosso / à mão (meta ≤ 4) "
                  "| nosso / fábrica (meta ≤ 0,3) | CPU: nosso / à mão | CPU: nosso / fábrica |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for screen, t in run["rows"].items():
            c = run.get("cpu", {}).get(screen, {})
            for scale in run["scales"]:
                ours, stock, hand = (t[(scale, k)] for k in ("nosso", "fábrica", "à mão"))
                cells = [f"{c[(scale, 'nosso')] / c[(scale, k)]:.2f}" if c.get((scale, k)) else "—"
                         for k in ("à mão", "fábrica")]
                lines.append(f"| {screen} | {scale:g}× | {_fmt(ours)} | {_fmt(stock)} | {_fmt(hand)} | "
                             f"{_bold(ours / hand, HAND_TARGET)} | {_bold(ours / stock, STOCK_TARGET)} | "
                             + " | ".join(cells) + " |")
        lines.append("")
    export_rows = sorted(runs.get("export", {}).items())
    if export_rows:
        lines += ["### Exportação CSV de todas as dívidas (admin)", "",
                  "Num processo próprio, como acontece: *o clique* (`GET /admin/debt/export/csv/`: conta no máximo "
                  "`EXPORT_JOB_THRESHOLD` + 1 linhas e responde a página de confirmação, porque passa do limite) e "
                  "*a tarefa* (`export_to_file`, o que o consumidor roda: as mesmas linhas, escopo e células do "
                  "download) escrevendo num destino que só conta bytes. *Antes* = memória máxima do processo com o "
                  "app carregado (a tarefa roda antes do clique, que confere a senha); *pico* = a máxima ao fim "
                  "da exportação (`ru_maxrss`). *Primeiro byte* = o BOM e os títulos, que saem antes de as linhas "
                  "serem pedidas ao banco; *primeiras linhas* = o primeiro bloco de linhas (~64 KB, o tempo de o "
                  "banco achar e ler as primeiras).", "",
                  "| banco | escala | clique s | confirmação | linhas | MB | primeiro byte s | primeiras linhas s | "
                  "total s | linhas/s | memória antes MB | pico MB | acréscimo MB |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for (database, scale), e in export_rows:
            if "error" in e:
                lines.append(f"| {database} | {scale:g}× | erro | | | | | | | | | | |")
                continue
            lines.append((f"| {database} | {scale:g}× | {e['click_s']:.2f} | {'sim' if e['confirm'] else 'não'} | "
                          f"{e['rows']:,} | {e['bytes'] / 1e6:.0f} | {e['first_byte_s']:.3f} | "
                          f"{_seconds(e.get('first_rows_s'))} | {e['seconds']:.0f} | "
                          f"{e['rows'] / e['seconds']:,.0f} | {e['before_mb']:.0f} | {e['peak_mb']:.0f} | "
                          f"{e['peak_mb'] - e['before_mb']:.0f} |").replace(",", "."))
        lines.append("")
    notes = os.environ.get("BENCH_SCALE_NOTES_FILE")
    if notes and Path(notes).exists():
        lines += ["### Notas e metas não atingidas", "", Path(notes).read_text(encoding="utf-8").strip(), ""]
    lines.append(MARK_END)
    return "\n".join(lines)


def write(section: str) -> None:
    current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
    if MARK_BEGIN in current:
        before, _, rest = current.partition(MARK_BEGIN)
        _, _, after = rest.partition(MARK_END)
        current = before + section + after
    else:
        current = current.rstrip() + "\n\n" + section + "\n"
    OUT.write_text(current, encoding="utf-8")


def empty_runs() -> dict:
    return {"data": {}, "lists": {}, "first": {}, "export": {}, "meta": {}}


def merge(runs: dict, other: dict) -> dict:
    for key, value in other.items():
        runs.setdefault(key, {}).update(value)
    return runs


def measure(database: str, sets: dict, runs: dict, sections: set, log=print) -> None:
    """Measure ``sets`` ({scale: (url, info)}) of one database, every section interleaved across the scales."""
    workers = {}
    try:
        for scale, (url, info) in sets.items():
            workers[scale] = Worker(url, info)
        for section, bench in (("lists", bench_lists), ("first", bench_first_pages)):
            if section not in sections:
                continue
            log(f"== {database}: {section} — load {fmt_load(load())}")
            before = load()
            reps = FIRST_REPS if section == "first" else REPS
            runs[section][database] = bench(workers, reps, log=log)
            runs["meta"][(database, section)] = (before, load())
            runs["meta"][(database, section, "code")] = runs["meta"].get("code", "?")
            runs["meta"][(database, section, "reps")] = reps
            save(runs)
    finally:
        for worker in workers.values():
            worker.close()
    if "export" in sections:
        for scale, (url, info) in sets.items():
            runs["export"][(database, scale)] = bench_export(url, info, log=log)
            save(runs)


def save(runs: dict) -> None:
    with open(PICKLE, "wb") as saved:  # to rewrite the report alone (``python -m bench.scale report …``)
        pickle.dump(runs, saved)
    try:
        write(report(runs))  # after each section: a partial report survives an interrupted run
    except Exception:  # noqa: BLE001 -- keep measuring; the pickle above has the numbers
        traceback.print_exc()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "export":
        export_child(sys.argv[2], sys.argv[3])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        worker_main(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "multiply":  # python -m bench.scale multiply URL 10: a copy, made bigger
        started = time.perf_counter()
        multiply(sys.argv[2], int(sys.argv[3]))
        print(f"{counts(sys.argv[2])} em {time.perf_counter() - started:.0f} s")
        return
    if len(sys.argv) > 1 and sys.argv[1] == "report":  # merge saved runs (e.g. SQLite and PostgreSQL run apart)
        runs = empty_runs()
        for path in sys.argv[2:]:
            with open(path, "rb") as saved:
                merge(runs, pickle.load(saved))  # noqa: S301 -- our own file
        write(report(runs))
        return
    log = print
    sections = set(os.environ.get("BENCH_SCALE_SECTIONS", "lists,first").split(","))
    PICKLE.parent.mkdir(parents=True, exist_ok=True)
    runs = empty_runs()
    runs["meta"]["code"] = os.environ.get("BENCH_CODE", "") or _git_head()
    if os.environ.get("BENCH_SQLITE", "1") == "1":
        sets = {}
        for scale in SCALES:
            log(f"== SQLite {scale:g}×: dados — load {fmt_load(load())}")
            info = prepare_sqlite(scale, log)
            info["migrate"] = migrate(sqlite_url(scale), log)
            runs["data"][("SQLite", scale)] = info
            sets[scale] = (sqlite_url(scale), info)
        save(runs)
        if os.environ.get("BENCH_SCALE_PREPARE_ONLY") != "1":
            measure("SQLite", sets, runs, sections, log)
    if PG_URLS:  # one database per scale, already made: measured side by side, interleaved, like SQLite's files
        sets = {}
        for scale, url in PG_URLS.items():
            assert "bench" in url.rsplit("/", 1)[-1], "BENCH_PG_URLS: use databases whose names contain 'bench'"
            log(f"== PostgreSQL {scale:g}×: dados — load {fmt_load(load())}")
            info = reuse(url)
            info["migrate"] = migrate(url, log)
            runs["data"][("PostgreSQL", scale)] = info
            sets[scale] = (url, info)
        save(runs)
        measure("PostgreSQL", sets, runs, sections, log)
    if PG_URL:
        assert "bench" in PG_URL.rsplit("/", 1)[-1], "BENCH_PG_URL: use a database whose name contains 'bench'"
        sets = {}
        for scale in PG_SCALES:  # one database: the PostgreSQL scales are measured one after the other
            log(f"== PostgreSQL {scale:g}×: dados — load {fmt_load(load())}")
            if os.environ.get("BENCH_SCALE_REUSE") == "1":
                info = reuse(PG_URL)
            else:
                from bench.datagen import Sizes, generate

                started = time.perf_counter()
                info = generate(PG_URL, Sizes().scaled(min(scale, BASE)), log=log)
                if scale > BASE:
                    multiply_postgres(PG_URL, round(scale / BASE), log)
                info.update(counts=counts(PG_URL), seconds=time.perf_counter() - started, how="linha a linha")
            info["migrate"] = migrate(PG_URL, log)
            runs["data"][("PostgreSQL", scale)] = info
            save(runs)
            if os.environ.get("BENCH_SCALE_PREPARE_ONLY") != "1":
                measure("PostgreSQL", {scale: (PG_URL, info)}, runs, sections, log)


def _git_head() -> str:
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h %s"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return f"`{head[:90]}`"


if __name__ == "__main__":
    main()
