"""Lists and exports at 1× and N× data, on SQLite and PostgreSQL (``make bench-scale``; section of bench/RESULTS.md).

    BENCH_SCALES=1,10 python -m bench.scale                 # SQLite files in instance/
    BENCH_PG_URL=postgresql+psycopg://…/painel_bench python -m bench.scale   # PostgreSQL too (its name has "bench")

The 1× data set is bench/datagen.py's (row by row, realistic); N× multiplies it with set-based SQL
(``INSERT … SELECT`` of every big table, ids and foreign keys shifted, unique texts suffixed), which takes minutes
instead of the hour a row-by-row 10× would need on a small machine. Every list operation a user can trigger —
first page, the deepest page the list offers, each sortable column, the search, a filter — is timed as admin and
as consultant (median of ``BENCH_SCALE_REPS``); the first pages also against stock Flask-Admin and a hand-written
Flask + Jinja page of the same rows; the debts CSV export is streamed in a child process that reports its peak
memory (``ru_maxrss``) and its first byte.
"""

from __future__ import annotations

import json
import os
import pickle
import resource
import statistics
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
SCALES = [float(s) for s in os.environ.get("BENCH_SCALES", "1,10").split(",")]
REPS = int(os.environ.get("BENCH_SCALE_REPS", "7"))
#: The scale generated row by row; bigger scales are copies of it (``BENCH_SCALE_BASE=0.1`` on a busy machine).
BASE = float(os.environ.get("BENCH_SCALE_BASE", "1"))
PG_URL = os.environ.get("BENCH_PG_URL", "")
PG_SCALES = [float(s) for s in os.environ.get("BENCH_PG_SCALES", "1").split(",")]
OUT = Path(os.environ.get("BENCH_OUT", ROOT / "bench" / "RESULTS.md"))
PICKLE = Path(os.environ.get("BENCH_SCALE_PICKLE", ROOT / "instance" / "bench_scale_runs.pickle"))
MARK_BEGIN = "<!-- scale:begin (bench/scale.py) -->"
MARK_END = "<!-- scale:end -->"
RATIO_TARGET = 1.5
HAND_TARGET = 4.0
STOCK_TARGET = 0.3
EXPORT_MB_TARGET = 150
FIRST_BYTE_TARGET = 1.0

# --------------------------------------------------------------------------------------------- data


def sqlite_url(scale: float) -> str:
    return "sqlite:///" + str((ROOT / "instance" / f"bench_scale_{scale:g}.db").resolve())


#: Big tables, in insertion order: (table, {column: SQL expression of the copy k}).
def _copies(dialect: str) -> list[tuple[str, dict[str, str]]]:
    def pad(expr: str, width: int) -> str:
        if dialect == "postgresql":
            return f"lpad(({expr})::text, {width}, '0')"
        return f"substr('{'0' * width}' || ({expr}), -{width})"

    def suffix(column: str) -> str:
        return f"{column} || '-' || :k" if dialect != "postgresql" else f"{column} || '-' || CAST(:k AS text)"

    return [
        ("debtor", {"id": "id + :k * :debtor", "document": pad("id + :k * :debtor", 11)}),
        ("debt", {"id": "id + :k * :debt", "debtor_id": "debtor_id + :k * :debtor",
                  "contract_number": suffix("contract_number")}),
        ("negotiation", {"id": "id + :k * :negotiation", "debtor_id": "debtor_id + :k * :debtor"}),
        ("negotiation_debt", {"negotiation_id": "negotiation_id + :k * :negotiation",
                              "debt_id": "debt_id + :k * :debt"}),
        ("meeting", {"id": "id + :k * :meeting", "uid": suffix("uid")}),
        ("negativation", {"id": "id + :k * :negativation", "debt_id": "debt_id + :k * :debt",
                          "debtor_id": "debtor_id + :k * :debtor", "document": pad("id + :k * :debtor", 11),
                          "unique_id": suffix("unique_id")}),
        ("negativation_event", {"id": "id + :k * :negativation_event",
                                "negativation_id": "negativation_id + :k * :negativation"}),
    ]


