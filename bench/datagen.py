"""Generate a large, realistic data set for the benchmarks, fast (SQLAlchemy Core executemany in batches).

Defaults: 2 agencies, 10 consultants, 100k meetings, 200k debtors, 300k debts, 50k negotiations and 50k
negativations with their events. ``BENCH_SCALE`` (or ``--scale``) multiplies the row counts.

    python -m bench.datagen --db instance/bench.db            # a fresh SQLite file
    DATABASE_URL=postgresql+psycopg://.../painel_bench python -m bench.datagen --db "$DATABASE_URL"

Everything is deterministic for a given seed. CPFs are valid (check digits computed arithmetically) and unique;
CNPJs too.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert, make_url, select, text
from werkzeug.security import generate_password_hash

from devtools.fakes import ADDRESSES
from devtools.fakes import FIRST_NAMES as FIRST
from devtools.fakes import LAST_NAMES as LAST
from devtools.soa_sandbox import DEFAULT_EMAIL as SANDBOX_EMAIL
from devtools.soa_sandbox import DEFAULT_PASSWORD as SANDBOX_PASSWORD
from models import (
    Agency,
    Creditor,
    Debt,
    Debtor,
    Meeting,
    Negativation,
    NegativationEvent,
    Negotiation,
    User,
    db,
)
from models.agency import Role, SoaEnvironment
from models.debt import negotiation_debt
from models.negativation import expiry_date
from models.timeutil import utcnow

BENCH_PASSWORD = "bench-senha-123"
BATCH = 5000

SUBJECTS = ["Renegociação da carteira", "Prestação de contas mensal", "Alinhamento de metas", "Acordo em lote",
            "Revisão de contratos", "Apresentação de resultados", "Campanha de recuperação", "Auditoria da carteira"]
PLACES = ["Sede do credor", "Escritório da assessoria", None, "Sala de reuniões 2"]


@dataclass
class Sizes:
    agencies: int = 2
    consultants: int = 10
    creditors: int = 100
    debtors: int = 200_000
    debts: int = 300_000
    negotiations: int = 50_000
    meetings: int = 100_000
    negativations: int = 50_000

    def scaled(self, scale: float) -> Sizes:
        big = ("debtors", "debts", "negotiations", "meetings", "negativations")
        values = asdict(self)
        for name in big:
            values[name] = max(200, int(values[name] * scale))
        values["negativations"] = min(values["negativations"], values["debts"] // 3)
        return Sizes(**values)


# --------------------------------------------------------------------------------------------- documents

def _check_digit(digits: list[int], first_weight: int) -> int:
    total = sum(d * w for d, w in zip(digits, range(first_weight, 1, -1), strict=False))
    rest = total % 11
    return 0 if rest < 2 else 11 - rest


def cpf(n: int) -> str:
    """Return the n-th valid CPF (unique for n < 800 million), digits only."""
    base = [int(c) for c in f"{100_000_000 + n:09d}"]
    base.append(_check_digit(base, 10))
    base.append(_check_digit(base, 11))
    return "".join(map(str, base))


def cnpj(n: int) -> str:
    """Return the n-th valid CNPJ (branch 0001), digits only."""
    base = [int(c) for c in f"{10_000_000 + n:08d}0001"]
    weights1 = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
    weights2 = [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
    for weights in (weights1, weights2):
        rest = sum(d * w for d, w in zip(base, weights, strict=True)) % 11
        base.append(0 if rest < 2 else 11 - rest)
    return "".join(map(str, base))


# ------------------------------------------------------------------------------------------------ writing

def _insert(conn, table, rows: list[dict]) -> None:
    for start in range(0, len(rows), BATCH):
        conn.execute(insert(table), rows[start:start + BATCH])


def _reset_schema(url: str) -> None:
    """Start from an empty schema: a new SQLite file, or dropped and recreated tables on PostgreSQL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database
        if path and path != ":memory:":
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(path + suffix).unlink(missing_ok=True)
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    else:
        name = parsed.database or ""
        with db.engine.connect() as conn:
            tables = conn.execute(text("select count(*) from information_schema.tables "
                                       "where table_schema = current_schema()")).scalar()
        if tables and "bench" not in name and os.environ.get("BENCH_PG_FORCE") != "1":
            raise SystemExit(f"Recusado: o banco PostgreSQL {name!r} não está vazio e o nome não contém 'bench'. "
                             "Use um banco só para o benchmark (ou BENCH_PG_FORCE=1).")
        db.drop_all()
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    # The schema the app migrates to (`flask db upgrade`), not create_all(): a data file made now can be upgraded by
    # a later migration (which then fills whatever it adds, e.g. a search index, once) and measured with that code.
    from flask_migrate import upgrade

    upgrade(directory=str(Path(__file__).resolve().parent.parent / "migrations"))


