"""Demo data: two agencies with users, creditors, debtors, debts, negotiations and meetings (idempotent)."""

import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from flask import current_app
from validate_docbr import CNPJ, CPF

from devtools.fakes import ADDRESSES, COMPANIES, FIRST_NAMES, LAST_NAMES
from devtools.soa_sandbox import DEFAULT_EMAIL as SANDBOX_EMAIL
from devtools.soa_sandbox import DEFAULT_PASSWORD as SANDBOX_PASSWORD
from devtools.soa_sandbox import REFUSED_DOCUMENTS
from models import Agency, Creditor, Debt, Debtor, Meeting, Negotiation, User, db
from models.agency import Role, SoaEnvironment
from models.debt import DebtStatus, NegotiationStatus
from models.meeting import MeetingStatus
from models.timeutil import local_today, to_utc, utcnow

DEMO_PASSWORD = "demo123"
#: A valid CPF that the SOA sandbox's "bureau" refuses.
REFUSED_BY_BUREAU = next(document for document in REFUSED_DOCUMENTS if len(document) == 11)

LOGINS = [
    ("Assessoria Demo", "admin@demo.com.br", "Administrador"),
    ("Assessoria Demo", "consultor@demo.com.br", "Consultor"),
    ("Assessoria Demo", "consultora2@demo.com.br", "Consultora"),
    ("Assessoria Demo", "supervisora@demo.com.br", "Supervisora"),
    ("Outra Assessoria", "admin@outra.com.br", "Administrador"),
]

CREDITORS = [
    ("Banco Exemplo S.A.", "cobranca@bancoexemplo.com.br", "Marina Costa"),
    ("Loja de Móveis Conforto Ltda.", "financeiro@moveisconforto.com.br", "Paulo Mendes"),
    ("Escola Saber Mais", "secretaria@sabermais.edu.br", "Lúcia Ramos"),
    ("Telecom Fibra Rápida", "recuperacao@fibrarapida.com.br", "Sérgio Dias"),
]


def _agency(name: str, cnpj: str, email: str) -> Agency:
    agency = Agency(name=name, cnpj=cnpj, contact_email=email, meetings_enabled=True, serasa_enabled=True,
                    soa_email=SANDBOX_EMAIL, soa_environment=SoaEnvironment.SANDBOX)
    agency.set_soa_password(SANDBOX_PASSWORD, current_app.config["CREDENTIALS_KEY"])
    db.session.add(agency)
    return agency


def _user(agency: Agency, name: str, email: str, role: Role) -> User:
    user = User(agency=agency, name=name, email=email, role=role, active=True)
    user.set_password(DEMO_PASSWORD)
    db.session.add(user)
    return user