def multiply(url: str, factor: int, log=print) -> None:
    """Make the 1× data set ``factor`` times bigger with one INSERT … SELECT per table and copy."""
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = {t: [c["name"] for c in _columns(conn, t)] for t, _ in _copies(conn.dialect.name)}
        size = {t: conn.execute(text(f"SELECT max(id) FROM {t}")).scalar() or 0
                for t in tables if t != "negotiation_debt"}
        for k in range(1, factor):
            for table, changed in _copies(conn.dialect.name):
                started = time.perf_counter()
                columns = tables[table]
                select = ", ".join(changed.get(c, c) for c in columns)
                where = f" WHERE id <= {size[table]}" if table in size else \
                    f" WHERE negotiation_id <= {size['negotiation']}"
                conn.execute(text(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {select} FROM {table}{where}"),
                             {"k": k, **size})
                log(f"    cópia {k}: {table} ({time.perf_counter() - started:.1f} s)")
        if conn.dialect.name == "postgresql":
            for table in size:
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM "
                                  f"{table}))"))
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def _columns(conn, table: str):
    from sqlalchemy import inspect

    return inspect(conn).get_columns(table)


def build(url: str, scale: float, log=print) -> dict:
    from bench.datagen import Sizes, generate

    started = time.perf_counter()
    base = min(scale, BASE)
    info = generate(url, Sizes().scaled(base), log=log)
    if scale > base:
        multiply(url, round(scale / base), log=log)
    engine = create_engine(url)
    with engine.connect() as conn:
        info["counts"] = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                          for t in ("meeting", "debtor", "debt", "negotiation", "negativation")}
    engine.dispose()
    info["seconds"] = time.perf_counter() - started
    return info


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
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                  for t in ("meeting", "debtor", "debt", "negotiation", "negativation")}
    engine.dispose()
    return {"agencies": agencies, "counts": counts, "seconds": float("nan")}


# --------------------------------------------------------------------------------------------- lists


def list_variants(app, screen: str, terms: dict) -> list[tuple[str, str]]:
    """Every list operation of a screen: (label, query string)."""
    from requests.utils import quote

    from bench.run import FILTERS, filter_arg, find_view

    view = find_view(app, screen)
    variants = [("1ª página", ""), ("página mais funda (500)", "page=499")]
    for index, (column, label) in enumerate(view._list_columns):
        if column in view._sortable_columns:
            variants.append((f"ordem: {label}", f"sort={index}"))
            variants.append((f"ordem: {label} (desc)", f"sort={index}&desc=1"))
    variants.append((f"busca: {terms[screen]['kind']}", "search=" + quote(terms[screen]["term"])))
    variants.append(("busca sem resultado", "search=zzzqqq"))
    column, value = FILTERS[screen]
    variants.append((f"filtro {column} = {value}", filter_arg(view, column, value)))
    return variants


def fixed_terms(app) -> dict:
    """Search terms from the 1× rows (present at every scale): a contract, a CPF, common words."""
    from sqlalchemy import select

    from models import Debt, Debtor, Negativation, db
    from models.documents import format_document

    with app.app_context():
        debtor = db.session.scalars(select(Debtor).join(Negativation, Negativation.debtor_id == Debtor.id)
                                    .where(Debtor.id < 1000).order_by(Debtor.id)).first()
        contract = db.session.scalar(select(Debt.contract_number).where(Debt.debtor_id == debtor.id).limit(1))
        return {
            "meeting": {"term": "renegocia", "kind": "palavra comum (assunto)"},
            "debt": {"term": contract, "kind": "nº de contrato"},
            "debtor": {"term": format_document(debtor.document), "kind": "CPF formatado"},
            "negotiation": {"term": "barbosa", "kind": "sobrenome comum (devedor)"},
            "negativation": {"term": debtor.document, "kind": "CPF"},
        }


def time_get(client, url: str) -> float:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, (url, response.status_code)
    return elapsed


def median_ms(client, url: str, reps: int) -> float:
    time_get(client, url)
    return statistics.median(time_get(client, url) for _ in range(reps)) * 1000


def bench_lists(url: str, info: dict, reps: int, log=print) -> dict:
    from bench.run import SCREENS, login, panel_app

    agency = info["agencies"][0]
    app = panel_app(url)
    terms = fixed_terms(app)
    clients = {}
    for role, email in (("admin", agency["admin"]), ("consultor", agency["consultants"][0])):
        clients[role] = app.test_client()
        login(clients[role], email)
    results = {}
    for screen in SCREENS:
        for label, query in list_variants(app, screen, terms):
            path = f"/admin/{screen}/" + (f"?{query}" if query else "")
            for role, client in clients.items():
                results[(screen, label, role)] = median_ms(client, path, reps)
            log(f"  {screen:13s} {label:40s} " + "  ".join(f"{r} {results[(screen, label, r)]:7.1f} ms"
                                                           for r in clients))
    return results


# --------------------------------------------------------------------------------------------- first pages