def generate(url: str, sizes: Sizes, seed: int = 7, log=print) -> dict:
    """Fill the database at ``url`` (schema recreated) and return what the runner needs to know."""
    from app import create_app

    started = time.perf_counter()
    rnd = random.Random(seed)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": {}})
    with app.app_context():
        _reset_schema(url)
        info = _fill(app, sizes, rnd, log)
        # SQLite: no ANALYZE, like a database made by `flask db upgrade` and filled by the app (nothing in the
        # product runs it). PostgreSQL: VACUUM ANALYZE, as autovacuum would do shortly after a bulk load.
        if db.engine.dialect.name != "sqlite":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for table in db.metadata.sorted_tables:  # rows went in with explicit ids: move the sequences on
                    if "id" in table.c and table.c.id.autoincrement is not False and table.c.id.primary_key:
                        conn.execute(text(f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "
                                          f"COALESCE((SELECT max(id) FROM \"{table.name}\"), 0) + 1, false)"))
                conn.execute(text("VACUUM ANALYZE"))
        db.engine.dispose()
    info["seconds"] = round(time.perf_counter() - started, 1)
    log(f"  dados gerados em {info['seconds']} s")
    return info


def _fill(app, sizes: Sizes, rnd: random.Random, log) -> dict:
    now = utcnow().replace(microsecond=0)
    today = now.date()
    password_hash = generate_password_hash(BENCH_PASSWORD)
    info: dict = {"agencies": [], "sizes": asdict(sizes)}

    # Agencies, users and creditors go through the ORM (a few rows; the SOA password must be encrypted).
    agencies, consultants_of, admins = [], {}, {}
    per_agency = max(1, sizes.consultants // sizes.agencies)
    for a in range(sizes.agencies):
        agency = Agency(name=f"Assessoria Bench {a + 1}", cnpj=cnpj(900 + a),
                        contact_email=f"contato{a + 1}@bench.com.br",
                        meetings_enabled=True, serasa_enabled=True, soa_email=SANDBOX_EMAIL,
                        soa_environment=SoaEnvironment.SANDBOX)
        agency.set_soa_password(SANDBOX_PASSWORD, app.config["CREDENTIALS_KEY"])
        db.session.add(agency)
        db.session.flush()
        admin = User(agency=agency, name=f"Admin Bench {a + 1}", email=f"admin{a + 1}@bench.com.br",
                     role=Role.ADMIN, active=True, password_hash=password_hash)
        db.session.add(admin)
        team = []
        for k in range(per_agency):
            n = a * per_agency + k + 1
            user = User(agency=agency, name=f"Consultor Bench {n:02d}", email=f"consultor{n:02d}@bench.com.br",
                        role=Role.CONSULTANT, active=True, password_hash=password_hash)
            db.session.add(user)
            team.append(user)
        db.session.flush()
        agencies.append(agency)
        admins[agency.id] = admin.id
        consultants_of[agency.id] = [u.id for u in team]
        info["agencies"].append({"id": agency.id, "admin": admin.email, "consultants": [u.email for u in team]})
    db.session.commit()
    agency_ids = [a.id for a in agencies]

    with db.engine.begin() as conn:
        creditors_of: dict[int, list[int]] = {a: [] for a in agency_ids}
        rows = []
        for i in range(sizes.creditors):
            agency_id = agency_ids[i % len(agency_ids)]
            rows.append({"id": i + 1, "agency_id": agency_id, "name": f"Credor {i + 1:03d} {rnd.choice(LAST)} S.A.",
                         "cnpj": cnpj(i + 1), "contact_name": f"{rnd.choice(FIRST)} {rnd.choice(LAST)}",
                         "contact_email": f"cobranca{i + 1}@credor{i + 1}.com.br", "phone": "1130001000",
                         "created_at": now})
            creditors_of[agency_id].append(i + 1)
        _insert(conn, Creditor.__table__, rows)

        # Debtors: half per agency, each in a consultant's portfolio.
        t = time.perf_counter()
        debtor_agency, debtor_consultant, debtor_doc = [], [], []
        rows = []
        for i in range(sizes.debtors):
            agency_id = agency_ids[i % len(agency_ids)]
            consultant = rnd.choice(consultants_of[agency_id])
            street, hood, city, uf, cep = rnd.choice(ADDRESSES)
            doc = cpf(i * 7 + 13)
            debtor_agency.append(agency_id)
            debtor_consultant.append(consultant)
            debtor_doc.append(doc)
            rows.append({"id": i + 1, "agency_id": agency_id, "document": doc,
                         "name": f"{rnd.choice(FIRST)} {rnd.choice(LAST)} {rnd.choice(LAST)}",
                         "birth_date": date(1950 + rnd.randrange(50), 1 + rnd.randrange(12), 1 + rnd.randrange(28)),
                         "email": f"devedor{i + 1}@email.com.br", "phone": f"11{rnd.randrange(10**8, 10**9)}",
                         "street": street, "number": str(rnd.randrange(1, 3000)), "complement": None,
                         "neighbourhood": hood, "city": city, "uf": uf, "cep": cep, "consultant_id": consultant,
                         "created_at": now - timedelta(days=rnd.randrange(2000))})
        _insert(conn, Debtor.__table__, rows)
        log(f"  {sizes.debtors} devedores ({time.perf_counter() - t:.1f} s)")

        # Debts: every debtor owes at least one when there are enough debts; the rest at random.
        t = time.perf_counter()
        statuses = ["aberta"] * 70 + ["em_acordo"] * 10 + ["paga"] * 15 + ["cancelada"] * 5
        debt_rows = []
        for i in range(sizes.debts):
            d = i if i < sizes.debtors else rnd.randrange(sizes.debtors)
            agency_id = debtor_agency[d]
            status = rnd.choice(statuses)
            due = today - timedelta(days=rnd.randrange(-90, 4 * 365))
            debt_rows.append({"id": i + 1, "agency_id": agency_id, "debtor_id": d + 1,
                              "consultant_id": debtor_consultant[d],
                              "creditor_id": rnd.choice(creditors_of[agency_id]), "contract_number": f"CT-{i + 1:08d}",
                              "amount": Decimal(rnd.randrange(5000, 2_000_000)) / 100, "due_date": due,
                              "status": status,
                              "paid_at": (datetime.combine(due, datetime.min.time()) + timedelta(days=30)
                                          if status == "paga" else None),
                              "created_at": now - timedelta(days=rnd.randrange(2000))})
        _insert(conn, Debt.__table__, debt_rows)
        log(f"  {sizes.debts} dívidas ({time.perf_counter() - t:.1f} s)")

        # Negotiations over one debt each.
        t = time.perf_counter()
        neg_statuses = ["aberta", "proposta", "acordo", "quitada", "quebrada", "cancelada"]
        picked = rnd.sample(range(sizes.debts), sizes.negotiations)
        rows, links = [], []
        for n, i in enumerate(picked):
            debt = debt_rows[i]
            status = rnd.choice(neg_statuses)
            rows.append({"id": n + 1, "agency_id": debt["agency_id"], "debtor_id": debt["debtor_id"],
                         "creditor_id": debt["creditor_id"], "consultant_id": debtor_consultant[debt["debtor_id"] - 1],
                         "status": status,
                         "agreed_amount": debt["amount"] if status in ("acordo", "quitada") else None,
                         "installments": rnd.choice([None, 1, 3, 6, 12]), "notes": None,
                         "created_at": now - timedelta(minutes=rnd.randrange(3 * 365 * 24 * 60))})
            links.append({"negotiation_id": n + 1, "debt_id": debt["id"]})
        _insert(conn, Negotiation.__table__, rows)
        _insert(conn, negotiation_debt, links)
        log(f"  {sizes.negotiations} negociações ({time.perf_counter() - t:.1f} s)")

        # Meetings: ~7 years back and 6 months ahead, every day has some (the clock shows a realistic day).
        t = time.perf_counter()
        span_minutes = int(7.5 * 365 * 24 * 60)
        start_from = now - timedelta(days=7 * 365)
        rows = []
        for i in range(sizes.meetings):
            agency_id = agency_ids[i % len(agency_ids)]
            team = consultants_of[agency_id]
            owner = admins[agency_id] if rnd.random() < 0.1 else rnd.choice(team)
            starts = start_from + timedelta(minutes=rnd.randrange(span_minutes))
            starts = starts.replace(second=0)
            past = starts < now
            status = (rnd.choice(["realizada"] * 8 + ["cancelada"] * 2) if past
                      else rnd.choice(["agendada"] * 9 + ["cancelada"]))
            invited = past or rnd.random() < 0.5
            rows.append({"id": i + 1, "agency_id": agency_id, "creditor_id": rnd.choice(creditors_of[agency_id]),
                         "owner_id": owner, "subject": f"{rnd.choice(SUBJECTS)} nº {i + 1}",
                         "starts_at": starts, "ends_at": starts + timedelta(minutes=rnd.choice([30, 60, 90])),
                         "place": rnd.choice(PLACES), "video_link": None, "agenda": "Pauta da reunião.",
                         "participants": f"participante{i % 97}@credor.com.br", "notes": None,
                         "productive": (rnd.random() < 0.7) if status == "realizada" else None,
                         "status": status, "uid": f"bench-{i + 1}@painel-cobranca", "sequence": 0,
                         "invite_sent_at": starts - timedelta(days=3) if invited else None,
                         "sent_sequence": 0 if invited else None, "cancel_sent_at": None,
                         "reminders_count": 0, "last_reminder_at": None,
                         "created_at": starts - timedelta(days=7), "updated_at": starts - timedelta(days=7)})
        _insert(conn, Meeting.__table__, rows)
        log(f"  {sizes.meetings} reuniões ({time.perf_counter() - t:.1f} s)")

        # Negativations of open, overdue debts (at most one open record per debt), with their history.
        t = time.perf_counter()
        eligible = [d for d in debt_rows if d["status"] == "aberta" and d["due_date"] < today - timedelta(days=10)]
        rnd.shuffle(eligible)
        chosen, spare = eligible[:sizes.negativations], eligible[sizes.negativations:]
        neg_status = (["ativa"] * 60 + ["enviada"] * 10 + ["excluida"] * 15 + ["rejeitada"] * 5
                      + ["baixa_solicitada"] * 5 + ["erro"] * 3 + ["incerta"] * 2)
        rows, events = [], []
        event_id = 0
        for n, debt in enumerate(chosen):
            status = rnd.choice(neg_status)
            created = now - timedelta(minutes=rnd.randrange(3 * 365 * 24 * 60))
            sent = status not in ("erro", "incerta", "rejeitada")
            rows.append({"id": n + 1, "agency_id": debt["agency_id"], "debt_id": debt["id"],
                         "debtor_id": debt["debtor_id"], "creditor_id": debt["creditor_id"],
                         "consultant_id": debt["consultant_id"],
                         "document": debtor_doc[debt["debtor_id"] - 1], "contract_number": debt["contract_number"],
                         "amount": debt["amount"], "due_date": debt["due_date"], "status": status,
                         "unique_id": f"BENCH{n + 1:010d}" if sent else None, "restriction_code": "1",
                         "soa_code": "G000M001" if sent else None, "soa_message": None,
                         "expires_on": expiry_date(debt["due_date"]), "paid_on": None,
                         "removal_deadline": (created + timedelta(days=40)).date()
                         if status in ("baixa_solicitada", "excluida") else None,
                         "exclusion_motive": "pagamento" if status in ("baixa_solicitada", "excluida") else None,
                         "exclusion_code": None, "exclusion_note": None, "exclusion_error": None,
                         "exclusion_requested_at": None, "excluded_at": None,
                         "sent_at": created + timedelta(seconds=2) if sent else None, "last_checked_at": None,
                         "created_by_id": admins[debt["agency_id"]], "created_at": created, "updated_at": created})
            path = {"ativa": ["pendente", "enviada", "ativa"], "enviada": ["pendente", "enviada"],
                    "excluida": ["pendente", "enviada", "ativa", "baixa_solicitada", "excluida"],
                    "rejeitada": ["pendente", "rejeitada"],
                    "baixa_solicitada": ["pendente", "enviada", "ativa", "baixa_solicitada"],
                    "erro": ["pendente", "erro"], "incerta": ["pendente", "incerta"]}[status]
            previous = None
            for step, state in enumerate(path):
                event_id += 1
                events.append({"id": event_id, "negativation_id": n + 1, "created_at": created + timedelta(hours=step),
                               "actor_id": admins[debt["agency_id"]], "from_status": previous, "to_status": state,
                               "soa_code": None, "message": "Evento gerado pelo benchmark."})
                previous = state
        _insert(conn, Negativation.__table__, rows)
        _insert(conn, NegativationEvent.__table__, events)
        log(f"  {len(rows)} negativações e {len(events)} eventos ({time.perf_counter() - t:.1f} s)")

    negotiated = {link["debt_id"] for link in links}
    info["spare_debts"] = [d["id"] for d in spare if d["id"] not in negotiated]
    info["negativation_events"] = len(events)
    info["sample"] = {
        "debtor_document": debtor_doc[len(debtor_doc) // 2],
        "contract": debt_rows[len(debt_rows) // 2]["contract_number"],
    }
    info["counts"] = {t.name: db.session.execute(select(db.func.count()).select_from(t)).scalar()
                      for t in (Meeting.__table__, Debtor.__table__, Debt.__table__, Negotiation.__table__,
                                Negativation.__table__, NegativationEvent.__table__)}
    return info


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Gera dados para o benchmark.")
    parser.add_argument("--db", default="sqlite:///" + str(Path("instance/bench.db").resolve()))
    parser.add_argument("--scale", type=float, default=float(os.environ.get("BENCH_SCALE", "1")))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    info = generate(args.db, Sizes().scaled(args.scale), seed=args.seed)
    print(info["counts"])


if __name__ == "__main__":
    main()
