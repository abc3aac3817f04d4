"""Plain factory functions for test data (each adds to the session and flushes)."""

import itertools
from datetime import date, timedelta
from decimal import Decimal

from validate_docbr import CNPJ, CPF
from werkzeug.security import generate_password_hash

from models import Agency, Creditor, Debt, Debtor, Meeting, Negotiation, User, db
from models.agency import Role
from models.debt import DebtStatus
from models.timeutil import utcnow

PASSWORD = "senha-segura-123"
_seq = itertools.count(1)
#: Production hashes are deliberately slow (scrypt); the test users get a cheap pbkdf2 hash.
_PASSWORD_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")  # cheap to check in tests


def make_agency(**overrides) -> Agency:
    n = next(_seq)
    agency = Agency(**{"name": f"Assessoria {n}", "cnpj": CNPJ().generate(), "contact_email": f"contato{n}@ag.com.br",
                       "meetings_enabled": True, "serasa_enabled": False} | overrides)
    db.session.add(agency)
    db.session.flush()
    return agency


def make_user(agency: Agency, role: str = Role.CONSULTANT, **overrides) -> User:
    n = next(_seq)
    user = User(**{"agency": agency, "name": f"Usuário {n}", "email": f"user{n}@ag.com.br", "role": role,
                   "active": True} | overrides)
    user.password_hash = _PASSWORD_HASH
    db.session.add(user)
    db.session.flush()
    return user


def make_creditor(agency: Agency, **overrides) -> Creditor:
    n = next(_seq)
    creditor = Creditor(**{"agency": agency, "name": f"Credor {n}", "cnpj": CNPJ().generate(),
                           "contact_email": f"credor{n}@credor.com.br"} | overrides)
    db.session.add(creditor)
    db.session.flush()
    return creditor


def make_debtor(agency: Agency, consultant: User | None = None, **overrides) -> Debtor:
    n = next(_seq)
    debtor = Debtor(**{"agency": agency, "document": CPF().generate(), "name": f"Devedor {n}",
                       "birth_date": date(1980, 5, 17), "street": "Rua Augusta", "number": str(n),
                       "neighbourhood": "Consolação", "city": "São Paulo", "uf": "SP", "cep": "01305000",
                       "consultant": consultant} | overrides)
    db.session.add(debtor)
    db.session.flush()
    return debtor


def make_debt(debtor: Debtor, creditor: Creditor, **overrides) -> Debt:
    n = next(_seq)
    debt = Debt(**{"agency_id": debtor.agency_id, "debtor": debtor, "creditor": creditor,
                   "contract_number": f"CT-{n:05d}", "amount": Decimal("1234.56"),
                   "due_date": date.today() - timedelta(days=60), "status": DebtStatus.OPEN} | overrides)
    db.session.add(debt)
    db.session.flush()
    return debt


def make_negotiation(debtor: Debtor, creditor: Creditor, **overrides) -> Negotiation:
    negotiation = Negotiation(**{"agency_id": debtor.agency_id, "debtor": debtor, "creditor": creditor,
                                 "consultant": debtor.consultant} | overrides)
    db.session.add(negotiation)
    db.session.flush()
    return negotiation


def make_meeting(owner: User, creditor: Creditor, **overrides) -> Meeting:
    start = overrides.pop("starts_at", utcnow().replace(second=0, microsecond=0) + timedelta(days=1))
    meeting = Meeting(**{"agency_id": owner.agency_id, "owner": owner, "creditor": creditor,
                         "subject": "Revisão da carteira", "starts_at": start,
                         "ends_at": start + timedelta(hours=1), "place": "Sala 1",
                         "participants": "participante@credor.com.br"} | overrides)
    db.session.add(meeting)
    db.session.flush()
    return meeting