def bench_first_pages(url: str, info: dict, reps: int, log=print) -> dict:
    """Our first page next to stock Flask-Admin and a hand-written Flask + Jinja page of the same rows."""
    from bench.handwritten import create_handwritten_app
    from bench.run import SCREENS, login, panel_app
    from bench.stock import create_stock_app

    app = panel_app(url)
    client = app.test_client()
    login(client, info["agencies"][0]["admin"])
    stock = create_stock_app(url).test_client()
    hand = create_handwritten_app(url, info["agencies"][0]["id"]).test_client()
    out = {}
    for screen in SCREENS:
        rounds = {"nosso": [], "fábrica": [], "à mão": []}
        for c, u in ((client, f"/admin/{screen}/"), (stock, f"/stock/{screen}/"), (hand, f"/hand/{screen}/")):
            time_get(c, u)
        for _ in range(reps):  # alternated, so the machine's load hits all three alike
            rounds["nosso"].append(time_get(client, f"/admin/{screen}/"))
            rounds["fábrica"].append(time_get(stock, f"/stock/{screen}/"))
            rounds["à mão"].append(time_get(hand, f"/hand/{screen}/"))
        out[screen] = {k: statistics.median(v) * 1000 for k, v in rounds.items()}
        log(f"  {screen:13s} " + "  ".join(f"{k} {v:7.1f} ms" for k, v in out[screen].items()))
    return out


# --------------------------------------------------------------------------------------------- export


def export_child(url: str, email: str) -> None:
    """Run in a child process: stream the admin's debts CSV and print what it cost (JSON)."""
    from bench.run import login, panel_app

    app = panel_app(url)
    client = app.test_client()
    login(client, email)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    response = client.get("/admin/debt/export/csv/", buffered=False)
    first = None
    size = lines = 0
    for chunk in response.response:
        if first is None:
            first = time.perf_counter() - started
        size += len(chunk)
        lines += chunk.count(b"\r\n")
    response.close()
    total = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"status": response.status_code, "rows": lines - 1, "bytes": size, "first_byte_s": first,
                      "seconds": total, "peak_mb": peak / 1024, "before_mb": base / 1024}))


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