def _populate(agency: Agency, consultants: list[User], owner_admin: User, rng: random.Random, size: int) -> None:
    today = local_today(agency.timezone)
    creditors = []
    for name, email, contact in CREDITORS:
        creditor = Creditor(agency=agency, name=name, cnpj=CNPJ().generate(), contact_email=email,
                            contact_name=contact, phone=f"(11) 3{rng.randint(100, 999)}-{rng.randint(1000, 9999)}")
        db.session.add(creditor)
        creditors.append(creditor)
    for i in range(size):
        company = i % 9 == 8
        name = (COMPANIES[i % len(COMPANIES)] + " Ltda." if company
                else f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}")
        street, hood, city, uf, cep = ADDRESSES[i % len(ADDRESSES)]
        debtor = Debtor(agency=agency, document=CNPJ().generate() if company else CPF().generate(), name=name,
                        birth_date=None if company else date(rng.randint(1950, 2000), rng.randint(1, 12),
                                                             rng.randint(1, 28)),
                        email=f"devedor{i + 1}@exemplo.com.br", phone=f"(11) 9{rng.randint(1000, 9999)}-"
                                                                       f"{rng.randint(1000, 9999)}",
                        street=street, number=str(rng.randint(1, 2500)), neighbourhood=hood, city=city, uf=uf,
                        cep=cep, consultant=consultants[i % len(consultants)])
        if i == 4:  # incomplete address: the bureau cannot mail the prior notice
            debtor.neighbourhood = None
        elif i == 6:  # a minor: never negativated
            debtor.birth_date = today.replace(year=today.year - 16)
        elif i == 10 and agency.name == "Assessoria Demo":
            debtor.document = REFUSED_BY_BUREAU  # the sandbox's bureau refuses this CPF: shows "Rejeitada"
        db.session.add(debtor)
        debts = []
        for j in range(rng.randint(1, 3)):
            kind = rng.random()
            if kind < 0.1:  # older than five years: can no longer be negativated
                due = today - timedelta(days=rng.randint(5 * 366, 7 * 365))
                status = DebtStatus.OPEN
            elif kind < 0.3:
                due, status = today - timedelta(days=rng.randint(30, 400)), DebtStatus.PAID
            elif kind < 0.85:
                due, status = today - timedelta(days=rng.randint(10, 900)), DebtStatus.OPEN
            else:
                due, status = today + timedelta(days=rng.randint(5, 90)), DebtStatus.OPEN
            debt = Debt(agency=agency, debtor=debtor, creditor=rng.choice(creditors),
                        contract_number=f"CT-{agency.id or 0}{i + 1:04d}-{j + 1}",
                        amount=Decimal(rng.randint(8000, 950000)) / 100, due_date=due, status=status,
                        paid_at=utcnow() - timedelta(days=rng.randint(1, 20)) if status == DebtStatus.PAID else None)
            db.session.add(debt)
            debts.append(debt)
        if i % 3 == 0:
            status = list(NegotiationStatus)[i % len(NegotiationStatus)]
            total = sum((d.amount for d in debts), Decimal(0))
            db.session.add(Negotiation(agency=agency, debtor=debtor, creditor=debts[0].creditor,
                                       consultant=debtor.consultant, status=status, debts=debts,
                                       agreed_amount=(total * Decimal("0.8")).quantize(Decimal("0.01"))
                                       if status in (NegotiationStatus.AGREEMENT, NegotiationStatus.SETTLED) else None,
                                       installments=rng.choice([1, 3, 6, 10])))
    # Meetings: today, past (some with notes) and upcoming, for every consultant (and the admin).
    tz = agency.timezone
    plan = [(0, time(10, 0)), (0, time(16, 30)), (0, time(22, 0)), (-7, time(9, 30)), (-3, time(14, 0)),
            (2, time(11, 0)), (9, time(15, 0))]
    subjects = ["Alinhamento da carteira", "Revisão de acordos", "Prestação de contas mensal",
                "Novas regras de negativação", "Meta do trimestre"]
    for owner in [*consultants, owner_admin]:
        for n, (offset, at) in enumerate(plan):
            if owner is owner_admin and offset != 0 and n % 2:
                continue
            start = to_utc(datetime.combine(today + timedelta(days=offset), at), tz)
            creditor = creditors[(n + owner.id) % len(creditors)]
            held = offset < 0
            db.session.add(Meeting(
                agency=agency, creditor=creditor, owner=owner, subject=subjects[n % len(subjects)],
                starts_at=start, ends_at=start + timedelta(hours=1),
                place="Sala de reuniões 2" if n % 2 else None,
                video_link=None if n % 2 else "https://meet.exemplo.com.br/reuniao-" + str(n),
                agenda="Pauta: carteira em atraso, acordos do mês, próximos passos.",
                participants=creditor.contact_email,
                status=MeetingStatus.HELD if held else MeetingStatus.SCHEDULED,
                notes="Credor aprovou a proposta de parcelamento em 6 vezes." if held and n % 2 else None,
                productive=(n % 2 == 1) if held else None,
            ))


def load_demo_data(size: int = 50, seed: int = 42) -> bool:
    """Create the two demo agencies unless they exist; return whether anything was created."""
    if db.session.query(User.id).filter(User.email == "admin@demo.com.br").first():
        return False
    rng = random.Random(seed)
    demo = _agency("Assessoria Demo", "11222333000181", "reunioes@demo.com.br")
    admin = _user(demo, "Alice Administradora", "admin@demo.com.br", Role.ADMIN)
    c1 = _user(demo, "Carlos Consultor", "consultor@demo.com.br", Role.CONSULTANT)
    c2 = _user(demo, "Beatriz Consultora", "consultora2@demo.com.br", Role.CONSULTANT)
    _user(demo, "Sofia Supervisora", "supervisora@demo.com.br", Role.SUPERVISOR)
    other = _agency("Outra Assessoria", "45723174000110", "contato@outra.com.br")
    other_admin = _user(other, "Otávio Administrador", "admin@outra.com.br", Role.ADMIN)
    other_consultant = _user(other, "Olga Consultora", "consultora@outra.com.br", Role.CONSULTANT)
    db.session.flush()
    _populate(demo, [c1, c2], admin, rng, size)
    _populate(other, [other_consultant], other_admin, rng, max(size // 5, 5))
    db.session.commit()
    return True