def report(runs: dict) -> str:
    """runs: {(db, scale): {"info", "lists", "first", "export"}}"""
    lines = [MARK_BEGIN, "", "## 6. Escala: listas e exportações de 1× a 10× (SQLite e PostgreSQL)", "",
             f"Gerado por `bench/scale.py` em {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; mediana de {REPS} "
             "repetições após 1 de aquecimento, em ms. 1× = 100 mil reuniões, 200 mil devedores, 300 mil dívidas, "
             f"50 mil negociações e 50 mil negativações. O conjunto de {BASE:g}× é gerado linha a linha por "
             "`bench/datagen.py`; os maiores são ele copiado por SQL (`INSERT … SELECT`, ids deslocados, CPF das "
             "cópias = o id com zeros à esquerda). Cada linha abaixo diz a escala exata medida.", ""]
    for (database, scale), run in sorted(runs.items()):
        counts = run["info"]["counts"]
        lines.append(f"- **{database} {scale:g}×**: " + ", ".join(f"{v:,} {k}".replace(",", ".")
                                                                  for k, v in counts.items())
                     + (f"; gerado em {seconds:.0f} s." if (seconds := run["info"]["seconds"]) == seconds
                        else "; dados já gerados (reaproveitados)."))
    lines.append("")
    databases = sorted({d for d, _ in runs})
    for database in databases:
        scales = sorted(s for d, s in runs if d == database)
        if len(scales) < 1:
            continue
        low, high = scales[0], scales[-1]
        a, b = runs[(database, low)]["lists"], runs[(database, high)]["lists"]
        lines += [f"### Listas, {database}: {low:g}× → {high:g}×", "",
                  f"| tela | operação | admin {low:g}× | admin {high:g}× | razão | consultor {low:g}× | "
                  f"consultor {high:g}× | razão |", "|---|---|---|---|---|---|---|---|"]
        misses = []
        for (screen, label, role) in a:
            if role != "admin":
                continue
            cells = []
            for r in ("admin", "consultor"):
                x, y = a[(screen, label, r)], b.get((screen, label, r), float("nan"))
                if high == low:
                    cells += [_fmt(x), "—", "—"]
                    continue
                ratio = y / x if x else float("nan")
                bold = ratio > RATIO_TARGET
                if bold:
                    misses.append(f"{screen} / {label} / {r}: {ratio:.2f}× ({_fmt(x)} → {_fmt(y)} ms)")
                cells += [_fmt(x), _fmt(y), f"**{ratio:.2f}**" if bold else f"{ratio:.2f}"]
            lines.append(f"| {screen} | {label} | " + " | ".join(cells) + " |")
        lines.append("")
        if high > low:
            lines.append(f"Meta ≤ {RATIO_TARGET}× de {low:g}× a {high:g}×: "
                         + (f"**{len(misses)} operação(ões) acima**: " + "; ".join(misses) if misses
                            else "**passa** em todas as operações.") + "")
            lines.append("")
    for (database, scale), run in sorted(runs.items()):
        first = run.get("first")
        if not first:
            continue
        lines += [f"### Primeira página contra a de fábrica e a escrita à mão ({database} {scale:g}×, admin)", "",
                  "| tela | nosso ms | fábrica ms | à mão ms | nosso / à mão (meta ≤ 4) "
                  "| nosso / fábrica (meta ≤ 0,3) |",
                  "|---|---|---|---|---|---|"]
        for screen, t in first.items():
            hand, stock = t["nosso"] / t["à mão"], t["nosso"] / t["fábrica"]
            lines.append(f"| {screen} | {_fmt(t['nosso'])} | {_fmt(t['fábrica'])} | {_fmt(t['à mão'])} | "
                         + (f"**{hand:.2f}**" if hand > HAND_TARGET else f"{hand:.2f}") + " | "
                         + (f"**{stock:.2f}**" if stock > STOCK_TARGET else f"{stock:.2f}") + " |")
        lines.append("")
    export_rows = [(k, r["export"]) for k, r in sorted(runs.items()) if r.get("export")]
    if export_rows:
        lines += ["### Exportação CSV das dívidas (admin, em fluxo)", "",
                  "Num processo próprio: *antes* = memória máxima do processo depois de carregar o app e entrar; "
                  "*pico* = a máxima ao fim da exportação (`ru_maxrss`); a exportação custou a diferença.", "",
                  "| banco | escala | linhas | MB | primeiro byte s | total s | memória antes MB | pico MB | "
                  "acréscimo MB |", "|---|---|---|---|---|---|---|---|---|"]
        for (database, scale), e in export_rows:
            if "error" in e:
                lines.append(f"| {database} | {scale:g}× | erro | | | | | | |")
                continue
            lines.append(f"| {database} | {scale:g}× | {e['rows']:,} | {e['bytes'] / 1e6:.0f} | "
                         f"{e['first_byte_s']:.2f} | {e['seconds']:.0f} | {e['before_mb']:.0f} | {e['peak_mb']:.0f} | "
                         f"{e['peak_mb'] - e['before_mb']:.0f} |".replace(",", "."))
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


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "export":
        export_child(sys.argv[2], sys.argv[3])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "report":  # merge saved runs (e.g. SQLite and PostgreSQL run apart)
        runs = {}
        for path in sys.argv[2:]:
            with open(path, "rb") as saved:
                runs.update(pickle.load(saved))  # noqa: S301 -- our own file
        write(report(runs))
        return
    sections = set(os.environ.get("BENCH_SCALE_SECTIONS", "lists,first,export").split(","))
    targets = [("SQLite", s, sqlite_url(s)) for s in SCALES] if os.environ.get("BENCH_SQLITE", "1") == "1" else []
    if PG_URL:
        assert "bench" in PG_URL.rsplit("/", 1)[-1], "BENCH_PG_URL: use a database whose name contains 'bench'"
        targets += [("PostgreSQL", s, PG_URL) for s in PG_SCALES]
    runs = {}
    for database, scale, url in targets:
        print(f"== {database} {scale:g}×", flush=True)
        info = reuse(url) if os.environ.get("BENCH_SCALE_REUSE") == "1" else build(url, scale)
        print(f"  dados: {info['counts']} em {info['seconds']:.0f} s", flush=True)
        run = {"info": info}
        if "lists" in sections:
            run["lists"] = bench_lists(url, info, REPS)
        if "first" in sections and scale == 1:
            run["first"] = bench_first_pages(url, info, REPS * 3)
        if "export" in sections:
            run["export"] = bench_export(url, info)
        runs[(database, scale)] = run
        with open(PICKLE, "wb") as saved:  # to rewrite the report alone (``python -m bench.scale report …``)
            pickle.dump(runs, saved)
        try:
            write(report(runs))  # after each run: a partial report survives an interrupted one
        except Exception:  # noqa: BLE001 -- keep measuring; the pickle above has the numbers
            traceback.print_exc()


if __name__ == "__main__":
    main()
